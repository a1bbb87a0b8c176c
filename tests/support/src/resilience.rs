//! The resilience checks the broker buses share: readiness rounds, a
//! service refusing oversized frames and surviving garbage, and delivery
//! resuming after an outage.

use std::time::Duration;

use bytes::Bytes;
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::transport::bus::Subscription;
use psrpc_core::transport::channel::{Channel, request_channel, response_channel};
use psrpc_core::{BusErrorKind, ErrorCode, MessageBus, RpcClient, RpcServer, SharedBus};

use crate::interop::SINGLE;
use crate::rpc_suite::{Ping, Pong, echo, ping};

/// Round `n` of a readiness check: a response channel of its own, a
/// subscription to it on `subscriber`, and the frame to publish there.
///
/// ```no_run
/// # async fn f(subscriber: psrpc_core::SharedBus) {
/// let (channel, mut sub, frame) = psrpc_test_support::resilience::readiness_round(&subscriber, "Ready", 7).await;
/// subscriber.publish(&channel, frame.clone().into()).await.expect("publish");
/// psrpc_test_support::resilience::assert_delivered(&mut sub, &frame, 7).await;
/// # }
/// ```
pub async fn readiness_round(subscriber: &SharedBus, svc: &str, n: u32) -> (Channel, Subscription, Vec<u8>) {
    let ch = response_channel(svc, &format!("CLI_{n:012}"));
    let sub = subscriber.subscribe(&ch, 2).await.expect("subscribe");
    let frame = crate::handmade::frame("type.googleapis.com/internal.Request", &n.to_le_bytes(), "");
    (ch, sub, frame)
}

/// Asserts that `sub` yields `frame` within 5 s (round `n`).
///
/// ```no_run
/// # async fn f(mut sub: psrpc_core::transport::bus::Subscription) {
/// psrpc_test_support::resilience::assert_delivered(&mut sub, b"frame", 0).await;
/// # }
/// ```
pub async fn assert_delivered(sub: &mut Subscription, frame: &[u8], n: u32) {
    let got = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .unwrap_or_else(|_| panic!("iteration {n}: not delivered"))
        .expect("open");
    assert_eq!(got.expect("frame").as_ref(), frame, "iteration {n}");
}

/// A service of its own (`Fuzz…`) answering [`SINGLE`] with [`echo`] on
/// `server_bus`, and a client of it on `client_bus`.
///
/// ```no_run
/// # async fn f(a: psrpc_core::SharedBus, b: psrpc_core::SharedBus) {
/// let (svc, _server, client) = psrpc_test_support::resilience::fuzz_service(a, b).await;
/// psrpc_test_support::resilience::assert_still_serving(&client).await;
/// # let _ = svc; }
/// ```
pub async fn fuzz_service(server_bus: SharedBus, client_bus: SharedBus) -> (String, RpcServer, RpcClient) {
    let svc = crate::unique_name("Fuzz");
    let server = RpcServer::new(svc.as_str(), server_bus, ServerOptions::default());
    server.register_unary(&SINGLE, vec![], echo, None).await.expect("register");
    let client = RpcClient::new(svc.as_str(), client_bus, ClientOptions::default()).await.expect("client");
    (svc, server, client)
}

/// Asserts that a request of `size` bytes fails with `resource_exhausted`
/// at `client`, and that a frame of `size` bytes to `svc` is refused by
/// `bus`, whose limit is `limit`.
///
/// ```no_run
/// # async fn f(client: psrpc_core::RpcClient, bus: psrpc_core::SharedBus) {
/// psrpc_test_support::resilience::assert_oversized_refused(&client, &*bus, "Fuzz", 5000, 4096).await;
/// # }
/// ```
pub async fn assert_oversized_refused(client: &RpcClient, bus: &dyn MessageBus, svc: &str, size: usize, limit: usize) {
    let big = Ping { text: "x".repeat(size), delay_ms: 0 };
    let err = client
        .request_single::<Ping, Pong>(&SINGLE, vec![], &big, RequestOptions::default())
        .await
        .expect_err("too big");
    assert_eq!(err.code(), ErrorCode::ResourceExhausted, "{err}");
    let ch = request_channel(svc, "Single", &[] as &[&str], true);
    let refused = bus.publish(&ch, Bytes::from(vec![0u8; size])).await.expect_err("too big");
    assert_eq!(refused.kind(), BusErrorKind::FrameTooLarge { size, limit });
}

/// Asserts that `client`'s [`SINGLE`] calls are still answered.
///
/// ```no_run
/// # async fn f(client: psrpc_core::RpcClient) {
/// psrpc_test_support::resilience::assert_still_serving(&client).await;
/// # }
/// ```
pub async fn assert_still_serving(client: &RpcClient) {
    let reply = client
        .request_single::<Ping, Pong>(&SINGLE, vec![], &ping("still"), RequestOptions::default())
        .await
        .expect("still working");
    assert_eq!(reply.message.text, "still");
}

/// Publishes `frame` on `channel` every `every` until `sub` yields it
/// (other frames are skipped, failed publishes tried again at the next
/// tick): delivery resumes after an outage, a restart or a resharding.
/// Fails after 10 s, or when the subscription ends.
///
/// ```no_run
/// # async fn f(bus: psrpc_core::SharedBus, mut sub: psrpc_core::transport::bus::Subscription) {
/// use std::time::Duration;
/// let channel = psrpc_core::transport::channel::response_channel("Svc", "CLI_x");
/// let frame = bytes::Bytes::from(psrpc_test_support::handmade::frame("t", b"after", ""));
/// psrpc_test_support::resilience::republish_until_delivered(&bus, &channel, frame, &mut sub, Duration::from_millis(20)).await;
/// # }
/// ```
pub async fn republish_until_delivered(
    bus: &SharedBus,
    channel: &Channel,
    frame: Bytes,
    sub: &mut Subscription,
    every: Duration,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            got = sub.recv() => match got {
                Some(Ok(f)) if f == frame => return,
                Some(_) => {}
                None => panic!("the subscription to {channel} ended"),
            },
            _ = tick.tick() => {
                assert!(tokio::time::Instant::now() < deadline, "{channel}: nothing delivered within 10 s");
                let _ = bus.publish(channel, frame.clone()).await;
            }
        }
    }
}
