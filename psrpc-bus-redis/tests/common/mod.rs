//! Helpers shared by the Redis integration tests.
#![allow(dead_code, unused_imports, unreachable_pub)]

use std::sync::Arc;

use psrpc_bus_redis::RedisBus;
use psrpc_core::SharedBus;
use psrpc_test_support::Served;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::redis::RedisServer;
pub use psrpc_test_support::redis::{own_server, server};

/// A new bus connection to `server`.
pub async fn bus(server: &RedisServer) -> SharedBus {
    Arc::new(RedisBus::connect(server.url(), Default::default()).await.expect("connect"))
}

/// `server`, with a new bus connection to it per [`BusFactory::connect`](psrpc_test_support::BusFactory::connect).
pub fn served(server: RedisServer) -> Served<RedisServer> {
    Served::new(server, |server| Box::pin(bus(server)))
}

/// A plain redis-rs client, playing a peer that is not psrpc-rs.
pub fn raw(server: &RedisServer) -> redis::Client {
    redis::Client::open(server.url()).expect("raw client")
}

/// A `redis-server` of its own with an admin password and a user
/// `noscript` that may do everything but run scripts, as a deployment whose
/// ACL refuses `EVAL`: the server, the admin's URL and the user's URL.
pub async fn server_without_scripts() -> Option<(RedisServer, String, String)> {
    server_with_user("noscript", &["+@all", "-@scripting"]).await
}

/// A `redis-server` of its own with an admin password and a user `name`
/// (password `pw`, every key and channel) allowed the commands `rules`
/// say (ACL rules such as `+@all`, `-config`): the server, the admin's URL
/// and the user's URL.
pub async fn server_with_user(name: &str, rules: &[&str]) -> Option<(RedisServer, String, String)> {
    let redis = skip_or_fail(RedisServer::start_with(&["--requirepass", "adminpw"]))?;
    let admin_url = redis.url().replace("redis://", "redis://default:adminpw@");
    let admin = redis::Client::open(admin_url.as_str()).expect("admin");
    let mut admin = admin.get_multiplexed_async_connection().await.expect("admin connection");
    let _: String = redis::cmd("ACL")
        .arg(&["SETUSER", name, "on", ">pw", "~*", "&*"][..])
        .arg(rules)
        .query_async(&mut admin)
        .await
        .expect("create ACL user");
    let user_url = redis.url().replace("redis://", &format!("redis://{name}:pw@"));
    Some((redis, admin_url, user_url))
}
