//! Every RPC kind on the in-process bus, no broker needed:
//!
//! ```sh
//! cargo run --example quickstart
//! cargo run --example quickstart -- --bus nats://127.0.0.1:4222    # or redis://127.0.0.1:6379
//! ```
//!
//! Three servers of `MyService` (one per region, with different load) and a
//! client that calls each kind once and prints what happened. Exits non-zero
//! if any call fails.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use futures_util::StreamExt as _;
use psrpc::{
    ClientOptions, Delivery, Error, Method, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer,
    Selection, ServerOptions, ServerStream, SharedBus,
};

/// A request.
#[derive(Clone, PartialEq, prost::Message)]
struct MyRequest {
    #[prost(string, tag = "1")]
    text: String,
}

/// A response: who answered what.
#[derive(Clone, PartialEq, prost::Message)]
struct MyResponse {
    #[prost(string, tag = "1")]
    text: String,
    #[prost(string, tag = "2")]
    region: String,
}

/// A published update.
#[derive(Clone, PartialEq, prost::Message)]
struct MyUpdate {
    #[prost(uint32, tag = "1")]
    seq: u32,
}

impl prost::Name for MyUpdate {
    const NAME: &'static str = "MyUpdate";
    const PACKAGE: &'static str = "";
}

const SERVICE: &str = "MyService";
static NORMAL: Method<MyRequest, MyResponse> =
    Method::new("NormalRPC", MethodKind::Unary(Selection::Queue { topics: false }));
static INTENSIVE: Method<MyRequest, MyResponse> =
    Method::new("IntensiveRPC", MethodKind::Unary(Selection::Affinity { topics: false }));
static STATS: Method<MyRequest, MyResponse> = Method::new("GetStats", MethodKind::Multi { topics: false });
static REGION_STATS: Method<MyRequest, MyResponse> = Method::new("GetRegionStats", MethodKind::Multi { topics: true });
static EXCHANGE: Method<MyRequest, MyResponse> =
    Method::new("ExchangeUpdates", MethodKind::Stream(Selection::Queue { topics: false }));
static PROCESS: Method<MyUpdate, MyUpdate> =
    Method::new("ProcessUpdate", MethodKind::Subscription { delivery: Delivery::Queue, topics: false });
static STATE: Method<MyUpdate, MyUpdate> =
    Method::new("UpdateState", MethodKind::Subscription { delivery: Delivery::Every, topics: false });

const REGIONS: [(&str, f32); 3] = [("us-west", 0.3), ("us-east", 0.9), ("eu-central", 0.5)];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bus = psrpc_examples::bus_from_args().await?;
    let mut servers = Vec::new();
    for (region, idle) in REGIONS {
        servers.push(start_server(bus.clone(), region, idle).await?);
    }
    let client = RpcClient::new(SERVICE, bus, ClientOptions::default()).await?;

    let reply = client.request_single(&NORMAL, (), &ask("hello"), RequestOptions::default()).await?;
    println!(
        "single      NormalRPC      -> {:?} from {} ({})",
        reply.message.text, reply.message.region, reply.server_id
    );

    let reply = client.request_single(&INTENSIVE, (), &ask("crunch"), RequestOptions::default()).await?;
    println!("affinity    IntensiveRPC   -> the idlest server took it: {}", reply.message.region);
    ensure!(reply.message.region == "us-east", "affinity picked {}", reply.message.region);

    let expected = RequestOptions::default().expected_responses(REGIONS.len());
    let answers = client.request_multi(&STATS, (), &ask("stats"), expected).await?;
    let regions: Vec<String> =
        answers.collect_all().await.into_iter().map(|r| r.result.map(|m| m.region)).collect::<Result<_, _>>()?;
    println!("multi       GetStats       -> {} answers: {regions:?}", regions.len());
    ensure!(regions.len() == REGIONS.len(), "missing answers");

    let mut answers = client
        .request_multi(&REGION_STATS, "eu-central", &ask("stats"), RequestOptions::default().expected_responses(1))
        .await?;
    let answer = answers.next().await.context("no answer from eu-central")?;
    println!("topic       GetRegionStats -> only eu-central answered: {}", answer.result?.region);

    let mut stream = client.open_stream(&EXCHANGE, (), RequestOptions::default()).await?;
    for word in ["ping", "pong"] {
        stream.send(&ask(word)).await?;
        let echo = stream.recv().await?.context("stream ended early")?;
        println!("stream      ExchangeUpdates-> sent {word:?}, got {:?}", echo.text);
    }
    stream.close(None).await?;

    let mut queue = client.subscribe(&PROCESS, ()).await?;
    let mut broadcast = client.subscribe(&STATE, ()).await?;
    servers[0].publish(&PROCESS, (), &MyUpdate { seq: 1 }).await?;
    servers[1].publish(&STATE, (), &MyUpdate { seq: 2 }).await?;
    let within = Duration::from_secs(1);
    let queued = tokio::time::timeout(within, queue.recv()).await?.context("no queued update")?;
    let state = tokio::time::timeout(within, broadcast.recv()).await?.context("no state update")?;
    println!("subscription ProcessUpdate -> update #{} (one subscriber of the queue)", queued.seq);
    println!("subscription UpdateState   -> update #{} (every subscriber)", state.seq);

    client.close().await;
    for server in servers {
        server.shutdown().await;
    }
    println!("all RPC kinds succeeded");
    Ok(())
}

fn ask(text: &str) -> MyRequest {
    MyRequest { text: text.to_owned() }
}

/// A server for one region; `idle` is its affinity for intensive work.
async fn start_server(bus: SharedBus, region: &'static str, idle: f32) -> Result<RpcServer, Error> {
    let server = RpcServer::new(SERVICE, bus, ServerOptions::default());
    let answer = move |_ctx: RequestContext, req: MyRequest| async move {
        Ok(MyResponse { text: format!("{} handled", req.text), region: region.to_owned() })
    };
    server.register_unary(&NORMAL, (), answer, None).await?;
    let affinity: psrpc::AffinityFn<MyRequest> = Arc::new(move |_, _| idle);
    server.register_unary(&INTENSIVE, (), answer, Some(affinity)).await?;
    server.register_unary(&STATS, (), answer, None).await?;
    server.register_unary(&REGION_STATS, region, answer, None).await?;
    server.register_stream(&EXCHANGE, (), echo_stream, None).await?;
    Ok(server)
}

async fn echo_stream(mut stream: ServerStream<MyResponse, MyRequest>) -> Result<(), Error> {
    while let Some(req) = stream.recv().await? {
        stream.send(&MyResponse { text: format!("echo {}", req.text), region: String::new() }).await?;
    }
    Ok(())
}
