//! A Redis Cluster of 3 masters + 3 replicas: both suites with classic and
//! with sharded pub/sub, and a master killed under load.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use psrpc_bus_redis::{RedisBus, RedisBusOptions};
use psrpc_core::SharedBus;
use psrpc_test_support::BusFactory;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::topology::RedisCluster;

/// Connections by `redis+cluster://` URL, with `query` appended.
struct Cluster {
    cluster: RedisCluster,
    query: &'static str,
}

impl Cluster {
    async fn bus(&self) -> SharedBus {
        let url = format!("{}{}", self.cluster.url(), self.query);
        Arc::new(RedisBus::connect(&url, RedisBusOptions::default()).await.expect("connect to the cluster"))
    }
}

impl BusFactory for Cluster {
    fn connect(&self) -> BoxFuture<'_, SharedBus> {
        Box::pin(self.bus())
    }
}

fn classic() -> Option<Cluster> {
    skip_or_fail(RedisCluster::start(3)).map(|cluster| Cluster { cluster, query: "" })
}

fn sharded() -> Option<Cluster> {
    skip_or_fail(RedisCluster::start(3)).map(|cluster| Cluster { cluster, query: "?pubsub=sharded" })
}

mod conformance_classic {
    use super::classic;
    psrpc_test_support::bus_conformance!(classic());
}

mod conformance_sharded {
    use super::sharded;
    psrpc_test_support::bus_conformance!(sharded());
}

mod rpc_classic {
    use super::classic;
    psrpc_test_support::rpc_suite!(classic());
}

mod rpc_sharded {
    use super::sharded;
    psrpc_test_support::rpc_suite!(sharded());
}

async fn failover(topology: Cluster) {
    let servers = vec![topology.bus().await, topology.bus().await];
    let clients = vec![topology.bus().await, topology.bus().await];
    let topology = parking_lot::Mutex::new(topology);
    let report = psrpc_test_support::failover::calls_survive_a_failover(
        servers,
        clients,
        || {
            topology.lock().cluster.kill_master_of(0).expect("kill a master");
        },
        Duration::from_secs(2),
        Duration::from_secs(15),
    )
    .await;
    eprintln!("Cluster master killed ({}): {report:?}", topology.lock().query);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_master_under_load_classic() {
    let Some(topology) = classic() else { return };
    failover(topology).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_master_under_load_sharded() {
    let Some(topology) = sharded() else { return };
    failover(topology).await;
}
