//! Helpers shared by the NATS integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use psrpc_bus_nats::NatsBus;
use psrpc_core::SharedBus;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::nats::NatsServer;

/// A fresh `nats-server`, or `None` when the binary is missing outside CI.
pub fn server() -> Option<NatsServer> {
    skip_or_fail(NatsServer::start())
}

/// A `nats-server` of the test's own (never the shared one named by the
/// environment), for tests that stop, pause or restart it.
pub fn own_server() -> Option<NatsServer> {
    skip_or_fail(NatsServer::start_own())
}

/// A new bus connection to `server`.
pub async fn bus(server: &NatsServer) -> SharedBus {
    Arc::new(NatsBus::connect(server.url(), Default::default()).await.expect("connect"))
}

/// A plain async-nats connection, playing a peer that is not psrpc-rs.
pub async fn raw(server: &NatsServer) -> async_nats::Client {
    async_nats::connect(server.url()).await.expect("raw connect")
}
