//! The bus conformance suite and the RPC suite on a real `nats-server`.

mod common;

use futures_util::future::BoxFuture;
use psrpc_core::SharedBus;
use psrpc_test_support::BusFactory;
use psrpc_test_support::nats::NatsServer;

/// New connections to one `nats-server` started for the test.
struct Nats(NatsServer);

impl BusFactory for Nats {
    fn connect(&self) -> BoxFuture<'_, SharedBus> {
        Box::pin(common::bus(&self.0))
    }
}

fn nats() -> Option<Nats> {
    common::server().map(Nats)
}

psrpc_test_support::bus_suites!(conformance, rpc: nats());
