//! The native wire mode: per-method queue channels, unary queue calls
//! without a claim, and loud failures where the two modes meet.

use std::sync::Arc;
use std::time::Duration;

use psrpc_core::discovery::DiscoveryOptions;
use psrpc_core::options::{ClientOptions, RequestOptions, SelectionOptions, ServerOptions};
use psrpc_core::wire_mode::WireMode;
use psrpc_core::{ErrorCode, RpcClient, RpcServer, SharedBus};

use super::fixtures::*;
use crate::BusFactory;
use crate::faulty::CuttableBus;

fn native_client_options() -> ClientOptions {
    client_options().wire_mode(WireMode::Native)
}

async fn server_in(bus: SharedBus, service: &str, mode: WireMode) -> RpcServer {
    // No discovery: its heartbeats would count as frames.
    let options = ServerOptions::default().wire_mode(mode).discovery(DiscoveryOptions::disabled());
    RpcServer::new(service.to_owned(), bus, options)
}

async fn native_server(factory: &dyn BusFactory, service: &str) -> RpcServer {
    server_in(factory.connect().await, service, WireMode::Native).await
}

async fn native_client(factory: &dyn BusFactory, service: &str) -> RpcClient {
    client_on(factory.connect().await, service, native_client_options()).await
}

/// Frames a client and a server publish for `calls` queue calls in `mode`.
async fn frames_per_call(factory: &dyn BusFactory, mode: WireMode, calls: usize) -> (usize, usize) {
    let svc = unique_service();
    let server_bus = CuttableBus::new(factory.connect().await);
    let s = server_in(Arc::clone(&server_bus) as SharedBus, &svc, mode).await;
    serve_echo(&s, &SINGLE, &[], None).await;
    let client_bus = CuttableBus::new(factory.connect().await);
    let client = client_on(Arc::clone(&client_bus) as SharedBus, &svc, client_options().wire_mode(mode)).await;
    for i in 0..calls {
        let reply = call(&client, &SINGLE, &i.to_string()).await.expect("reply");
        assert_eq!(reply.server_id, s.id());
    }
    (client_bus.published(), server_bus.published())
}

/// A native queue call is the request and the response: no claim request,
/// no claim response. The Go-compatible mode pays both.
pub async fn native_queue_calls_take_no_claim(factory: &dyn BusFactory) {
    const CALLS: usize = 10;
    assert_eq!(frames_per_call(factory, WireMode::Native, CALLS).await, (CALLS, CALLS), "request; response");
    assert_eq!(
        frames_per_call(factory, WireMode::GoCompatible, CALLS).await,
        (2 * CALLS, 2 * CALLS),
        "request and claim response; claim and response"
    );
}

/// Two native servers share a queue method; each request is handled once.
pub async fn native_queue_requests_reach_one_server_each(factory: &dyn BusFactory) {
    super::single::each_request_handled_once(factory, WireMode::Native).await;
}

/// A process that queue-subscribes to one method never takes requests of
/// another method of the service, and native subscriptions get what native
/// servers publish.
pub async fn native_queue_subscribers_take_only_their_own_method(factory: &dyn BusFactory) {
    let svc = unique_service();
    let s = native_server(factory, &svc).await;
    serve_echo(&s, &SINGLE, &[], None).await;
    let listener = native_client(factory, &svc).await;
    let mut updates = listener.subscribe::<Pong>(&UPDATES, vec![]).await.expect("subscribe");
    let caller = native_client(factory, &svc).await;
    for i in 0..40 {
        let reply = call(&caller, &SINGLE, &i.to_string()).await.expect("no request lost to the subscriber");
        assert_eq!(reply.message.text, i.to_string());
    }
    s.publish(&UPDATES, vec![], &Pong { text: "news".into(), server: String::new() }).await.expect("publish");
    let got = tokio::time::timeout(WAIT_LIMIT, updates.recv()).await.expect("in time").expect("message");
    assert_eq!(got.text, "news");
}

/// Mixed modes fail loudly: a Go-compatible caller of a native server gets
/// `failed_precondition` from the server; a native caller of a
/// Go-compatible server times out with a message naming the native mode.
pub async fn wire_mode_mismatch_is_reported(factory: &dyn BusFactory) {
    let svc = unique_service();
    let native = native_server(factory, &svc).await;
    serve_echo(&native, &SINGLE, &[], None).await;
    let go_compatible = client(factory, &svc).await;
    let err = call(&go_compatible, &SINGLE, "x").await.expect_err("mismatch");
    assert_eq!(err.code(), ErrorCode::FailedPrecondition, "{err}");
    assert!(err.message().contains("wire mode"), "{err}");

    let other = unique_service();
    let compatible_server = server(factory, &other).await;
    serve_echo(&compatible_server, &SINGLE, &[], None).await;
    let err = native_client(factory, &other)
        .await
        .request_single::<Ping, Pong>(&SINGLE, vec![], &ping("x"), within(Duration::from_millis(300)))
        .await
        .expect_err("no native server");
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded, "{err}");
    assert!(err.message().contains("native wire mode"), "{err}");
}

/// Affinity, multi, single-server and stream methods work in the native
/// mode; affinity functions and options that need a claim are refused for
/// native queue methods.
pub async fn native_mode_serves_every_other_kind(factory: &dyn BusFactory) {
    let svc = unique_service();
    let s = native_server(factory, &svc).await;
    serve_echo(&s, &AFFINITY, &[], Some(0.5)).await;
    serve_echo(&s, &MULTI, &[], None).await;
    serve_echo(&s, &SHARD, &["shard-1"], None).await;
    serve_echo(&s, &SINGLE, &[], None).await;
    serve_echo_stream(&s).await;
    let client = native_client(factory, &svc).await;
    let none = RequestOptions::default;
    for (method, topics) in [(&AFFINITY, vec![]), (&SHARD, vec!["shard-1".to_owned()])] {
        let reply = client.request_single::<Ping, Pong>(method, topics, &ping("x"), none()).await.expect("reply");
        assert_eq!(reply.server_id, s.id(), "{}", method.name);
    }
    let answers = client
        .request_multi::<Ping, Pong>(&MULTI, vec![], &ping("m"), none().expected_responses(1))
        .await
        .expect("multi")
        .collect_all()
        .await;
    assert_eq!(answers.len(), 1);
    let mut stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], none()).await.expect("open");
    stream.send(&ping("s")).await.expect("acked");
    assert_eq!(stream.recv().await.expect("open stream").expect("echo").text, "s");
    let scored: psrpc_core::server::AffinityFn<Ping> = Arc::new(|_, _| 1.0);
    let err = s.register_unary(&REGIONAL, vec![], echo, Some(scored)).await.expect_err("no claim to score");
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    let selection = none().selection(SelectionOptions::first_available(Duration::from_millis(100)));
    let err = client.request_single::<Ping, Pong>(&SINGLE, vec![], &ping("x"), selection).await.expect_err("refused");
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
}
