//! The bus conformance suite and the RPC suite on the in-process bus.

use std::sync::Arc;

use psrpc_bus_local::LocalBus;
use psrpc_test_support::SameBus;

fn local() -> Option<SameBus> {
    Some(SameBus(Arc::new(LocalBus::new())))
}

psrpc_test_support::bus_suites!(conformance, rpc: local());
