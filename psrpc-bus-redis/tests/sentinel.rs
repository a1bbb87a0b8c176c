//! Redis behind Sentinels: both suites through the master the Sentinels
//! name, and a failover under load (the master killed).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use psrpc_bus_redis::{RedisBus, RedisBusOptions};
use psrpc_core::SharedBus;
use psrpc_test_support::BusFactory;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::topology::RedisSentinel;

/// Connections by `redis+sentinel://` URL.
struct Sentinel(RedisSentinel);

impl Sentinel {
    async fn bus(&self) -> SharedBus {
        Arc::new(
            RedisBus::connect(&self.0.url(), RedisBusOptions::default()).await.expect("connect through the Sentinels"),
        )
    }
}

impl BusFactory for Sentinel {
    fn connect(&self) -> BoxFuture<'_, SharedBus> {
        Box::pin(self.bus())
    }
}

fn sentinel() -> Option<Sentinel> {
    skip_or_fail(RedisSentinel::start()).map(Sentinel)
}

psrpc_test_support::bus_suites!(conformance, rpc: sentinel());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_master_under_load_fails_over_and_loses_nothing() {
    let Some(topology) = sentinel() else { return };
    let kill = |topology: &mut Sentinel| {
        topology.0.kill_master().expect("kill the master");
    };
    let (report, _) = psrpc_test_support::failover::kill_under_load(topology, kill).await;
    eprintln!("Sentinel master killed: {report:?}");
}
