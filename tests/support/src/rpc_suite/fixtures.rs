//! Messages, a service description and helpers shared by the suite.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use psrpc_core::info::{Delivery, MethodInfo, MethodKind, Selection};
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::stream::ServerStream;
use psrpc_core::{Error, Payload, Reply, RequestContext, RpcClient, RpcServer, SharedBus};

use crate::BusFactory;

/// A request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ping {
    /// Free text.
    #[prost(string, tag = "1")]
    pub text: String,
    /// How long the handler should take, in milliseconds.
    #[prost(uint32, tag = "2")]
    pub delay_ms: u32,
}

/// A response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Pong {
    /// The request's text.
    #[prost(string, tag = "1")]
    pub text: String,
    /// The server that answered.
    #[prost(string, tag = "2")]
    pub server: String,
}

impl prost::Name for Ping {
    const NAME: &'static str = "Ping";
    const PACKAGE: &'static str = "psrpc.test";
}

impl prost::Name for Pong {
    const NAME: &'static str = "Pong";
    const PACKAGE: &'static str = "psrpc.test";
}

pub(crate) const SERVICE: &str = "SuiteService";
pub(crate) static SINGLE: MethodInfo = MethodInfo::new("Single", MethodKind::Unary(Selection::Queue { topics: false }));
pub(crate) static AFFINITY: MethodInfo =
    MethodInfo::new("Affine", MethodKind::Unary(Selection::Affinity { topics: false }));
pub(crate) static MULTI: MethodInfo = MethodInfo::new("Everyone", MethodKind::Multi { topics: false });
pub(crate) static REGIONAL: MethodInfo =
    MethodInfo::new("Regional", MethodKind::Unary(Selection::Queue { topics: true }));
pub(crate) static SHARD: MethodInfo = MethodInfo::new("Shard", MethodKind::Unary(Selection::SingleServer));
pub(crate) static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));
pub(crate) static UPDATES: MethodInfo =
    MethodInfo::new("Updates", MethodKind::Subscription { delivery: Delivery::Queue, topics: false });
pub(crate) static BROADCAST: MethodInfo =
    MethodInfo::new("Broadcast", MethodKind::Subscription { delivery: Delivery::Every, topics: false });

/// A service name unique to one test, so tests sharing a broker never meet.
pub(crate) fn unique_service() -> String {
    crate::unique_name(SERVICE)
}

/// How long a test waits for an event that should come soon: a minute is no
/// timing bound (against real brokers timing belongs in benchmarks), it tells
/// a hang from a slow machine.
pub(crate) const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// How long the suite's clients wait for a claim ([`client_options`]).
pub(crate) const SELECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The suite's client options. The timeouts are long enough that a busy
/// machine never turns a call that should succeed into a timeout (a claim
/// round trip through a broker took more than 300 ms on a loaded 2-core
/// machine); a call that should fail waits them out, so tests of timeouts
/// set their own.
pub(crate) fn client_options() -> ClientOptions {
    ClientOptions::default().timeout(Duration::from_secs(10)).selection_timeout(SELECTION_TIMEOUT)
}

/// Request options with `timeout`.
pub(crate) fn within(timeout: Duration) -> RequestOptions {
    RequestOptions::default().timeout(timeout)
}

pub(crate) async fn client(factory: &dyn BusFactory, service: &str) -> RpcClient {
    client_on(factory.connect().await, service, client_options()).await
}

pub(crate) async fn client_on(bus: SharedBus, service: &str, options: ClientOptions) -> RpcClient {
    RpcClient::new(service.to_owned(), bus, options).await.expect("client")
}

pub(crate) async fn server(factory: &dyn BusFactory, service: &str) -> RpcServer {
    RpcServer::new(service.to_owned(), factory.connect().await, ServerOptions::default())
}

/// A service of the test's own ([`unique_service`]) and a server of it.
pub(crate) async fn own_server(factory: &dyn BusFactory) -> (String, RpcServer) {
    let svc = unique_service();
    let server = server(factory, &svc).await;
    (svc, server)
}

/// The echo handler: waits `delay_ms`, answers with the text and its server id.
pub async fn echo(ctx: RequestContext, ping: Ping) -> Result<Pong, Error> {
    if ping.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(u64::from(ping.delay_ms))).await;
    }
    Ok(Pong { text: ping.text, server: ctx.server_id().to_owned() })
}

/// Registers [`echo`] for `method` on `topics`, optionally with a fixed affinity.
pub(crate) async fn serve_echo(server: &RpcServer, method: &MethodInfo, topics: &[&str], affinity: Option<f32>) {
    let affinity =
        affinity.map(|a| Arc::new(move |_: &RequestContext, _: &Ping| a) as psrpc_core::server::AffinityFn<Ping>);
    server
        .register_unary(method, topics.iter().map(|t| (*t).to_owned()).collect::<Vec<String>>(), echo, affinity)
        .await
        .expect("register");
}

/// A service of the test's own: one server answering [`SINGLE`] with
/// [`echo`], and a client of it.
pub(crate) async fn echo_service(factory: &dyn BusFactory) -> (RpcServer, RpcClient) {
    let (svc, s) = own_server(factory).await;
    serve_echo(&s, &SINGLE, &[], None).await;
    (s, client(factory, &svc).await)
}

/// A single call of `method` (no topics) with [`ping`]`(text)` and the
/// default request options.
pub(crate) async fn call(client: &RpcClient, method: &MethodInfo, text: &str) -> Result<Reply<Pong>, Error> {
    client.request_single::<Ping, Pong>(method, vec![], &ping(text), RequestOptions::default()).await
}

/// A [`SINGLE`] call whose handler takes `delay_ms` (the request's text is
/// "slow").
pub(crate) async fn slow_single(
    client: &RpcClient,
    delay_ms: u32,
    options: RequestOptions,
) -> Result<Reply<Pong>, Error> {
    let slow = Ping { text: "slow".into(), delay_ms };
    client.request_single::<Ping, Pong>(&SINGLE, vec![], &slow, options).await
}

/// [`slow_single`] on a task of its own (with a clone of `client`).
pub(crate) fn spawn_slow_single(
    client: &RpcClient,
    delay_ms: u32,
    options: RequestOptions,
) -> tokio::task::JoinHandle<Result<Reply<Pong>, Error>> {
    let client = client.clone();
    tokio::spawn(async move { slow_single(&client, delay_ms, options).await })
}

/// Returns once `server` has a request in flight.
pub(crate) async fn until_in_flight(server: &RpcServer) {
    while server.in_flight() == 0 {
        tokio::task::yield_now().await;
    }
}

/// The echo stream handler: answers every `Ping` with a `Pong` of its text
/// until the client closes.
pub async fn echo_stream(mut stream: ServerStream<Pong, Ping>) -> Result<(), Error> {
    while let Some(p) = stream.recv().await? {
        stream.send(&Pong { text: p.text, server: String::new() }).await?;
    }
    Ok(())
}

/// Registers [`echo_stream`] for `CHAT`.
pub(crate) async fn serve_echo_stream(server: &RpcServer) {
    serve_chat(server, echo_stream).await;
}

/// Registers `handler` for [`SINGLE`] (no topics, no affinity).
pub(crate) async fn serve_single<Req, Resp, F>(
    server: &RpcServer,
    handler: impl Fn(RequestContext, Req) -> F + Send + Sync + 'static,
) where
    Req: Payload,
    Resp: Payload,
    F: Future<Output = Result<Resp, Error>> + Send + 'static,
{
    server.register_unary(&SINGLE, vec![], handler, None).await.expect("register");
}

/// Registers `handler` for [`CHAT`] (no topics, no affinity).
pub(crate) async fn serve_chat<In, Out, F>(
    server: &RpcServer,
    handler: impl Fn(ServerStream<Out, In>) -> F + Send + Sync + 'static,
) where
    In: Payload,
    Out: Payload,
    F: Future<Output = Result<(), Error>> + Send + 'static,
{
    server.register_stream(&CHAT, vec![], handler, None).await.expect("register");
}

/// Asserts that `failing` fails with `internal`, and that the server still
/// answers the next call.
pub(crate) async fn assert_internal_then_served(client: &RpcClient, failing: &Ping, options: RequestOptions) {
    let err = client.request_single::<Ping, Pong>(&SINGLE, vec![], failing, options).await.expect_err("fails");
    assert_eq!(err.code(), psrpc_core::ErrorCode::Internal);
    let reply = call(client, &SINGLE, "fine").await.expect("survived");
    assert_eq!(reply.message.text, "fine");
}

/// A request with `text` and no delay.
pub fn ping(text: &str) -> Ping {
    Ping { text: text.to_owned(), delay_ms: 0 }
}
