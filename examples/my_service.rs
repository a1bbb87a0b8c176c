//! The Go psrpc README's `MyService`, generated from
//! `proto/examples/my_service.proto` (names unchanged, so its channels are the
//! ones a Go service of that README uses), every RPC kind once.
//!
//! ```sh
//! cargo run --example my_service                                   # server and client, in-process bus
//! cargo run --example my_service -- --bus nats://127.0.0.1:4222 --role server --region eu-west
//! cargo run --example my_service -- --bus nats://127.0.0.1:4222 --role client --region eu-west
//! ```
//! `--role server` serves until interrupted (publishing each subscription
//! every 200 ms); `--role client` calls every kind, receives from every
//! subscription and exits 0 only if all of it worked.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use futures_util::StreamExt as _;
use psrpc::{ClientOptions, Error, RequestContext, RequestOptions, ServerOptions, ServerStream, SharedBus};
use psrpc_examples::my_service::{
    MyClientMessage, MyRequest, MyResponse, MyServerMessage, MyServiceClient, MyServiceServer, MyServiceServerImpl,
    MyUpdate,
};

/// One server of `MyService`, for one region.
struct Region(String);

impl MyServiceServerImpl for Region {
    async fn normal_rpc(&self, _ctx: RequestContext, req: MyRequest) -> Result<MyResponse, Error> {
        Ok(MyResponse { text: format!("{} handled in {}", req.text, self.0) })
    }

    async fn intensive_rpc(&self, ctx: RequestContext, req: MyRequest) -> Result<MyResponse, Error> {
        self.normal_rpc(ctx, req).await
    }

    fn intensive_rpc_affinity(&self, _ctx: &RequestContext, _req: &MyRequest) -> f32 {
        1.0
    }

    async fn get_stats(&self, ctx: RequestContext, _req: MyRequest) -> Result<MyResponse, Error> {
        Ok(MyResponse { text: format!("stats of {} ({})", self.0, ctx.server_id()) })
    }

    async fn exchange_updates(&self, mut stream: ServerStream<MyServerMessage, MyClientMessage>) -> Result<(), Error> {
        while stream.recv().await?.is_some() {
            stream.send(&MyServerMessage {}).await?;
        }
        Ok(())
    }

    async fn get_region_stats(&self, ctx: RequestContext, req: MyRequest) -> Result<MyResponse, Error> {
        self.get_stats(ctx, req).await
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let role = psrpc_examples::flag("--role").unwrap_or_else(|| "both".into());
    let region = psrpc_examples::flag("--region").unwrap_or_else(|| "us-west".into());
    let bus = psrpc_examples::bus_from_args().await?;
    match role.as_str() {
        "server" => {
            let _server = serve(bus, &region).await?;
            println!("MyService serving region {region}; Ctrl-C to stop");
            tokio::signal::ctrl_c().await?;
        }
        "client" => call_everything(bus, &region).await?,
        "both" => {
            let server = serve(bus.clone(), &region).await?;
            call_everything(bus, &region).await?;
            server.shutdown().await;
        }
        other => anyhow::bail!("unknown role {other:?}: use server, client or both"),
    }
    Ok(())
}

/// Starts a server for `region` and its publishers.
async fn serve(bus: SharedBus, region: &str) -> anyhow::Result<Arc<MyServiceServer<Region>>> {
    let server = Arc::new(MyServiceServer::new(Region(region.to_owned()), bus, ServerOptions::default()).await?);
    server.register_get_region_stats_topic(region).await?;
    let publisher = Arc::clone(&server);
    let region = region.to_owned();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        for seq in 0u64.. {
            tick.tick().await;
            let update = MyUpdate { text: format!("update {seq} from {region}") };
            let published = tokio::try_join!(
                publisher.publish_process_update(&update),
                publisher.publish_update_state(&update),
                publisher.publish_update_region_state(region.as_str(), &update),
            );
            if let Err(e) = published {
                eprintln!("publishing stopped: {e}");
                return;
            }
        }
    });
    Ok(server)
}

/// Calls every RPC kind once and receives from every subscription.
async fn call_everything(bus: SharedBus, region: &str) -> anyhow::Result<()> {
    let client = MyServiceClient::new(bus, ClientOptions::default()).await?;
    let ask = |text: &str| MyRequest { text: text.to_owned() };
    let within = Duration::from_secs(3);

    let reply = client.normal_rpc(&ask("hello"), RequestOptions::default()).await?;
    println!("NormalRPC         (single)        -> {}", reply.text);
    let reply = client.intensive_rpc(&ask("crunch"), RequestOptions::default()).await?;
    println!("IntensiveRPC      (affinity)      -> {}", reply.text);

    let options = RequestOptions::default().timeout(Duration::from_secs(1));
    let stats = client.get_stats(&ask("stats"), options.clone()).await?.collect_all().await;
    ensure!(!stats.is_empty(), "no server answered GetStats");
    println!("GetStats          (multi)         -> {} server(s) answered", stats.len());
    let mut regional_stats = client.get_region_stats(region, &ask("stats"), options.expected_responses(1)).await?;
    let answer = regional_stats.next().await.context("no answer from the region")?.result?;
    println!("GetRegionStats    (topic {region:8}) -> {}", answer.text);

    let mut stream = client.exchange_updates(RequestOptions::default()).await?;
    stream.send(&MyClientMessage {}).await?;
    stream.recv().await?.context("the stream closed early")?;
    stream.close(None).await?;
    println!("ExchangeUpdates   (stream)        -> sent one message, got one back, closed");

    // Subscribed after the queue RPCs: on NATS a queue subscription joins the
    // service's shared queue subject (the Go wire protocol), and would take
    // turns with the servers at receiving NormalRPC requests.
    let mut queue = client.subscribe_process_update().await?;
    let mut state = client.subscribe_update_state().await?;
    let mut regional = client.subscribe_update_region_state(region).await?;
    for (name, sub) in
        [("ProcessUpdate", &mut queue), ("UpdateState", &mut state), ("UpdateRegionState", &mut regional)]
    {
        let update =
            tokio::time::timeout(within, sub.recv()).await.ok().flatten().with_context(|| format!("no {name}"))?;
        println!("{name:<17} (subscription)  -> {}", update.text);
    }
    println!("every RPC kind succeeded");
    Ok(())
}
