//! A Redis Cluster of 3 masters + 3 replicas: both suites with classic and
//! with sharded pub/sub, and a master killed under load.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::{BoxFuture, join_all};
use psrpc_bus_redis::{RedisBus, RedisBusOptions};
use psrpc_core::transport::channel::request_channel;
use psrpc_core::{MessageBus as _, SharedBus};
use psrpc_test_support::BusFactory;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::resilience::republish_until_delivered;
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

psrpc_test_support::bus_suites!(conformance_classic, rpc_classic: classic());
psrpc_test_support::bus_suites!(conformance_sharded, rpc_sharded: sharded());

/// Two tests running the check `$check` on a cluster: one with classic, one
/// with sharded pub/sub.
macro_rules! on_both_topologies {
    ($check:ident: $classic:ident, $sharded:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $classic() {
            let Some(topology) = classic() else { return };
            $check(topology).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sharded() {
            let Some(topology) = sharded() else { return };
            $check(topology).await;
        }
    };
}

/// How often a frame is published again until it is delivered.
const EVERY: Duration = Duration::from_millis(50);

/// A burst of publishes that takes Redis far longer than the response
/// timeout to answer succeeds whole: a publish's timeout starts at its turn
/// to send, not while it waits behind this process's other commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_longer_than_the_response_timeout_succeeds() {
    let Some(topology) = sharded() else { return };
    let url = format!("{}{}", topology.cluster.url(), topology.query);
    let timeout = Duration::from_millis(500);
    let bus = RedisBus::connect(&url, RedisBusOptions::default().response_timeout(timeout)).await.expect("connect");
    let service = psrpc_test_support::unique_name("Burst");
    let channels: Vec<_> = (0..64).map(|i| request_channel(&service, "Burst", &[i.to_string()], false)).collect();
    let frame = Bytes::from(vec![0x5a; 128]);

    let started = Instant::now();
    // 50,000 publishes take a test build seconds; a turn of 64 commands
    // takes well under the timeout, even beside the rest of this file's tests.
    let results = join_all((0..50_000).map(|i| bus.publish(&channels[i % channels.len()], frame.clone()))).await;
    let elapsed = started.elapsed();

    assert!(elapsed > 2 * timeout, "the burst took {elapsed:?}: too short to outlast the response timeout");
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "{} of 50,000 publishes failed, e.g. {}", failed.len(), failed[0]);
}

/// A burst of 20,000 queue frames on a cluster, with a 200 ms response
/// timeout, reaches exactly one of two queue subscribers each: the burst of
/// queue locks it sets off loses no frame and doubles none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_burst_longer_than_the_response_timeout_loses_nothing() {
    let Some(topology) = sharded() else { return };
    let url = format!("{}{}", topology.cluster.url(), topology.query);
    let options = RedisBusOptions::default().response_timeout(Duration::from_millis(200));
    let connect = || RedisBus::connect(&url, options.clone());
    let (a, b, publisher) = (connect().await.expect("a"), connect().await.expect("b"), connect().await.expect("p"));
    let channel = request_channel(&psrpc_test_support::unique_name("QueueBurst"), "Burst", &["t"], true);
    const FRAMES: usize = 20_000;
    let mut subscriptions =
        [a.subscribe_queue(&channel, FRAMES).await.expect("a"), b.subscribe_queue(&channel, FRAMES).await.expect("b")];

    let results = join_all((0..FRAMES).map(|i| publisher.publish(&channel, Bytes::from(i.to_string())))).await;
    assert!(results.iter().all(Result::is_ok), "every publish succeeds");
    // Every frame once: a frame taken twice would show as a repeat here.
    let mut seen = HashSet::new();
    let [first, second] = &mut subscriptions;
    let all = async {
        while seen.len() < FRAMES {
            let frame = tokio::select! {
                Some(frame) = first.recv() => frame,
                Some(frame) = second.recv() => frame,
            };
            let frame = frame.expect("a frame");
            assert!(seen.insert(frame.clone()), "frame {frame:?} delivered twice");
        }
    };
    let outcome = tokio::time::timeout(Duration::from_secs(30), all).await;
    assert!(outcome.is_ok(), "{} of {FRAMES} frames delivered", seen.len());
}

async fn failover(topology: Cluster) {
    let kill = |topology: &mut Cluster| {
        topology.cluster.kill_master_of(0).expect("kill a master");
    };
    let (report, topology) = psrpc_test_support::failover::kill_under_load(topology, kill).await;
    eprintln!("Cluster master killed ({}): {report:?}", topology.query);
}

on_both_topologies!(failover: killing_a_master_under_load_classic, killing_a_master_under_load_sharded);

async fn resharding(topology: Cluster) {
    let subscriber = topology.bus().await;
    let publisher = topology.bus().await;
    let channel = psrpc_core::transport::channel::response_channel(
        &psrpc_test_support::unique_name("Reshard"),
        "CLI_reshard000000",
    );
    let mut sub = subscriber.subscribe(&channel, 100).await.expect("subscribe");
    let frame = |text: &str| bytes::Bytes::from(psrpc_test_support::handmade::frame("t", text.as_bytes(), ""));
    republish_until_delivered(&publisher, &channel, frame("before"), &mut sub, EVERY).await;
    let cluster = &topology.cluster;
    let slot = cluster.slot_of(&channel.legacy).expect("slot");
    let owner = cluster.master_of_slot(slot).expect("owner");
    let to = cluster.masters().into_iter().find(|&m| m != owner).expect("another master");
    cluster.move_slot(slot, to).expect("reshard");
    republish_until_delivered(&publisher, &channel, frame("after"), &mut sub, EVERY).await;
}

on_both_topologies!(resharding: subscriptions_survive_resharding_classic, subscriptions_survive_resharding_sharded);

/// After every client connection is cut (twice), each classic channel is
/// subscribed by exactly one connection in the whole cluster: a second
/// subscription on another node would deliver every frame twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_leaves_each_classic_channel_subscribed_once() {
    let Some(topology) = classic() else { return };
    let subscriber = topology.bus().await;
    let publisher = topology.bus().await;
    let service = psrpc_test_support::unique_name("Cut");
    let channels: Vec<_> = (0..30)
        .map(|i| psrpc_core::transport::channel::response_channel(&service, &format!("CLI_cut{i:012}")))
        .collect();
    let mut subs = Vec::new();
    for channel in &channels {
        subs.push(subscriber.subscribe(channel, 100).await.expect("subscribe"));
    }
    let frame = |text: String| bytes::Bytes::from(psrpc_test_support::handmade::frame("t", text.as_bytes(), ""));
    for round in 0..2 {
        assert!(topology.cluster.cut_clients() > 0, "the buses were connected");
        for (i, (channel, sub)) in channels.iter().zip(&mut subs).enumerate() {
            republish_until_delivered(&publisher, channel, frame(format!("{round}-{i}")), sub, EVERY).await;
        }
        for channel in &channels {
            assert_eq!(topology.cluster.subscribers(&channel.legacy), 1, "round {round}: {channel}");
        }
    }
}
