//! Subjects and frames the server would refuse are refused up front, and a
//! subscribe that fails leaves nothing behind: no router, no NATS
//! subscription, nothing sent again on a reconnect.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use psrpc_bus_nats::{MAX_SUBJECT_LEN, NatsBus};
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::transport::channel::{request_channel, response_channel};
use psrpc_core::{BusErrorKind, ErrorCode, MessageBus, MethodInfo, RpcClient, RpcServer, SharedBus};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::rpc_suite::{Ping, Pong, Refusal, echo, oversized_frames_fail_at_once, ping};

static SINGLE: MethodInfo =
    MethodInfo::new("Single", psrpc_core::MethodKind::Unary(psrpc_core::Selection::Queue { topics: false }));

async fn connect(server: &NatsServer) -> NatsBus {
    NatsBus::connect(server.url(), Default::default()).await.expect("connect")
}

fn connects(bus: &NatsBus) -> u64 {
    bus.client().statistics().connects.load(Ordering::Relaxed)
}

/// Waits (bounded) until the bus holds `expected` subject subscriptions: a
/// stopped router's task ends on the runtime, just after the call returns.
async fn subscriptions_settle_at(bus: &NatsBus, expected: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while bus.subject_subscriptions() != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} subscriptions, expected {expected}",
            bus.subject_subscriptions()
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_topic_is_refused_at_once_and_the_connection_stays_up() {
    let Some(nats) = common::server() else { return };
    let bus = connect(&nats).await;
    let shared: SharedBus = Arc::new(bus.clone());
    let service = psrpc_test_support::unique_name("Limits");
    let server = RpcServer::new(service.as_str(), Arc::clone(&shared), ServerOptions::default());
    let client = RpcClient::new(service.as_str(), Arc::clone(&shared), ClientOptions::default()).await.expect("client");
    let baseline = bus.subject_subscriptions();
    let long_topic = "t".repeat(5000);

    // Refused before anything is sent: `invalid_argument`, where a call that
    // reached the broker would end `unavailable` or `deadline_exceeded`.
    let err = server.register_unary(&SINGLE, vec![long_topic.clone()], echo, None).await.expect_err("refused");
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    assert!(err.message().contains("NATS subject"), "{err}");
    let err = client
        .request_single::<Ping, Pong>(&SINGLE, vec![long_topic], &ping("x"), RequestOptions::default())
        .await
        .expect_err("refused");
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    subscriptions_settle_at(&bus, baseline).await;

    // The shared connection never dropped, and it still carries calls.
    server.register_unary(&SINGLE, vec!["short".into()], echo, None).await.expect("register");
    let reply = client
        .request_single::<Ping, Pong>(&SINGLE, vec!["short".into()], &ping("ok"), RequestOptions::default())
        .await
        .expect("reply");
    assert_eq!(reply.message.text, "ok");
    assert_eq!(connects(&bus), 1, "no reconnect happened");
}

/// A server with a small `max_payload`: every kind of frame over it fails
/// at once with `resource_exhausted`, the connection never drops (the
/// server would close it on such a `PUB`), and what else runs on it goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_over_max_payload_fail_at_once_and_the_connection_stays_up() {
    let Some(nats) = skip_or_fail(NatsServer::start_with_config("max_payload: 65536")) else { return };
    let bus = connect(&nats).await;
    assert_eq!(bus.max_frame_size(), 65_536);
    let refusal = Refusal { limit: 65_536, origin: "the NATS server's max_payload", place: "subject" };
    oversized_frames_fail_at_once(Arc::new(bus.clone()), refusal).await;
    assert_eq!(connects(&bus), 1, "no reconnect happened");
}

#[tokio::test]
async fn the_bus_refuses_subjects_the_server_would_refuse() {
    let Some(nats) = common::server() else { return };
    let bus = connect(&nats).await;
    let too_long = request_channel("Svc", "M", &["x".repeat(MAX_SUBJECT_LEN)], false);
    let spaced = response_channel("Svc", "CLI a");
    let wildcard = response_channel("Svc", "*");
    for ch in [&too_long, &spaced, &wildcard] {
        let err = bus.subscribe(ch, 1).await.expect_err("subscribe refused");
        assert_eq!(err.kind(), BusErrorKind::InvalidChannel, "{err}");
        let err = bus.publish(ch, Bytes::from_static(b"x")).await.expect_err("publish refused");
        assert_eq!(err.kind(), BusErrorKind::InvalidChannel, "{err}");
    }
    assert_eq!(bus.subject_subscriptions(), 0);
    assert_eq!(connects(&bus), 1);
}

/// A server configured with a shorter control line than the bus assumes
/// refuses a `SUB` the bus let through and closes the connection: the
/// subscribe fails, and its router and subscription are gone, so the
/// reconnected connection is not killed again by the same `SUB`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_the_server_refuses_leaves_nothing_behind() {
    let Some(nats) = skip_or_fail(NatsServer::start_with_config("max_control_line: 512")) else { return };
    let bus = connect(&nats).await;
    let refused = response_channel("Svc", &format!("CLI_{}", "x".repeat(600)));
    let err = bus.subscribe(&refused, 1).await.expect_err("the server closed the connection");
    assert_eq!(err.kind(), BusErrorKind::Unavailable, "{err}");
    subscriptions_settle_at(&bus, 0).await;

    // The connection comes back and stays: later subscriptions are confirmed
    // and carry frames.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let ok = response_channel("Svc", "CLI_ok");
    let mut sub = loop {
        match bus.subscribe(&ok, 4).await {
            Ok(sub) => break sub,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "never recovered: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let after = connects(&bus);
    for n in 0..20u8 {
        let frame = Bytes::from(psrpc_test_support::handmade::frame("t", &[n], ""));
        bus.publish(&ok, frame.clone()).await.expect("publish");
        let got = tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.expect("delivered");
        assert_eq!(got.expect("open").expect("frame"), frame);
        let extra = bus.subscribe(&response_channel("Svc", &format!("CLI_{n}")), 1).await.expect("confirmed");
        drop(extra);
    }
    assert_eq!(connects(&bus), after, "no further disconnects: the refused SUB was not sent again");
    subscriptions_settle_at(&bus, 1).await;
}
