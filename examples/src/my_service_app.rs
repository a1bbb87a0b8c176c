//! The roles of the `my_service` example as functions a test can drive: each
//! runs until a stop future resolves and then drains.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use futures_util::StreamExt as _;
use psrpc::{ClientOptions, Error, RequestContext, RequestOptions, ServerOptions, ServerStream, SharedBus};

use crate::my_service::{
    MyClientMessage, MyRequest, MyResponse, MyServerMessage, MyServiceClient, MyServiceServer, MyServiceServerImpl,
    MyUpdate,
};

/// How often a server publishes each of its subscriptions.
pub const PUBLISH_PERIOD: Duration = Duration::from_millis(200);

/// One server of `MyService`, for one region.
#[derive(Debug)]
pub struct Region(pub String);

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

/// Starts a server for `region` (registered on its `GetRegionStats` topic).
pub async fn serve(bus: SharedBus, region: &str) -> anyhow::Result<MyServiceServer<Region>> {
    let server = MyServiceServer::new(Region(region.to_owned()), bus, ServerOptions::default()).await?;
    server.register_get_region_stats_topic(region).await?;
    Ok(server)
}

/// Publishes `ProcessUpdate`, `UpdateState` and `UpdateRegionState` (on the
/// `region` topic; the update's round in its text) every [`PUBLISH_PERIOD`] until `stop`
/// resolves, through any number of failed rounds ([`crate::publish_every`]).
pub async fn publish_updates(server: &MyServiceServer<Region>, region: &str, stop: impl Future<Output = ()>) {
    crate::publish_every(
        PUBLISH_PERIOD,
        |round| async move {
            let update = MyUpdate { text: format!("update {round} from {region}") };
            tokio::try_join!(
                server.publish_process_update(&update),
                server.publish_update_state(&update),
                server.publish_update_region_state(region, &update),
            )
            .map(drop)
        },
        stop,
    )
    .await;
}

/// The server role: serves `region` and publishes its updates until `stop`
/// resolves, then stops publishing and drains (`shutdown`: in-flight calls
/// finish, subscriptions end).
pub async fn run_server(bus: SharedBus, region: &str, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    let server = serve(bus, region).await?;
    println!("MyService serving region {region}; SIGINT or SIGTERM to stop");
    publish_updates(&server, region, stop).await;
    server.shutdown().await;
    println!("drained: server of {region} shut down");
    Ok(())
}

/// The client role: calls every RPC kind once and receives from every
/// subscription; then, if `follow`, prints each `UpdateState` until `stop`
/// resolves. Closes the client (pending calls end with `canceled`) either way.
pub async fn run_client(
    bus: SharedBus,
    region: &str,
    follow: bool,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let client = MyServiceClient::new(bus, ClientOptions::default()).await?;
    let outcome = async {
        call_everything(&client, region).await?;
        if follow {
            follow_updates(&client, stop).await?;
        }
        anyhow::Ok(())
    }
    .await;
    client.engine().close().await;
    println!("client closed");
    outcome
}

/// Both roles in one process: a server (publishing) and a client that calls
/// every kind once; then the client closes and the server drains. A `stop`
/// before the client is done ends both early, with an error.
pub async fn run_both(bus: SharedBus, region: &str, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    let server = serve(bus.clone(), region).await?;
    let client = MyServiceClient::new(bus, ClientOptions::default()).await?;
    let outcome = tokio::select! {
        outcome = call_everything(&client, region) => outcome,
        () = publish_updates(&server, region, stop) => Err(anyhow::anyhow!("stopped before every call was made")),
    };
    client.engine().close().await;
    server.shutdown().await;
    outcome
}

/// Calls every RPC kind once and receives from every subscription.
pub async fn call_everything(client: &MyServiceClient, region: &str) -> anyhow::Result<()> {
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

/// Prints every `UpdateState` until `stop` resolves. Broker outages are
/// invisible here: the bus resubscribes after reconnecting and the updates
/// resume. Fails if the subscription ends while the client is open.
pub async fn follow_updates(client: &MyServiceClient, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut state = client.subscribe_update_state().await?;
    println!("following UpdateState; SIGINT or SIGTERM to stop");
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            update = state.recv() => {
                let update = update.context("the UpdateState subscription ended")?;
                println!("UpdateState       (subscription)  -> {}", update.text);
            }
        }
    }
}
