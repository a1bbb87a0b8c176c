//! Helpers shared by the Redis integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use psrpc_bus_redis::RedisBus;
use psrpc_core::SharedBus;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::redis::RedisServer;

/// A fresh `redis-server`, or `None` when the binary is missing outside CI.
pub fn server() -> Option<RedisServer> {
    skip_or_fail(RedisServer::start())
}

/// A `redis-server` of the test's own (never the shared one named by the
/// environment), for tests that stop, pause or restart it.
pub fn own_server() -> Option<RedisServer> {
    skip_or_fail(RedisServer::start_own())
}

/// A new bus connection to `server`.
pub async fn bus(server: &RedisServer) -> SharedBus {
    Arc::new(RedisBus::connect(server.url(), Default::default()).await.expect("connect"))
}

/// A plain redis-rs client, playing a peer that is not psrpc-rs.
pub fn raw(server: &RedisServer) -> redis::Client {
    redis::Client::open(server.url()).expect("raw client")
}
