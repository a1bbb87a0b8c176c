//! Channel names over the bus's limit are refused before anything reaches
//! Redis, and the refusal leaves no subscription behind.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::transport::bus::MAX_CHANNEL_NAME_LEN;
use psrpc_core::transport::channel::request_channel;
use psrpc_core::{BusErrorKind, ErrorCode, MethodInfo, RpcClient, RpcServer};
use psrpc_test_support::rpc_suite::{Ping, Pong, echo, ping};

static SINGLE: MethodInfo =
    MethodInfo::new("Single", psrpc_core::MethodKind::Unary(psrpc_core::Selection::Queue { topics: false }));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_channel_is_refused_with_invalid_argument_and_leaves_nothing() {
    let Some(redis) = common::server() else { return };
    let bus = common::bus(&redis).await;
    let service = psrpc_test_support::unique_name("Limits");
    let long_topic = "t".repeat(MAX_CHANNEL_NAME_LEN);

    let long = request_channel(service.as_str(), "Single", &[long_topic.as_str()], false);
    let err = bus.subscribe(&long, 1).await.expect_err("refused");
    assert_eq!(err.kind(), BusErrorKind::InvalidChannel, "{err}");
    let err = bus.publish(&long, Bytes::from_static(b"x")).await.expect_err("refused");
    assert_eq!(err.kind(), BusErrorKind::InvalidChannel, "{err}");

    let server = RpcServer::new(service.as_str(), Arc::clone(&bus), ServerOptions::default());
    let err = server.register_unary(&SINGLE, vec![long_topic.clone()], echo, None).await.expect_err("refused");
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    let client = RpcClient::new(service.as_str(), Arc::clone(&bus), ClientOptions::default()).await.expect("client");
    let err = client
        .request_single::<Ping, Pong>(&SINGLE, vec![long_topic], &ping("x"), RequestOptions::default())
        .await
        .expect_err("refused");
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");

    let mut raw = common::raw(&redis).get_multiplexed_async_connection().await.expect("conn");
    let pattern = format!("{service}|Single|*");
    let subscribed: Vec<String> =
        redis::cmd("PUBSUB").arg("CHANNELS").arg(&pattern).query_async(&mut raw).await.expect("pubsub");
    assert!(subscribed.is_empty(), "nothing was subscribed: {subscribed:?}");
    // The bus keeps working.
    server.register_unary(&SINGLE, vec![], echo, None).await.expect("register");
    let reply = client
        .request_single::<Ping, Pong>(&SINGLE, vec![], &ping("ok"), RequestOptions::default())
        .await
        .expect("reply");
    assert_eq!(reply.message.text, "ok");
}
