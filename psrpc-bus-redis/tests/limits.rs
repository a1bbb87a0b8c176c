//! Channel names and frames over the bus's limits are refused before
//! anything reaches Redis, and the refusal leaves no subscription behind
//! and drops no connection.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use psrpc_bus_redis::{RedisBus, RedisBusOptions};
use psrpc_core::SharedBus;
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::transport::bus::MAX_CHANNEL_NAME_LEN;
use psrpc_core::transport::channel::request_channel;
use psrpc_core::{BusErrorKind, ErrorCode, MessageBus as _, MethodInfo, RpcClient, RpcServer};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::redis::RedisServer;
use psrpc_test_support::rpc_suite::{Ping, Pong, Refusal, echo, oversized_frames_fail_at_once, ping};

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

/// The ids of the clients connected to `redis`, but the asking one: a
/// reconnect replaces an id.
async fn client_ids(redis: &RedisServer) -> Vec<String> {
    let mut raw = common::raw(redis).get_multiplexed_async_connection().await.expect("conn");
    let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut raw).await.expect("client list");
    let mut ids: Vec<String> = list
        .lines()
        .filter(|line| !line.contains(" cmd=client|list "))
        .filter_map(|line| line.split(' ').next().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// A server whose `proto-max-bulk-len` (1 MiB, the least Redis accepts) is
/// below the bus's option: the server's limit applies, every kind of frame
/// over it fails at once (Redis would close the connection on the bulk),
/// and no connection was replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_over_proto_max_bulk_len_fail_at_once_and_no_connection_drops() {
    let Some(redis) = skip_or_fail(RedisServer::start_with(&["--proto-max-bulk-len", "1mb"])) else { return };
    let bus =
        RedisBus::connect(redis.url(), RedisBusOptions::default().max_frame_size(8 << 20)).await.expect("connect");
    let bus: SharedBus = Arc::new(bus);
    assert_eq!(bus.max_frame_size(), 1 << 20);
    let before = client_ids(&redis).await;
    let refusal = Refusal { limit: 1 << 20, origin: "the Redis server's proto-max-bulk-len", place: "channel" };
    oversized_frames_fail_at_once(Arc::clone(&bus), refusal).await;
    let after = client_ids(&redis).await;
    assert!(before.iter().all(|id| after.contains(id)), "connections replaced: {before:?} → {after:?}");
}

/// The bus's own option, below the server's limit, applies and is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_max_frame_size_option_below_the_server_limit_applies() {
    let Some(redis) = common::server() else { return };
    let bus = RedisBus::connect(redis.url(), RedisBusOptions::default().max_frame_size(65_536)).await.expect("connect");
    let refusal = Refusal { limit: 65_536, origin: "the Redis bus's max_frame_size option", place: "channel" };
    oversized_frames_fail_at_once(Arc::new(bus), refusal).await;
}

/// A user whose ACL refuses `CONFIG`: the bus assumes Redis's default
/// `proto-max-bulk-len` (512 MiB) and says so.
#[tokio::test]
async fn without_config_access_the_default_bulk_limit_is_assumed() {
    let Some((_redis, _, url)) = common::server_with_user("noconfig", &["+@all", "-config"]).await else { return };
    let bus = RedisBus::connect(&url, RedisBusOptions::default().max_frame_size(usize::MAX)).await.expect("connect");
    assert_eq!(bus.max_frame_size(), 512 << 20);
    let channel = request_channel("Svc", "M", &[] as &[&str], false);
    let err = bus.publish(&channel, Bytes::from(vec![0; (512 << 20) + 1])).await.expect_err("refused");
    assert_eq!(err.kind(), BusErrorKind::FrameTooLarge { size: (512 << 20) + 1, limit: 512 << 20 });
    assert!(err.to_string().contains("Redis's default proto-max-bulk-len (CONFIG GET was refused)"), "{err}");
}
