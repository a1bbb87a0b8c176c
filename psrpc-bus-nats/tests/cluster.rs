//! A 3-node NATS cluster: the suites with connections spread over the
//! nodes, "subscribe means ready" across nodes, and a node killed under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use psrpc_bus_nats::NatsBus;
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::{MethodInfo, MethodKind, RpcClient, RpcServer, Selection, SharedBus};
use psrpc_test_support::BusFactory;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::rpc_suite::{Ping, Pong, echo, ping};
use psrpc_test_support::topology::NatsCluster;
use psrpc_test_support::unique_name;

/// Connections to a 3-node cluster, each to the next node in turn (given
/// that node's URL only: the rest is learnt from the cluster).
struct Cluster {
    cluster: NatsCluster,
    next: AtomicUsize,
}

impl Cluster {
    async fn bus(&self, node: usize) -> SharedBus {
        Arc::new(NatsBus::connect(&self.cluster.url(node), Default::default()).await.expect("connect to the cluster"))
    }
}

impl BusFactory for Cluster {
    fn connect(&self) -> BoxFuture<'_, SharedBus> {
        Box::pin(async move { self.bus(self.next.fetch_add(1, Ordering::Relaxed) % self.cluster.size()).await })
    }
}

fn cluster() -> Option<Cluster> {
    skip_or_fail(NatsCluster::start(3)).map(|cluster| Cluster { cluster, next: AtomicUsize::new(0) })
}

psrpc_test_support::bus_suites!(conformance, rpc: cluster());

static SHARDED: MethodInfo = MethodInfo::new("Shard", MethodKind::Unary(Selection::Queue { topics: true }));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_is_ready_on_every_node_a_thousand_times() {
    let Some(cluster) = cluster() else { return };
    let server_bus = NatsBus::connect(&cluster.cluster.url(0), Default::default()).await.expect("connect");
    assert_eq!(server_bus.readiness_witnesses(), 3, "one witness per node, learnt from the cluster");
    let svc = unique_name("Ready");
    let server = RpcServer::new(svc.as_str(), Arc::new(server_bus), ServerOptions::default());
    // Clients on the two other nodes, with no room for a retry: a request
    // that finds no interest on its node is lost and the call fails.
    let options = ClientOptions::default().timeout(Duration::from_secs(2)).selection_timeout(Duration::from_secs(1));
    let mut clients = Vec::new();
    for node in [1, 2] {
        clients.push(RpcClient::new(svc.as_str(), cluster.bus(node).await, options.clone()).await.expect("client"));
    }
    for n in 0..1_000usize {
        let topic = format!("t{n}");
        server.register_unary(&SHARDED, vec![topic.clone()], echo, None).await.expect("register");
        let client = &clients[n % 2];
        let reply = client
            .request_single::<Ping, Pong>(&SHARDED, vec![topic.clone()], &ping(&topic), RequestOptions::default())
            .await
            .unwrap_or_else(|e| panic!("iteration {n}: {e}"));
        assert_eq!(reply.message.text, topic);
        server.deregister(SHARDED.name.as_ref(), &[topic]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_loses_nothing() {
    let Some(mut cluster) = cluster() else { return };
    let servers = vec![cluster.bus(0).await, cluster.bus(1).await];
    let clients = vec![cluster.bus(0).await, cluster.bus(1).await, cluster.bus(2).await];
    let report = psrpc_test_support::failover::calls_survive_a_failover(
        servers,
        clients,
        || cluster.cluster.kill(0),
        Duration::from_secs(2),
        psrpc_test_support::failover::RECOVERY_PATIENCE,
    )
    .await;
    eprintln!("NATS node killed: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_published_through_another_node_right_after_subscribe_arrives() {
    let Some(cluster) = cluster() else { return };
    // Without the witnesses (a bus made by `from_client`) a frame is lost
    // within the first hundred iterations on one host.
    let subscriber = cluster.bus(0).await;
    let publishers = [cluster.cluster.url(1), cluster.cluster.url(2)];
    let mut raw = Vec::new();
    for url in &publishers {
        raw.push(async_nats::connect(url.as_str()).await.expect("raw connect"));
    }
    let svc = unique_name("Ready");
    for n in 0..1_000u32 {
        let ch = psrpc_core::transport::channel::response_channel(&svc, &format!("CLI_{n:012}"));
        let mut sub = subscriber.subscribe(&ch, 2).await.expect("subscribe");
        let frame = psrpc_test_support::handmade::frame("type.googleapis.com/internal.Response", &n.to_le_bytes(), "");
        raw[n as usize % 2].publish(ch.server.to_string(), bytes::Bytes::from(frame.clone())).await.expect("publish");
        let got = tokio::time::timeout(Duration::from_secs(2), sub.recv())
            .await
            .unwrap_or_else(|_| panic!("iteration {n}: lost"))
            .expect("open");
        assert_eq!(got.expect("frame").as_ref(), frame, "iteration {n}");
    }
}
