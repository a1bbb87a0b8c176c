//! Redis behind Sentinels: both suites through the master the Sentinels
//! name, and a failover under load (the master killed).

use std::sync::Arc;
use std::time::Duration;

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

mod conformance {
    use super::sentinel;
    psrpc_test_support::bus_conformance!(sentinel());
}

mod rpc {
    use super::sentinel;
    psrpc_test_support::rpc_suite!(sentinel());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_master_under_load_fails_over_and_loses_nothing() {
    let Some(topology) = sentinel() else { return };
    let servers = vec![topology.bus().await, topology.bus().await];
    let clients = vec![topology.bus().await, topology.bus().await];
    let topology = parking_lot::Mutex::new(topology);
    let report = psrpc_test_support::failover::calls_survive_a_failover(
        servers,
        clients,
        || {
            topology.lock().0.kill_master().expect("kill the master");
        },
        Duration::from_secs(2),
        psrpc_test_support::failover::RECOVERY_PATIENCE,
    )
    .await;
    eprintln!("Sentinel master killed: {report:?}");
}
