//! Shared plumbing of the runnable examples (see the `[[example]]` targets):
//! command-line flags, bus selection, stopping on SIGINT/SIGTERM, publishing
//! through broker outages, and the `my_service` example's roles.

use std::sync::Arc;

use psrpc::SharedBus;

mod lifecycle;
pub mod my_service_app;

pub use lifecycle::{RETRY_PAUSE, Signal, draining_signal, publish_every, shutdown_signal};

/// The value of `--name VALUE` on the command line, if given.
pub fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// Whether the bare switch `name` (e.g. `--follow`) is on the command line.
pub fn switch(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// The bus named by `--bus URL` (`nats://…`, `redis://…`, `local`), else the in-process bus.
pub async fn bus_from_args() -> anyhow::Result<SharedBus> {
    Ok(match flag("--bus").as_deref() {
        None | Some("local") => Arc::new(psrpc::local::LocalBus::new()),
        Some(url) if url.starts_with("nats://") => {
            Arc::new(psrpc::nats::NatsBus::connect(url, Default::default()).await?)
        }
        Some(url) if url.starts_with("redis") => {
            Arc::new(psrpc::redis::RedisBus::connect(url, Default::default()).await?)
        }
        Some(other) => anyhow::bail!("unknown bus {other:?}: use local, nats://HOST:PORT or redis://HOST:PORT"),
    })
}

/// How a long-running example starts: [`draining_signal`] installed first
/// (a signal during the set-up is not lost), then its `--role` (`server`,
/// `client` or `both`, the default) and the bus of `--bus`
/// ([`bus_from_args`]).
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// let (stop, role, bus) = psrpc_examples::start().await?;
/// println!("{role} on the bus");
/// stop.await; // prints "SIGTERM: draining"
/// # drop(bus); Ok(()) }
/// ```
pub async fn start() -> anyhow::Result<(impl std::future::Future<Output = ()> + Send + 'static, String, SharedBus)> {
    let stop = draining_signal()?;
    let role = flag("--role").unwrap_or_else(|| "both".into());
    Ok((stop, role, bus_from_args().await?))
}

/// Generated from `proto/examples/my_service.proto` by `build.rs` (psrpc-build).
#[allow(missing_docs, unreachable_pub, dead_code)]
pub mod my_service {
    include!(concat!(env!("OUT_DIR"), "/_.rs"));
}
