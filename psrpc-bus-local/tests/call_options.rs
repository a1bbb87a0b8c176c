//! Call options on the in-process bus: `Duration::MAX` timeouts saturate
//! instead of panicking, and options a call does not use are rejected before
//! anything is published.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use psrpc_bus_local::LocalBus;
use psrpc_core::options::{ClientOptions, RequestOptions, SelectionOptions, ServerOptions, StreamKeepalive};
use psrpc_core::stream::ServerStream;
use psrpc_core::{
    Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RpcClient, RpcServer, Selection, SharedBus,
};
use psrpc_test_support::rpc_suite::{Ping, Pong, echo, ping};

static SINGLE: MethodInfo = MethodInfo::new("Single", MethodKind::Unary(Selection::Queue { topics: false }));
static MULTI: MethodInfo = MethodInfo::new("Multi", MethodKind::Multi { topics: false });
static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));

async fn drain(mut stream: ServerStream<Pong, Ping>) -> Result<(), Error> {
    while stream.next().await.is_some() {}
    Ok(())
}

#[tokio::test]
async fn duration_max_timeouts_saturate() {
    let bus: SharedBus = Arc::new(LocalBus::new());
    let forever = StreamKeepalive::new(Duration::MAX, Duration::MAX);
    let server_options = ServerOptions::default().timeout(Duration::MAX).stream_keepalive(forever);
    let server = RpcServer::new("Forever", bus.clone(), server_options);
    server.register_unary(&SINGLE, vec![], echo, None).await.expect("register single");
    server.register_unary(&MULTI, vec![], echo, None).await.expect("register multi");
    server.register_stream(&CHAT, vec![], drain, None).await.expect("register stream");
    let client_options = ClientOptions::default()
        .timeout(Duration::MAX)
        .selection_timeout(Duration::MAX)
        .stream_keepalive(StreamKeepalive::disabled().expiry(Duration::MAX));
    let client = RpcClient::new("Forever", bus, client_options).await.expect("client");

    let reply = client
        .request_single::<Ping, Pong>(&SINGLE, vec![], &ping("a"), RequestOptions::default())
        .await
        .expect("single");
    assert_eq!(reply.message.text, "a");
    let selection = SelectionOptions::first_available(Duration::MAX).short_circuit_timeout(Duration::MAX);
    let options = RequestOptions::default().timeout(Duration::MAX).selection(selection);
    let reply = client.request_single::<Ping, Pong>(&SINGLE, vec![], &ping("b"), options).await.expect("single");
    assert_eq!(reply.message.text, "b");

    let options = RequestOptions::default().timeout(Duration::MAX).expected_responses(1);
    let responses =
        client.request_multi::<Ping, Pong>(&MULTI, vec![], &ping("c"), options).await.expect("multi").collect_all();
    let responses = responses.await;
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].result.as_ref().expect("answered").text, "c");

    let options = RequestOptions::default().timeout(Duration::MAX);
    let stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], options).await.expect("open");
    stream.send(&ping("d")).await.expect("acked");
    stream.close(None).await.expect("close");
    assert_eq!(client.pending_routes(), 0);
}

#[tokio::test]
async fn unused_options_fail_before_anything_is_published() {
    let bus: SharedBus = Arc::new(LocalBus::new());
    let server = RpcServer::new("Strict", bus.clone(), ServerOptions::default());
    let handled = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&handled);
    let handler = move |ctx: RequestContext, p: Ping| {
        count.fetch_add(1, Ordering::SeqCst);
        echo(ctx, p)
    };
    server.register_unary(&SINGLE, vec![], handler.clone(), None).await.expect("register single");
    server.register_unary(&MULTI, vec![], handler, None).await.expect("register multi");
    let client = RpcClient::new("Strict", bus, ClientOptions::default()).await.expect("client");

    let err = client
        .request_single::<Ping, Pong>(&SINGLE, vec![], &ping("x"), RequestOptions::default().expected_responses(1))
        .await
        .expect_err("expected_responses on a single call");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(err.message().contains("RequestOptions::expected_responses"), "{err}");

    let options = RequestOptions::default().selection(SelectionOptions::default());
    let err = client.request_multi::<Ping, Pong>(&MULTI, vec![], &ping("x"), options).await.expect_err("selection");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);

    let err = client
        .request_single::<Ping, Pong>(&MULTI, vec![], &ping("x"), RequestOptions::default())
        .await
        .expect_err("a multi method through request_single");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);

    let err = client.subscribe::<Pong>(&SINGLE, vec![]).await.expect_err("subscribing to a unary method");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);

    assert_eq!(handled.load(Ordering::SeqCst), 0, "no request reached a server");
    assert_eq!(client.pending_routes(), 0);
    // The same client still calls correctly.
    client
        .request_single::<Ping, Pong>(&SINGLE, vec![], &ping("ok"), RequestOptions::default())
        .await
        .expect("valid call");
    assert_eq!(handled.load(Ordering::SeqCst), 1);
}

/// A server takes each method only through the call for its kind, and says
/// which call to use.
#[tokio::test]
async fn servers_reject_methods_of_the_wrong_kind() {
    let bus: SharedBus = Arc::new(LocalBus::new());
    let server = RpcServer::new("Kinds", bus, ServerOptions::default());
    let err = server.register_unary(&CHAT, vec![], echo, None).await.expect_err("a stream method");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert_eq!(err.message(), "`register_unary` cannot take `Chat`: use `register_stream`");
    let err = server.register_stream(&SINGLE, vec![], drain, None).await.expect_err("a unary method");
    assert_eq!(err.message(), "`register_stream` cannot take `Single`: use `register_unary`");
    let err = server.publish(&MULTI, vec![], &ping("x")).await.expect_err("not a subscription");
    assert_eq!(err.message(), "`publish` cannot take `Multi`: use `register_unary`");
    // Nothing was registered by the refused calls.
    server.register_unary(&SINGLE, vec![], echo, None).await.expect("the right call still works");
}
