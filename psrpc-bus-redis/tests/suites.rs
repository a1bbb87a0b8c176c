//! The bus conformance suite and the RPC suite on a real `redis-server`.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use psrpc_bus_redis::RedisBus;
use psrpc_core::SharedBus;
use psrpc_test_support::BusFactory;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::redis::RedisServer;

/// New connections to one `redis-server` started for the test.
struct Redis(RedisServer);

impl BusFactory for Redis {
    fn connect(&self) -> BoxFuture<'_, SharedBus> {
        Box::pin(async move {
            let bus = RedisBus::connect(self.0.url(), Default::default()).await.expect("connect to redis-server");
            Arc::new(bus) as SharedBus
        })
    }
}

fn redis() -> Option<Redis> {
    skip_or_fail(RedisServer::start()).map(Redis)
}

mod conformance {
    use super::redis;
    psrpc_test_support::bus_conformance!(redis());
}

mod rpc {
    use super::redis;
    psrpc_test_support::rpc_suite!(redis());
}
