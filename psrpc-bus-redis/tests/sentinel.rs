//! Redis behind Sentinels: both suites through the master the Sentinels
//! name, and a failover under load (the master killed).

use std::sync::Arc;

use futures_util::StreamExt as _;
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

/// A master the Sentinels replaced but that still answers as a master (here
/// pinned: it refuses to be made a replica) never disconnects the bus, so
/// only the Sentinels' `+switch-master` tells the bus to move: its
/// publishes must reach subscribers of the new master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_leaves_a_replaced_master_that_still_answers() {
    let Some(topology) = sentinel() else { return };
    let bus = topology.bus().await;
    let old = topology.0.pin_master().expect("pin the master");
    let new = tokio::task::spawn_blocking(move || {
        let new = topology.0.force_failover().expect("fail over");
        (topology, new)
    });
    let (topology, new) = new.await.expect("failover task");
    assert_ne!(old, new);

    let client = redis::Client::open(format!("redis://127.0.0.1:{new}")).expect("client");
    let mut on_new = client.get_async_pubsub().await.expect("connect to the new master");
    on_new.subscribe("SwitchProbe|bus|RES").await.expect("subscribe");
    let mut messages = on_new.into_on_message();
    let channel = psrpc_protocol::channel::response_channel("SwitchProbe", "bus");
    assert_eq!(&*channel.legacy, "SwitchProbe|bus|RES");
    let received = async {
        loop {
            // Publishes fail while the bus moves; each one that is
            // acknowledged went to the master the bus is on.
            let _ = bus.publish(&channel, bytes::Bytes::from_static(b"probe")).await;
            tokio::select! {
                Some(message) = messages.next() => return message.get_payload::<Vec<u8>>().expect("payload"),
                () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            }
        }
    };
    let payload = tokio::time::timeout(std::time::Duration::from_secs(60), received)
        .await
        .expect("the bus's publishes reach the new master");
    assert_eq!(payload, b"probe");
    drop(topology);
}
