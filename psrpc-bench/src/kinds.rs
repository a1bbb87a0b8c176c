//! The framework side: one server setup and one call per RPC kind.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use psrpc::discovery::{Registry, RegistryOptions};
use psrpc::{
    ClientOptions, Delivery, Error, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer,
    Selection, SelectionOptions, ServerOptions, ServerStream, SharedBus, WireMode,
};
use tokio::sync::Mutex;

use crate::observe::Stack;
use crate::raw::RawCall;

/// The benchmark's payload message.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Blob {
    #[prost(bytes = "bytes", tag = "1")]
    pub(crate) data: bytes::Bytes,
}

impl prost::Name for Blob {
    const NAME: &'static str = "Blob";
    const PACKAGE: &'static str = "psrpc.bench";
}

/// The RPC kinds the harness measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// Queue method: request, claim, claim response, response (4 bus messages).
    Single,
    /// Single-server topic method: request and response only.
    SingleNoclaim,
    /// Affinity method; the client accepts a claim at maximum affinity at once.
    Affinity,
    /// Multi method to `--servers` servers, ending when all answered.
    Multi,
    /// One stream per caller; a call is a send (acked) plus the echoed reply.
    Stream,
    /// Publish to a subscription and receive it.
    Subscription,
}

static SINGLE: MethodInfo = MethodInfo::new("Single", MethodKind::Unary(Selection::Queue { topics: false }));
static NOCLAIM: MethodInfo = MethodInfo::new("NoClaim", MethodKind::Unary(Selection::SingleServer));
static AFFINITY: MethodInfo = MethodInfo::new("Affinity", MethodKind::Unary(Selection::Affinity { topics: false }));
static MULTI: MethodInfo = MethodInfo::new("Multi", MethodKind::Multi { topics: false });
static STREAM: MethodInfo = MethodInfo::new("Stream", MethodKind::Stream(Selection::Queue { topics: false }));
static FEED: MethodInfo = MethodInfo::new("Feed", MethodKind::Subscription { delivery: Delivery::Every, topics: true });
static BLOCKING: MethodInfo = MethodInfo::new("Blocking", MethodKind::Unary(Selection::Queue { topics: false }));

/// How long the blocking neighbour's handler holds its thread.
const BLOCK: Duration = Duration::from_millis(200);

const SERVICE: &str = "Bench";

async fn echo(_ctx: RequestContext, blob: Blob) -> Result<Blob, Error> {
    Ok(blob)
}

/// A badly behaved handler: blocks its thread before its first `.await`.
fn block_then_echo(ctx: RequestContext, blob: Blob) -> impl Future<Output = Result<Blob, Error>> {
    std::thread::sleep(BLOCK);
    echo(ctx, blob)
}

/// Calls the blocking method one call at a time until a call fails (the
/// servers were killed at the end of the round).
fn start_blocking_neighbour(client: RpcClient, blob: Blob) {
    tokio::spawn(async move {
        while client.request_single::<Blob, Blob>(&BLOCKING, vec![], &blob, RequestOptions::default()).await.is_ok() {}
    });
}

async fn echo_stream(mut stream: ServerStream<Blob, Blob>) -> Result<(), Error> {
    while let Some(blob) = stream.recv().await? {
        stream.send(&blob).await?;
    }
    Ok(())
}

/// Variations on a run's setup.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Variant {
    /// The servers also serve a method whose handler blocks its thread for
    /// 200 ms, called one call at a time throughout the run.
    pub(crate) blocking_neighbour: bool,
    /// The client is a local-first client (give it the first server's bus
    /// handle for its calls to run in process).
    pub(crate) local_first: bool,
    /// Servers and client use the native wire mode.
    pub(crate) native: bool,
    /// Servers skip the claim exchange where the caller allows it.
    pub(crate) skip_claim: bool,
    /// Topics every server registers (`single-noclaim`; the client calls the first).
    pub(crate) topics: usize,
}

/// A run's servers and the call to drive.
pub(crate) struct Setup {
    /// One call, by the caller numbered by its argument.
    pub(crate) call: RawCall,
    /// The servers, kept alive for the run.
    pub(crate) servers: Vec<RpcServer>,
    /// Wall time the servers took to create and register everything.
    pub(crate) register_time: Duration,
}

/// The topics a `single-noclaim` server registers: `t`, the one called, then `t1`, `t2`…
fn noclaim_topics(count: usize) -> impl Iterator<Item = String> {
    std::iter::once("t".to_owned()).chain((1..count).map(|i| format!("t{i}")))
}

impl Variant {
    /// The wire mode of servers and client.
    fn wire_mode(self) -> WireMode {
        if self.native { WireMode::Native } else { WireMode::GoCompatible }
    }
}

/// A registry on `bus` that knows the `servers` servers of the service.
async fn registry_of(bus: SharedBus, servers: usize) -> anyhow::Result<Registry> {
    let registry = Registry::new(bus, RegistryOptions::default()).await?;
    let mut events = registry.watch();
    while registry.instances(SERVICE).len() < servers {
        tokio::time::timeout(Duration::from_secs(30), events.recv()).await??;
    }
    Ok(registry)
}

/// Starts the servers of `kind` and returns the call to drive.
pub(crate) async fn setup(
    kind: Kind,
    variant: Variant,
    server_buses: Vec<SharedBus>,
    client_bus: SharedBus,
    payload: bytes::Bytes,
    concurrency: usize,
    stack: &Stack,
) -> anyhow::Result<Setup> {
    let capacity = (concurrency * 4).max(100);
    let mut servers = Vec::new();
    let registering = std::time::Instant::now();
    for bus in server_buses {
        let options = ServerOptions::default()
            .channel_capacity(capacity)
            .wire_mode(variant.wire_mode())
            .skip_claim(variant.skip_claim);
        let server = RpcServer::new(SERVICE, bus, stack.server(options));
        match kind {
            Kind::Single => server.register_unary(&SINGLE, vec![], echo, None).await?,
            Kind::SingleNoclaim => {
                for topic in noclaim_topics(variant.topics) {
                    server.register_unary(&NOCLAIM, vec![topic], echo, None).await?;
                }
            }
            Kind::Affinity => {
                let affinity: psrpc::AffinityFn<Blob> = Arc::new(|_, _| 1.0);
                server.register_unary(&AFFINITY, vec![], echo, Some(affinity)).await?;
            }
            Kind::Multi => server.register_unary(&MULTI, vec![], echo, None).await?,
            Kind::Stream => server.register_stream(&STREAM, vec![], echo_stream, None).await?,
            Kind::Subscription => {}
        }
        if variant.blocking_neighbour {
            server.register_unary(&BLOCKING, vec![], block_then_echo, None).await?;
        }
        servers.push(server);
    }
    let register_time = registering.elapsed();
    let expected = servers.len();
    let options = ClientOptions::default().channel_capacity(capacity).timeout(Duration::from_secs(10));
    let options = stack.client(options.local_first(variant.local_first).wire_mode(variant.wire_mode()));
    // Native affinity calls ask two candidates the registry knows of (sampled claims).
    let options = match (kind, variant.native) {
        (Kind::Affinity, true) => options.registry(registry_of(client_bus.clone(), expected).await?),
        _ => options,
    };
    let client = RpcClient::new(SERVICE, client_bus, options).await?;
    let blob = Blob { data: payload };
    if variant.blocking_neighbour {
        start_blocking_neighbour(client.clone(), blob.clone());
    }
    let call: RawCall = match kind {
        Kind::Single | Kind::SingleNoclaim | Kind::Affinity => {
            let (method, topics) = match kind {
                Kind::Single => (&SINGLE, vec![]),
                Kind::SingleNoclaim => (&NOCLAIM, vec!["t".to_owned()]),
                _ => (&AFFINITY, vec![]),
            };
            let options = if kind == Kind::Affinity {
                RequestOptions::default().selection(SelectionOptions::default().maximum_affinity(1.0))
            } else {
                RequestOptions::default()
            };
            Arc::new(move |_| {
                let (client, blob, topics, options) = (client.clone(), blob.clone(), topics.clone(), options.clone());
                Box::pin(async move {
                    client
                        .request_single::<Blob, Blob>(method, topics, &blob, options)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                })
            })
        }
        Kind::Multi => Arc::new(move |_| {
            let (client, blob) = (client.clone(), blob.clone());
            Box::pin(async move {
                let options = RequestOptions::default().expected_responses(expected);
                let responses = client
                    .request_multi::<Blob, Blob>(&MULTI, vec![], &blob, options)
                    .await
                    .map_err(|e| e.to_string())?;
                let answered = responses.collect_all().await.into_iter().filter(|r| r.result.is_ok()).count();
                if answered == expected { Ok(()) } else { Err(format!("{answered} of {expected} answered")) }
            })
        }),
        Kind::Stream => {
            let mut streams = Vec::new();
            for _ in 0..concurrency {
                let stream = client.open_stream::<Blob, Blob>(&STREAM, vec![], RequestOptions::default()).await?;
                streams.push(Arc::new(Mutex::new(stream)));
            }
            Arc::new(move |worker| {
                let (stream, blob) = (Arc::clone(&streams[worker]), blob.clone());
                Box::pin(async move {
                    let mut stream = stream.lock().await;
                    stream.send(&blob).await.map_err(|e| e.to_string())?;
                    match stream.recv().await {
                        Ok(Some(_)) => Ok(()),
                        Ok(None) => Err("stream closed".to_owned()),
                        Err(e) => Err(e.to_string()),
                    }
                })
            })
        }
        Kind::Subscription => {
            let publisher = servers.first().cloned().ok_or_else(|| anyhow::anyhow!("no server"))?;
            let mut subscriptions = Vec::new();
            for worker in 0..concurrency {
                let sub = client.subscribe::<Blob>(&FEED, vec![worker.to_string()]).await?;
                subscriptions.push(Arc::new(Mutex::new(sub)));
            }
            Arc::new(move |worker| {
                // The subscriptions end with the client: the call keeps it.
                let _client = &client;
                let (sub, blob, publisher) = (Arc::clone(&subscriptions[worker]), blob.clone(), publisher.clone());
                Box::pin(async move {
                    let mut sub = sub.lock().await;
                    publisher.publish(&FEED, vec![worker.to_string()], &blob).await.map_err(|e| e.to_string())?;
                    sub.next().await.map(drop).ok_or_else(|| "subscription ended".to_owned())
                })
            })
        }
    };
    Ok(Setup { call, servers, register_time })
}
