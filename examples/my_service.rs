//! The Go psrpc README's `MyService`, generated from
//! `proto/examples/my_service.proto` (names unchanged, so its channels are the
//! ones a Go service of that README uses), every RPC kind once.
//!
//! ```sh
//! cargo run --example my_service                                   # server and client, in-process bus
//! cargo run --example my_service -- --bus nats://127.0.0.1:4222 --role server --region eu-west
//! cargo run --example my_service -- --bus nats://127.0.0.1:4222 --role client --region eu-west [--follow]
//! ```
//! `--role server` serves and publishes each subscription every 200 ms (on
//! through broker outages) until SIGINT or SIGTERM, then drains and exits 0.
//! `--role client` calls every kind, receives from every subscription and
//! exits 0 only if all of it worked; with `--follow` it then prints every
//! `UpdateState` until SIGINT or SIGTERM. The roles live in
//! `psrpc_examples::my_service_app`.

use psrpc_examples::my_service_app::{run_both, run_client, run_server};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (stop, role, bus) = psrpc_examples::start().await?;
    let region = psrpc_examples::flag("--region").unwrap_or_else(|| "us-west".into());
    match role.as_str() {
        "server" => run_server(bus, &region, stop).await?,
        "client" => run_client(bus, &region, psrpc_examples::switch("--follow"), stop).await?,
        "both" => run_both(bus, &region, stop).await?,
        other => anyhow::bail!("unknown role {other:?}: use server, client or both"),
    }
    Ok(())
}
