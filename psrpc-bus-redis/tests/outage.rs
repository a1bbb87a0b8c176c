//! Redis outages fail fast: while the bus knows Redis is down, calls and
//! every kind of publish fail at once with `unavailable`, a hung Redis fails
//! a publish after the bus's bounded time, and the bus recovers by itself.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use psrpc_bus_redis::{RedisBus, RedisBusOptions};
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::transport::channel::{claim_request_channel, request_channel, response_channel};
use psrpc_core::{BusErrorKind, ErrorCode, MethodInfo, RpcClient, RpcServer, SharedBus};
use psrpc_test_support::rpc_suite::{Ping, Pong, echo, ping};
use tokio::time::Instant;

static SINGLE: MethodInfo =
    MethodInfo::new("Single", psrpc_core::MethodKind::Unary(psrpc_core::Selection::Queue { topics: false }));

/// The response timeout of the buses whose operations must be refused
/// without waiting for it: a refusal that waited would take this long.
const PATIENT: Duration = Duration::from_secs(60);

/// What "without waiting for the response timeout" allows: half of it, a
/// margin no loaded machine comes near.
const WITHOUT_WAITING: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_while_redis_is_down_and_recover_by_themselves() {
    let Some(mut redis) = common::own_server() else { return };
    let service = psrpc_test_support::unique_name("Outage");
    let patient = || RedisBus::connect(redis.url(), RedisBusOptions::default().response_timeout(PATIENT));
    let server_bus: SharedBus = Arc::new(patient().await.expect("connect"));
    let client_bus: SharedBus = Arc::new(patient().await.expect("connect"));
    let server = RpcServer::new(service.as_str(), Arc::clone(&server_bus), ServerOptions::default());
    server.register_unary(&SINGLE, vec![], echo, None).await.expect("register");
    let timeout = Duration::from_secs(3);
    let client = RpcClient::new(service.as_str(), Arc::clone(&client_bus), ClientOptions::default().timeout(timeout))
        .await
        .expect("client");
    let request = ping("x");
    let call = || client.request_single::<Ping, Pong>(&SINGLE, vec![], &request, RequestOptions::default());
    call().await.expect("before");

    redis.stop();
    for attempt in 0..5 {
        // `unavailable`, where a call that waited for Redis would end `deadline_exceeded`.
        let err = call().await.expect_err("Redis is down");
        assert_eq!(err.code(), ErrorCode::Unavailable, "attempt {attempt}: {err}");
    }
    // The bus knows by now: client- and server-side publishes, claims and
    // subscribes are refused at once.
    let requests = request_channel(service.as_str(), "Single", &[] as &[&str], true);
    let claims = claim_request_channel(service.as_str(), "CLI_outage000000");
    let frame = Bytes::from_static(b"frame");
    for bus in [&client_bus, &server_bus] {
        let refusals = async {
            let err = bus.publish(&requests, frame.clone()).await.expect_err("publish refused");
            assert_eq!(err.kind(), BusErrorKind::Unavailable, "{err}");
            let err = bus.publish_claim(&frame, &claims, frame.clone()).await.expect_err("claim refused");
            assert_eq!(err.kind(), BusErrorKind::Unavailable, "{err}");
            let err = bus.subscribe(&response_channel("Outage", "CLI_x"), 1).await.expect_err("subscribe refused");
            assert_eq!(err.kind(), BusErrorKind::Unavailable, "{err}");
        };
        let refused = tokio::time::timeout(WITHOUT_WAITING, refusals).await;
        assert!(refused.is_ok(), "refused without waiting for the {PATIENT:?} response timeout");
    }

    redis.restart().expect("restart");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        match call().await {
            Ok(reply) => break assert_eq!(reply.server_id, server.id()),
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::Unavailable, "{e}");
                assert!(Instant::now() < deadline, "the bus did not recover: {e}");
            }
        }
    }
    for n in 0..20 {
        call().await.unwrap_or_else(|e| panic!("call {n} after recovery: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_to_a_hung_redis_fails_after_the_response_timeout() {
    let Some(redis) = common::own_server() else { return };
    let bound = Duration::from_millis(500);
    let options = RedisBusOptions::default().response_timeout(bound);
    let bus: SharedBus = Arc::new(RedisBus::connect(redis.url(), options).await.expect("connect"));
    let ch = response_channel("Hung", "CLI_x");
    bus.publish(&ch, Bytes::from_static(b"before")).await.expect("publish");

    redis.pause();
    let started = Instant::now();
    let publish = tokio::time::timeout(WITHOUT_WAITING, bus.publish(&ch, Bytes::from_static(b"hung"))).await;
    let elapsed = started.elapsed();
    redis.resume();
    let err = publish.expect("ended by the response timeout, not hung").expect_err("no answer");
    assert_eq!(err.kind(), BusErrorKind::Unavailable, "{err}");
    assert!(elapsed >= bound - Duration::from_millis(50), "not before the response timeout: {elapsed:?}");

    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = bus.publish(&ch, Bytes::from_static(b"after")).await {
        assert!(Instant::now() < deadline, "publishes did not recover: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
