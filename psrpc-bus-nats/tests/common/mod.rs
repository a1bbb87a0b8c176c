//! Helpers shared by the NATS integration tests.
#![allow(dead_code, unused_imports, unreachable_pub)]

use std::sync::Arc;

use psrpc_bus_nats::NatsBus;
use psrpc_core::SharedBus;
use psrpc_test_support::Served;
use psrpc_test_support::nats::NatsServer;
pub use psrpc_test_support::nats::{own_server, server};

/// A new bus connection to `server`.
pub async fn bus(server: &NatsServer) -> SharedBus {
    Arc::new(NatsBus::connect(server.url(), Default::default()).await.expect("connect"))
}

/// `server`, with a new bus connection to it per [`BusFactory::connect`](psrpc_test_support::BusFactory::connect).
pub fn served(server: NatsServer) -> Served<NatsServer> {
    Served::new(server, |server| Box::pin(bus(server)))
}

/// A plain async-nats connection, playing a peer that is not psrpc-rs.
pub async fn raw(server: &NatsServer) -> async_nats::Client {
    async_nats::connect(server.url()).await.expect("raw connect")
}
