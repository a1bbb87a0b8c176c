//! Single RPCs: queue, affinity, selection, single-server topics, topics,
//! errors, timeouts and cancellation.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use psrpc_core::interceptor::{ClientUnaryInterceptor, ClientUnaryNext, Reply, UnaryCall};
use psrpc_core::metadata::unix_nanos;
use psrpc_core::options::{RequestOptions, SelectionOptions, ServerOptions};
use psrpc_core::transport::channel;
use psrpc_core::wire_mode::WireMode;
use psrpc_core::{Error, ErrorCode, RawPayload, RequestContext, RpcInfo, RpcServer};
use psrpc_protocol::envelope::Request;
use psrpc_protocol::frame;
use tokio::time::Instant;

use super::fixtures::*;
use crate::BusFactory;

/// A queue RPC is answered by one server, which the reply names.
pub async fn single_round_trip(factory: &dyn BusFactory) {
    let (svc, server) = own_server(factory).await;
    serve_echo(&server, &SINGLE, &[], None).await;
    let client = client(factory, &svc).await;
    let reply = call(&client, &SINGLE, "hi").await.expect("reply");
    assert_eq!(reply.message.text, "hi");
    assert_eq!(reply.server_id, server.id());
    assert_eq!(reply.message.server, server.id());
    assert_eq!(client.pending_routes(), 0);
}

/// With two servers, every request is handled exactly once.
pub async fn queue_requests_reach_one_server_each(factory: &dyn BusFactory) {
    each_request_handled_once(factory, WireMode::GoCompatible).await;
}

/// Two servers in wire mode `mode` share a queue method; each of 20
/// requests is handled exactly once.
pub(crate) async fn each_request_handled_once(factory: &dyn BusFactory, mode: WireMode) {
    let svc = unique_service();
    let handled = Arc::new(AtomicUsize::new(0));
    let mut servers = Vec::new();
    for _ in 0..2 {
        let s = RpcServer::new(svc.clone(), factory.connect().await, ServerOptions::default().wire_mode(mode));
        let count = Arc::clone(&handled);
        let counted = move |ctx: RequestContext, p: Ping| {
            count.fetch_add(1, Ordering::SeqCst);
            echo(ctx, p)
        };
        serve_single(&s, counted).await;
        servers.push(s);
    }
    let client = client_on(factory.connect().await, &svc, client_options().wire_mode(mode)).await;
    let ids: HashSet<String> = servers.iter().map(|s| s.id().to_owned()).collect();
    for i in 0..20 {
        let reply = call(&client, &SINGLE, &i.to_string()).await.expect("reply");
        assert!(ids.contains(&reply.server_id));
    }
    assert_eq!(handled.load(Ordering::SeqCst), 20, "each request handled exactly once");
}

/// Affinity methods go to the server with the highest affinity.
pub async fn affinity_picks_the_best_claim(factory: &dyn BusFactory) {
    let (svc, low) = own_server(factory).await;
    serve_echo(&low, &AFFINITY, &[], Some(0.2)).await;
    let high = server(factory, &svc).await;
    serve_echo(&high, &AFFINITY, &[], Some(0.9)).await;
    let client = client(factory, &svc).await;
    for _ in 0..5 {
        let reply = call(&client, &AFFINITY, "x").await.expect("reply");
        assert_eq!(reply.server_id, high.id());
    }
}

/// Minimum affinity filters claims; a selection function chooses among the rest.
pub async fn selection_options_filter_and_choose(factory: &dyn BusFactory) {
    let svc = unique_service();
    let mut ids = Vec::new();
    for affinity in [0.1, 0.5, 0.8] {
        let s = server(factory, &svc).await;
        serve_echo(&s, &AFFINITY, &[], Some(affinity)).await;
        ids.push(s);
    }
    let client = client(factory, &svc).await;
    // Only 0.5 and 0.8 qualify; the selection function takes the lowest of
    // them. The window is long enough for all three claims on a busy machine.
    let selection =
        SelectionOptions::default().minimum_affinity(0.3).affinity_timeout(SELECTION_TIMEOUT).selection_fn(|claims| {
            assert!(claims.iter().all(|c| c.affinity >= 0.3), "{claims:?}");
            claims
                .iter()
                .min_by(|a, b| a.affinity.total_cmp(&b.affinity))
                .map(|c| c.server_id.clone())
                .ok_or_else(Error::no_response)
        });
    let options = RequestOptions::default().selection(selection).timeout(SELECTION_TIMEOUT * 4);
    let reply = client.request_single::<Ping, Pong>(&AFFINITY, vec![], &ping("x"), options).await.expect("reply");
    assert_eq!(reply.server_id, ids[1].id());

    // Maximum affinity wins at once: the affinity timeout outlasts the call's
    // own, so a client that waited for it would fail `deadline_exceeded`.
    let selection = SelectionOptions::default().maximum_affinity(0.7).affinity_timeout(Duration::from_secs(3_600));
    let options = RequestOptions::default().selection(selection).timeout(Duration::from_secs(20));
    let reply = client
        .request_single::<Ping, Pong>(&AFFINITY, vec![], &ping("x"), options)
        .await
        .expect("picked at once, not after the affinity timeout");
    assert_eq!(reply.server_id, ids[2].id());
}

/// A server whose affinity is negative does not claim; with no other server
/// the call is `unavailable`.
pub async fn negative_affinity_never_claims(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    serve_echo(&s, &AFFINITY, &[], Some(-1.0)).await;
    let client = client(factory, &svc).await;
    let err = call(&client, &AFFINITY, "x").await.expect_err("no claim");
    assert_eq!(err.code(), ErrorCode::Unavailable);
}

/// Without servers, a call fails with `unavailable` after the selection
/// timeout, long before the request timeout.
pub async fn no_server_is_unavailable_after_selection_timeout(factory: &dyn BusFactory) {
    let client = client(factory, &unique_service()).await;
    let started = Instant::now();
    let err = client
        .request_single::<Ping, Pong>(&SINGLE, vec![], &ping("x"), within(SELECTION_TIMEOUT * 4))
        .await
        .expect_err("nobody there");
    // `unavailable`, not `deadline_exceeded`: the selection timeout ended it.
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    assert!(started.elapsed() >= SELECTION_TIMEOUT, "waited for the selection timeout");
    assert_eq!(client.pending_routes(), 0);
}

/// A request timeout shorter than the selection timeout, with no server:
/// the call ends at its own timeout, and as one no server claimed
/// (`unavailable`, "no response from servers", as Go psrpc says), not
/// `deadline_exceeded`: queue and affinity calls and stream opens alike.
pub async fn no_server_before_the_request_timeout_is_unavailable(factory: &dyn BusFactory) {
    let client = client(factory, &unique_service()).await;
    let timeout = Duration::from_millis(500);
    assert!(timeout < SELECTION_TIMEOUT);
    for method in [&SINGLE, &AFFINITY] {
        let started = Instant::now();
        let err = client
            .request_single::<Ping, Pong>(method, vec![], &ping("x"), within(timeout))
            .await
            .expect_err("nobody there");
        assert_eq!(err, Error::no_response(), "{}", method.name);
        assert_eq!(err.to_string(), "unavailable: no response from servers");
        let elapsed = started.elapsed();
        assert!(elapsed >= timeout && elapsed < SELECTION_TIMEOUT, "{}: ended at {elapsed:?}", method.name);
    }
    let err = client.open_stream::<Ping, Pong>(&CHAT, vec![], within(timeout)).await.expect_err("nobody there");
    assert_eq!(err, Error::no_response(), "stream open");
    assert_eq!(client.pending_routes(), 0);
}

/// Single-server topic methods answer without a claim exchange.
pub async fn single_server_topic_skips_the_claim(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    serve_echo(&s, &SHARD, &["shard-7"], None).await;
    let client = client(factory, &svc).await;
    let reply = client
        .request_single::<Ping, Pong>(&SHARD, vec!["shard-7".into()], &ping("x"), RequestOptions::default())
        .await
        .expect("reply");
    assert_eq!(reply.server_id, s.id());
    let err = client
        .request_single::<Ping, Pong>(&SHARD, vec!["shard-8".into()], &ping("x"), within(Duration::from_millis(300)))
        .await
        .expect_err("no server on that shard");
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded);
}

/// Requests only reach servers registered on their topic; deregistering stops them.
pub async fn topics_reach_only_registered_servers(factory: &dyn BusFactory) {
    let (svc, west) = own_server(factory).await;
    serve_echo(&west, &REGIONAL, &["us-west"], None).await;
    let east = server(factory, &svc).await;
    serve_echo(&east, &REGIONAL, &["eu-east"], None).await;
    let client = client(factory, &svc).await;
    for (topic, expected) in [("us-west", west.id()), ("eu-east", east.id())] {
        for _ in 0..3 {
            let reply = client
                .request_single::<Ping, Pong>(&REGIONAL, vec![topic.into()], &ping("x"), RequestOptions::default())
                .await
                .expect("reply");
            assert_eq!(reply.server_id, expected);
        }
    }
    east.deregister("Regional", &["eu-east".to_owned()]).await;
    let err = client
        .request_single::<Ping, Pong>(&REGIONAL, vec!["eu-east".into()], &ping("x"), RequestOptions::default())
        .await
        .expect_err("deregistered");
    assert_eq!(err.code(), ErrorCode::Unavailable);
    // Registering again at runtime works.
    serve_echo(&east, &REGIONAL, &["eu-east"], None).await;
    let reply = client
        .request_single::<Ping, Pong>(&REGIONAL, vec!["eu-east".into()], &ping("x"), RequestOptions::default())
        .await
        .expect("re-registered");
    assert_eq!(reply.server_id, east.id());
}

/// A handler's error reaches the caller with code, message and details.
pub async fn handler_error_round_trips_with_details(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    serve_single(&s, |_ctx: RequestContext, p: Ping| async move {
        Err::<Pong, _>(
            Error::new(ErrorCode::NotFound, format!("no room {}", p.text))
                .with_detail(&Ping { text: "detail".into(), delay_ms: 7 }),
        )
    })
    .await;
    let client = client(factory, &svc).await;
    let err = call(&client, &SINGLE, "42").await.expect_err("error");
    assert_eq!(err.code(), ErrorCode::NotFound);
    assert_eq!(err.message(), "no room 42");
    assert_eq!(err.to_http(), 404);
    assert_eq!(err.detail::<Ping>(), Some(Ping { text: "detail".into(), delay_ms: 7 }));
}

/// Bytes that are not the request type give `malformed_request`.
pub async fn malformed_request_is_reported(factory: &dyn BusFactory) {
    let (_server, client) = echo_service(factory).await;
    let garbage = RawPayload(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]));
    let err = client
        .request_single::<RawPayload, Pong>(&SINGLE, vec![], &garbage, RequestOptions::default())
        .await
        .expect_err("malformed");
    assert_eq!(err.code(), ErrorCode::MalformedRequest, "{err}");
    // The server keeps serving.
    call(&client, &SINGLE, "ok").await.expect("still serving");
}

/// A panicking handler becomes an `internal` error; the server keeps serving.
pub async fn handler_panic_is_internal_and_server_survives(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    serve_single(&s, |ctx: RequestContext, p: Ping| async move {
        assert!(p.text != "boom", "handler exploded");
        echo(ctx, p).await
    })
    .await;
    let client = client(factory, &svc).await;
    assert_internal_then_served(&client, &ping("boom"), RequestOptions::default()).await;
}

/// A request past its expiry is dropped by the server, unanswered.
pub async fn expired_requests_are_dropped(factory: &dyn BusFactory) {
    let svc = unique_service();
    let handled = Arc::new(AtomicUsize::new(0));
    let s = server(factory, &svc).await;
    let count = Arc::clone(&handled);
    s.register_unary(
        &SHARD,
        vec!["t".into()],
        move |ctx: RequestContext, p: Ping| {
            count.fetch_add(1, Ordering::SeqCst);
            echo(ctx, p)
        },
        None,
    )
    .await
    .expect("register");
    let bus = factory.connect().await;
    let now = SystemTime::now();
    let stale = Request {
        request_id: "REQ_stale0000000".into(),
        client_id: "CLI_nobody000000".into(),
        sent_at: unix_nanos(now - Duration::from_secs(10)),
        expiry: unix_nanos(now - Duration::from_secs(5)),
        raw_request: Bytes::from(prost::Message::encode_to_vec(&ping("old"))),
        ..Default::default()
    };
    let ch = channel::request_channel(&svc, "Shard", &["t"], true);
    let local = if bus.frames_carry_local_channel() { &*ch.local } else { "" };
    bus.publish(&ch, frame::encode_envelope(&stale, local)).await.expect("publish");
    // A fresh request published after the stale one is handled: the stale one was seen and dropped.
    let client = client(factory, &svc).await;
    client
        .request_single::<Ping, Pong>(&SHARD, vec!["t".into()], &ping("new"), RequestOptions::default())
        .await
        .expect("fresh");
    assert_eq!(handled.load(Ordering::SeqCst), 1);
}

/// A handler slower than the timeout gives `deadline_exceeded`; the call's routes are freed.
pub async fn slow_handler_times_out_and_frees_routes(factory: &dyn BusFactory) {
    let (_server, client) = echo_service(factory).await;
    // Had the client waited for the handler instead of its deadline, the call would succeed.
    let options = within(Duration::from_millis(400));
    let err = slow_single(&client, 2_000, options).await.expect_err("timeout");
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded);
    assert_eq!(client.pending_routes(), 0);
}

/// Dropping a call's future cancels it and frees its routes.
pub async fn dropped_call_frees_routes(factory: &dyn BusFactory) {
    let (_server, client) = echo_service(factory).await;
    let call = slow_single(&client, 1_000, RequestOptions::default());
    let outcome = tokio::time::timeout(Duration::from_millis(200), call).await;
    assert!(outcome.is_err(), "the call was still pending when dropped");
    assert_eq!(client.pending_routes(), 0);
}

/// Closing the client ends pending calls with `canceled`, and later calls fail at once.
pub async fn client_close_cancels_pending_calls(factory: &dyn BusFactory) {
    let (s, client) = echo_service(factory).await;
    let pending = spawn_slow_single(&client, 1_500, RequestOptions::default());
    until_in_flight(&s).await;
    client.close().await;
    let err = pending.await.expect("task").expect_err("canceled");
    assert_eq!(err, Error::client_closed());
    assert_eq!(err.code(), ErrorCode::Canceled);
    let err = call(&client, &SINGLE, "x").await.expect_err("closed");
    assert_eq!(err, Error::client_closed());
}

struct Tag(&'static str, Arc<parking_lot::Mutex<Vec<String>>>);

impl ClientUnaryInterceptor for Tag {
    fn intercept<'a>(
        &'a self,
        _info: &'a RpcInfo,
        mut call: UnaryCall,
        next: ClientUnaryNext<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<Reply<Bytes>, Error>> {
        self.1.lock().push(self.0.to_owned());
        let trail = call.metadata.remove("trail").unwrap_or_default();
        call.metadata.insert("trail".into(), format!("{trail}{}", self.0));
        next.run(call)
    }
}

/// Metadata reaches the handler with the caller id; interceptors chain in
/// registration order (client-wide, then per request); hooks see each call.
pub async fn metadata_interceptors_and_hooks(factory: &dyn BusFactory) {
    let svc = unique_service();
    let seen = Arc::new(parking_lot::Mutex::new(None));
    let s = RpcServer::new(svc.clone(), factory.connect().await, ServerOptions::default());
    let slot = Arc::clone(&seen);
    serve_single(&s, move |ctx: RequestContext, p: Ping| {
        *slot.lock() = Some((ctx.caller_id().to_owned(), ctx.metadata().clone(), ctx.sent_at()));
        echo(ctx, p)
    })
    .await;

    let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let hooks = Arc::new(AtomicUsize::new(0));
    let (requests, responses) = (Arc::clone(&hooks), Arc::clone(&hooks));
    let options = client_options()
        .unary_interceptor(Tag("a", Arc::clone(&order)))
        .unary_interceptor(Tag("b", Arc::clone(&order)))
        .request_hook(Arc::new(move |_, _| {
            requests.fetch_add(1, Ordering::SeqCst);
        }))
        .response_hook(Arc::new(move |_, _, outcome| {
            assert!(outcome.is_ok());
            responses.fetch_add(10, Ordering::SeqCst);
        }));
    let client = client_on(factory.connect().await, &svc, options).await;
    let request_options =
        RequestOptions::default().metadata("user", "ada").unary_interceptor(Tag("c", Arc::clone(&order)));
    client.request_single::<Ping, Pong>(&SINGLE, vec![], &ping("x"), request_options).await.expect("reply");

    assert_eq!(*order.lock(), ["a", "b", "c"]);
    assert_eq!(hooks.load(Ordering::SeqCst), 11);
    let (caller, metadata, sent_at) = seen.lock().clone().expect("handler ran");
    assert_eq!(caller, client.id());
    assert_eq!(metadata.get("user").map(String::as_str), Some("ada"));
    assert_eq!(metadata.get("trail").map(String::as_str), Some("abc"));
    assert!(SystemTime::now().duration_since(sent_at).expect("sent in the past") < Duration::from_secs(5));
}

/// 10,000 concurrent single RPCs all succeed.
///
/// The deadlines are generous on purpose: this test is about concurrency (every
/// call answered, every route freed), not speed. On a loaded 2-core machine a
/// broker works off 10,000 claimed calls at a few hundred a second, and a call
/// whose deadline passed while it waited its turn would be a correct timeout,
/// not a bug.
pub async fn many_concurrent_single_rpcs(factory: &dyn BusFactory) {
    let svc = unique_service();
    let s = RpcServer::new(svc.clone(), factory.connect().await, ServerOptions::default().channel_capacity(10_000));
    serve_echo(&s, &SINGLE, &[], None).await;
    let client = client_on(
        factory.connect().await,
        &svc,
        client_options().timeout(2 * WAIT_LIMIT).selection_timeout(WAIT_LIMIT).channel_capacity(10_000),
    )
    .await;
    let calls = (0..10_000).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            let reply = call(&client, &SINGLE, &i.to_string()).await;
            reply.map(|r| r.message.text == i.to_string())
        })
    });
    let results = futures_util::future::join_all(calls).await;
    let ok = results.into_iter().filter(|r| matches!(r, Ok(Ok(true)))).count();
    assert_eq!(ok, 10_000);
    assert_eq!(client.pending_routes(), 0);
}
