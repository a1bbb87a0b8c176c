//! User code is isolated from the engine: a handler that blocks its thread
//! does not hold up other calls on the same connection, and a panic anywhere
//! in user code (interceptors, affinity and selection functions, handlers)
//! ends only its own call, with `internal`, while a panic in code that only
//! watches (hooks, observers) changes no outcome.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use psrpc_core::info::{MethodKind, Selection};
use psrpc_core::interceptor::{
    ClientMultiInterceptor, ClientUnaryInterceptor, ClientUnaryNext, Reply, RequestHook, ResponseHook,
    ServerUnaryInterceptor, ServerUnaryNext, StreamInterceptor, UnaryCall,
};
use psrpc_core::options::{RequestOptions, ServerOptions};
use psrpc_core::server::AffinityFn;
use psrpc_core::stream::ServerStream;
use psrpc_core::{Error, ErrorCode, MethodInfo, RequestContext, RpcInfo, RpcServer};
use tokio::time::Instant;

use super::fixtures::*;
use crate::BusFactory;

/// A second queue method: on NATS its requests share the service's queue
/// subject (and its claim decisions the service's subject) with `SINGLE`.
static SLOW: MethodInfo = MethodInfo::new("Slow", MethodKind::Unary(Selection::Queue { topics: false }));

/// The longest the blocked handler holds its thread waiting for release.
const HOLD_AT_MOST: Duration = Duration::from_secs(10);

/// The echo call made while the handler is blocked must finish within this;
/// it is shorter than [`HOLD_AT_MOST`], so a success proves the echo was
/// served while the handler still held its thread.
const ECHO_TIMEOUT: Duration = Duration::from_secs(5);

/// A handler that blocks its thread (without ever reaching an `.await`)
/// until it is released does not hold up a call to another method served on
/// the same connection: that call completes while the handler is still
/// blocked. Were handlers run on the task that reads the connection, the
/// echo call would time out instead.
pub async fn a_blocked_handler_does_not_hold_up_other_methods(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    serve_echo(&s, &SINGLE, &[], None).await;
    // Plain std channels: the handler wakes no task on its own worker before
    // it blocks, so nothing waits behind it in that worker's queue.
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    s.register_unary(
        &SLOW,
        vec![],
        move |ctx: RequestContext, p: Ping| {
            let _ = entered_tx.send(());
            let released = release_rx.lock().expect("release lock").recv_timeout(HOLD_AT_MOST).is_ok();
            async move {
                if released {
                    echo(ctx, p).await
                } else {
                    Err(Error::new(ErrorCode::DeadlineExceeded, "never released"))
                }
            }
        },
        None,
    )
    .await
    .expect("register");
    let client = client(factory, &svc).await;

    let blocked = tokio::spawn({
        let client = client.clone();
        let options = within(HOLD_AT_MOST * 2);
        async move { client.request_single::<Ping, Pong>(&SLOW, vec![], &ping("block"), options).await }
    });
    tokio::task::spawn_blocking(move || entered_rx.recv())
        .await
        .expect("wait for the handler")
        .expect("the blocked handler runs");

    let options = within(ECHO_TIMEOUT);
    let echoed = client.request_single::<Ping, Pong>(&SINGLE, vec![], &ping("meanwhile"), options).await;
    release_tx.send(()).expect("release the handler");

    assert!(echoed.is_ok(), "a call to another method failed while a handler held its thread: {echoed:?}");
    let slow = blocked.await.expect("blocked call task");
    assert!(slow.is_ok(), "the blocked handler was released by the test, so its call succeeds: {slow:?}");
}

/// A server interceptor that panics.
struct Exploding;

impl ServerUnaryInterceptor for Exploding {
    fn intercept<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: Bytes,
        next: ServerUnaryNext<'a>,
    ) -> BoxFuture<'a, Result<Bytes, Error>> {
        assert!(ctx.metadata().get("explode").is_none(), "interceptor exploded");
        next.run(request)
    }
}

/// A panic in a server interceptor is an `internal` error for that call;
/// the server goes on serving.
pub async fn interceptor_panic_is_internal_and_server_survives(factory: &dyn BusFactory) {
    let svc = unique_service();
    let options = ServerOptions::default().unary_interceptor(Exploding);
    let s = RpcServer::new(svc.clone(), factory.connect().await, options);
    serve_echo(&s, &SINGLE, &[], None).await;
    let client = client(factory, &svc).await;
    let exploding = RequestOptions::default().metadata("explode", "yes");
    assert_internal_then_served(&client, &ping("x"), exploding).await;
}

/// A panicking affinity function means "do not claim": another server
/// takes the request, and the panicking one still serves.
pub async fn affinity_panic_is_no_claim(factory: &dyn BusFactory) {
    let (svc, fragile) = own_server(factory).await;
    let panics: AffinityFn<Ping> = Arc::new(|_: &RequestContext, p: &Ping| {
        assert!(p.text != "boom", "affinity exploded");
        1.0
    });
    fragile.register_unary(&AFFINITY, vec![], echo, Some(panics)).await.expect("register");
    let steady = server(factory, &svc).await;
    serve_echo(&steady, &AFFINITY, &[], Some(0.1)).await;
    let client = client(factory, &svc).await;
    let reply = call(&client, &AFFINITY, "boom").await.expect("the other server");
    assert_eq!(reply.server_id, steady.id());
    let reply = call(&client, &AFFINITY, "fine").await.expect("both claim");
    assert_eq!(reply.server_id, fragile.id(), "the higher affinity wins once it no longer panics");
}

/// A stream handler that panics closes its stream with `internal`; the
/// server accepts the next stream.
pub async fn stream_handler_panic_closes_with_internal(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    serve_chat(&s, |mut stream: ServerStream<Pong, Ping>| async move {
        if let Some(p) = stream.recv().await? {
            assert!(p.text != "boom", "stream handler exploded");
            stream.send(&Pong { text: p.text, server: String::new() }).await?;
        }
        echo_stream(stream).await
    })
    .await;
    let client = client(factory, &svc).await;
    let mut doomed = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    let _ = doomed.send(&ping("boom")).await;
    let err = doomed.recv().await.expect_err("the stream ends with the panic");
    assert_eq!(err.code(), ErrorCode::Internal);
    assert_eq!(doomed.err().map(|e| e.code()), Some(ErrorCode::Internal));

    let mut next = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    next.send(&ping("fine")).await.expect("send");
    assert_eq!(next.recv().await.expect("open").map(|p| p.text), Some("fine".to_owned()));
}

/// Dropping every handle of a server stops it: its methods are unsubscribed
/// and calls find no server.
pub async fn dropping_the_last_server_handle_stops_serving(factory: &dyn BusFactory) {
    let (s, client) = echo_service(factory).await;
    let reply = call(&client, &SINGLE, "a").await;
    assert_eq!(reply.expect("served").server_id, s.id());
    let clone = s.clone();
    drop(s);
    let still = call(&client, &SINGLE, "b").await;
    assert_eq!(still.expect("a clone keeps it serving").server_id, clone.id());
    drop(clone);
    // The drop shuts down in the background; then the calls find no server
    // (a minute is no timing bound, it tells a hang from a slow machine).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let outcome = call(&client, &SINGLE, "c").await;
        match outcome {
            Err(e) => break assert_eq!(e.code(), ErrorCode::Unavailable, "{e}"),
            Ok(_) => assert!(Instant::now() < deadline, "the dropped server still serves"),
        }
    }
}

/// A server stream interceptor that panics on the message "boom".
struct ExplodingStream;

impl StreamInterceptor for ExplodingStream {
    fn on_recv(&self, _: &psrpc_core::RpcInfo, message: &Bytes) -> Result<(), Error> {
        assert!(!message.ends_with(b"boom"), "stream interceptor exploded");
        Ok(())
    }
}

/// A panic in a stream interceptor fails that stream with `internal` on
/// both ends; the server accepts the next stream.
pub async fn stream_interceptor_panic_fails_only_its_stream(factory: &dyn BusFactory) {
    let svc = unique_service();
    let options = ServerOptions::default().stream_interceptor(ExplodingStream);
    let s = RpcServer::new(svc.clone(), factory.connect().await, options);
    serve_echo_stream(&s).await;
    let client = client(factory, &svc).await;
    let mut doomed = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    let _ = doomed.send(&ping("boom")).await;
    let err = doomed.recv().await.expect_err("the stream fails");
    assert_eq!(err.code(), ErrorCode::Internal);

    let mut next = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    next.send(&ping("fine")).await.expect("send");
    assert_eq!(next.recv().await.expect("open").map(|p| p.text), Some("fine".to_owned()));
}

/// Whether an encoded request carries `word`.
fn carries(payload: &[u8], word: &str) -> bool {
    payload.windows(word.len()).any(|w| w == word.as_bytes())
}

/// A client interceptor of single calls that panics on a request carrying "boom".
struct ExplodingCall;

impl ClientUnaryInterceptor for ExplodingCall {
    fn intercept<'a>(
        &'a self,
        _: &'a RpcInfo,
        call: UnaryCall,
        next: ClientUnaryNext<'a>,
    ) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> {
        assert!(!carries(&call.payload, "boom"), "client interceptor exploded");
        next.run(call)
    }
}

/// A client multi interceptor that panics when a request carries "boom",
/// on the response of `fragile_server`, and on every close.
struct ExplodingMulti {
    fragile_server: String,
}

impl ClientMultiInterceptor for ExplodingMulti {
    fn on_send(&self, _: &RpcInfo, call: &mut UnaryCall) -> Result<(), Error> {
        assert!(!carries(&call.payload, "boom"), "multi interceptor exploded on send");
        Ok(())
    }

    fn on_response(&self, _: &RpcInfo, server_id: &str, _: &mut Result<Bytes, Error>) {
        assert_ne!(server_id, self.fragile_server, "multi interceptor exploded on a response");
    }

    fn on_close(&self, _: &RpcInfo) {
        panic!("multi interceptor exploded on close");
    }
}

/// Client-side user code behind the panic boundary: a panicking interceptor
/// fails only its call (or, for a multi response, only that response) with
/// `internal`; panicking request and response hooks and a multi
/// interceptor's `on_close` only watch, so the call keeps its result.
pub async fn client_callback_panics_fail_only_their_call(factory: &dyn BusFactory) {
    let svc = unique_service();
    let (steady, fragile) = (server(factory, &svc).await, server(factory, &svc).await);
    for s in [&steady, &fragile] {
        serve_echo(s, &SINGLE, &[], None).await;
        serve_echo(s, &MULTI, &[], None).await;
    }
    let request_hook: RequestHook = Arc::new(|_, request| assert!(!carries(request, "hook"), "request hook exploded"));
    let response_hook: ResponseHook = Arc::new(|_, _, _| panic!("response hook exploded"));
    let options = client_options()
        .unary_interceptor(ExplodingCall)
        .multi_interceptor(ExplodingMulti { fragile_server: fragile.id().to_owned() })
        .request_hook(request_hook)
        .response_hook(response_hook);
    let client = client_on(factory.connect().await, &svc, options).await;

    let hooked = call(&client, &SINGLE, "hook").await;
    assert_eq!(hooked.expect("hooks only watch").message.text, "hook");
    assert_internal_then_served(&client, &ping("boom"), RequestOptions::default()).await;

    let err = client
        .request_multi::<Ping, Pong>(&MULTI, vec![], &ping("boom"), RequestOptions::default())
        .await
        .expect_err("on_send panicked");
    assert_eq!((err.code(), err.message()), (ErrorCode::Internal, "multi interceptor panicked"));
    let both = RequestOptions::default().expected_responses(2);
    let mut answers = client
        .request_multi::<Ping, Pong>(&MULTI, vec![], &ping("hook"), both)
        .await
        .expect("sent")
        .collect_all()
        .await;
    answers.sort_by_key(|a| a.server_id != steady.id());
    assert_eq!(answers.len(), 2, "the panic on close ends nothing early: {answers:?}");
    assert_eq!(answers[0].result.as_ref().map(|p| p.text.as_str()), Ok("hook"));
    assert_eq!(answers[1].server_id, fragile.id());
    assert_eq!(answers[1].result.as_ref().map_err(Error::code), Err(ErrorCode::Internal));
}
