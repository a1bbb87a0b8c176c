//! The bus conformance suite and the RPC suite on a real `redis-server`.

mod common;

use futures_util::future::BoxFuture;
use psrpc_core::SharedBus;
use psrpc_test_support::BusFactory;
use psrpc_test_support::redis::RedisServer;

/// New connections to one `redis-server` started for the test.
struct Redis(RedisServer);

impl BusFactory for Redis {
    fn connect(&self) -> BoxFuture<'_, SharedBus> {
        Box::pin(common::bus(&self.0))
    }
}

fn redis() -> Option<Redis> {
    common::server().map(Redis)
}

psrpc_test_support::bus_suites!(conformance, rpc: redis());
