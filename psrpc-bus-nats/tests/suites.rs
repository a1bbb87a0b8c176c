//! The bus conformance suite and the RPC suite on a real `nats-server`.

mod common;

use psrpc_test_support::Served;
use psrpc_test_support::nats::NatsServer;

fn nats() -> Option<Served<NatsServer>> {
    common::server().map(common::served)
}

psrpc_test_support::bus_suites!(conformance, rpc: nats());
