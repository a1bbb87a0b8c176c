//! The bus conformance suite and the RPC suite on a real `nats-server`.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use psrpc_bus_nats::NatsBus;
use psrpc_core::SharedBus;
use psrpc_test_support::BusFactory;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::nats::NatsServer;

/// New connections to one `nats-server` started for the test.
struct Nats(NatsServer);

impl BusFactory for Nats {
    fn connect(&self) -> BoxFuture<'_, SharedBus> {
        Box::pin(async move {
            let bus = NatsBus::connect(self.0.url(), Default::default()).await.expect("connect to nats-server");
            Arc::new(bus) as SharedBus
        })
    }
}

fn nats() -> Option<Nats> {
    skip_or_fail(NatsServer::start()).map(Nats)
}

mod conformance {
    use super::nats;
    psrpc_test_support::bus_conformance!(nats());
}

mod rpc {
    use super::nats;
    psrpc_test_support::rpc_suite!(nats());
}
