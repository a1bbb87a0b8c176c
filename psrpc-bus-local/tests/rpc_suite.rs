//! The RPC suite on the in-process bus.

use futures_util::future::BoxFuture;
use psrpc_bus_local::LocalBus;
use psrpc_core::SharedBus;
use psrpc_test_support::BusFactory;

/// Connections to one in-process bus.
struct Local(LocalBus);

impl BusFactory for Local {
    fn connect(&self) -> BoxFuture<'_, SharedBus> {
        Box::pin(async move { std::sync::Arc::new(self.0.clone()) as SharedBus })
    }
}

fn local() -> Option<Local> {
    Some(Local(LocalBus::new()))
}

psrpc_test_support::rpc_suite!(local());
