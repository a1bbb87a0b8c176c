//! The bus conformance suite and the RPC suite on a real `redis-server`.

mod common;

use psrpc_test_support::Served;
use psrpc_test_support::redis::RedisServer;

fn redis() -> Option<Served<RedisServer>> {
    common::server().map(common::served)
}

psrpc_test_support::bus_suites!(conformance, rpc: redis());
