//! Every method kind of the acme tree, served and called end to end on the
//! in-process bus and on NATS: two servers per service, typed topics and
//! topic groups, google well-known types, `extern_path`/`bytes`/`btree_map`
//! messages, an unimplemented default, and the proto comments' services only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use psrpc::prost_types::{Struct, Timestamp};
use psrpc::{ClientOptions, Error, ErrorCode, RequestContext, RequestOptions, ServerOptions, ServerStream, SharedBus};
use psrpc_proto_tree_tests::acme::common::{DescribeRequest, Job, NodeInfo, NodeState};
use psrpc_proto_tree_tests::acme::ops::v1::{HealthCheckV2Client, HealthCheckV2Server, HealthCheckV2ServerImpl};
use psrpc_proto_tree_tests::acme::rpc::{
    Chunk, JobUpdate, ListNodesRequest, NodeIdTopic, NodeManagerClient, NodeManagerServer, NodeManagerServerImpl,
    NodeStats, PlaceJobResponse, RoomHostClient, RoomHostServer, RoomHostServerImpl, RoomTopic, RoomUpdate,
    StopJobRequest, UploadAck,
};
use psrpc_proto_tree_tests::labels::Labels;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::nats::NatsServer;

/// One node of the fleet: serves every service under its name.
struct Node(&'static str);

impl NodeManagerServerImpl for Node {
    async fn get_node(&self, _ctx: RequestContext, _request: ()) -> Result<NodeInfo, Error> {
        Ok(info(self.0))
    }
    async fn place_job(&self, _ctx: RequestContext, job: Job) -> Result<PlaceJobResponse, Error> {
        assert_eq!(&job.payload[..], b"work");
        Ok(PlaceJobResponse { node_id: self.0.into() })
    }
    fn place_job_affinity(&self, _ctx: &RequestContext, _job: &Job) -> f32 {
        // Node "a" has the most room.
        if self.0 == "a" { 0.9 } else { 0.1 }
    }
    async fn list_nodes(&self, _ctx: RequestContext, request: ListNodesRequest) -> Result<NodeInfo, Error> {
        Ok(NodeInfo { region: request.region, ..info(self.0) })
    }
    async fn collect_stats(&self, _ctx: RequestContext, _request: ListNodesRequest) -> Result<NodeStats, Error> {
        Ok(NodeStats { node_id: self.0.into(), jobs: 1 })
    }
    async fn stop_job(&self, ctx: RequestContext, request: StopJobRequest) -> Result<Job, Error> {
        let owner = ctx.rpc_info().topics.join(",");
        Ok(Job { job_id: format!("{} stopped on {owner} by {}", request.job_id, self.0), ..Job::default() })
    }
    async fn drain_node(&self, _ctx: RequestContext, request: DescribeRequest) -> Result<NodeStats, Error> {
        Ok(NodeStats { node_id: format!("{} drained by {}", request.node_id, self.0), jobs: 0 })
    }
    /// Hands the stream to a task of its own and returns at once (hijack).
    async fn watch_jobs(&self, stream: ServerStream<JobUpdate, JobUpdate>) -> Result<(), Error> {
        let mut stream = stream.hijack();
        let node = self.0;
        tokio::spawn(async move {
            while let Ok(Some(update)) = stream.recv().await {
                let reply = JobUpdate { status: format!("{} seen by {node}", update.status), ..update };
                if stream.send(&reply).await.is_err() {
                    break;
                }
            }
        });
        Ok(())
    }
    fn watch_jobs_affinity(&self, _ctx: &RequestContext) -> f32 {
        if self.0 == "a" { 1.0 } else { 0.5 }
    }
}

impl RoomHostServerImpl for Node {
    async fn update_room(&self, ctx: RequestContext, update: RoomUpdate) -> Result<Timestamp, Error> {
        assert_eq!(ctx.rpc_info().topics, [self.0.to_owned(), update.room]);
        Ok(Timestamp { seconds: 1_700_000_000, nanos: 0 })
    }
    async fn close_room(&self, _ctx: RequestContext, grace: psrpc::prost_types::Duration) -> Result<(), Error> {
        assert_eq!(grace.seconds, 30);
        Ok(())
    }
    fn close_room_affinity(&self, _ctx: &RequestContext, _grace: &psrpc::prost_types::Duration) -> f32 {
        1.0
    }
    async fn upload(&self, _ctx: RequestContext, chunk: Chunk) -> Result<UploadAck, Error> {
        Ok(UploadAck { size: chunk.data.len() as u64 })
    }
    async fn relabel(&self, _ctx: RequestContext, mut labels: Labels) -> Result<Labels, Error> {
        labels.values.insert("node".into(), self.0.into());
        Ok(labels)
    }
}

/// Reports its health (node "a").
impl HealthCheckV2ServerImpl for Node {
    async fn report_3d_state(&self, _ctx: RequestContext, _request: ()) -> Result<Struct, Error> {
        let mut fields = BTreeMap::new();
        fields.insert("ok".to_owned(), psrpc::prost_types::Value::from(true));
        Ok(Struct { fields })
    }
}

/// Node "b" implements nothing of `health_check_v2`.
struct Idle;

impl HealthCheckV2ServerImpl for Idle {}

fn info(node: &str) -> NodeInfo {
    NodeInfo {
        node_id: node.into(),
        region: "eu".into(),
        state: NodeState::Ready.into(),
        started_at: Some(Timestamp { seconds: 1, nanos: 2 }),
        uptime: Some(psrpc::prost_types::Duration { seconds: 3, nanos: 0 }),
        facts: None,
        labels: BTreeMap::from([("zone".to_owned(), "eu-1".to_owned())]),
        owner_email: String::new(),
    }
}

fn both() -> RequestOptions {
    RequestOptions::default().expected_responses(2)
}

/// Runs every kind of the tree over `bus`.
async fn exercise(bus: SharedBus) {
    let opts = ServerOptions::default;
    let node_a = NodeManagerServer::new(Node("a"), bus.clone(), opts()).await.expect("node a");
    let node_b = NodeManagerServer::new(Node("b"), bus.clone(), opts()).await.expect("node b");
    let room_a = RoomHostServer::new(Node("a"), bus.clone(), opts()).await.expect("room a");
    let health_a = HealthCheckV2Server::new(Node("a"), bus.clone(), opts()).await.expect("health a");
    let health_b = HealthCheckV2Server::new(Idle, bus.clone(), opts()).await.expect("health b");
    let nodes = NodeManagerClient::new(bus.clone(), ClientOptions::default()).await.expect("client");
    let rooms = RoomHostClient::new(bus.clone(), ClientOptions::default()).await.expect("client");
    let health = HealthCheckV2Client::new(bus.clone(), ClientOptions::default()).await.expect("client");
    let call = RequestOptions::default;

    // Unary, queue: google.protobuf.Empty in, well-known types and a btree_map out.
    let node = nodes.get_node(&(), call()).await.expect("get_node");
    assert!(["a", "b"].contains(&node.node_id.as_str()), "{node:?}");
    assert_eq!(node.started_at, Some(Timestamp { seconds: 1, nanos: 2 }));
    assert_eq!(node.labels.get("zone").map(String::as_str), Some("eu-1"));

    // Unary, affinity: the node with the higher score wins; `bytes` payload.
    let job = Job { job_id: "j1".into(), payload: bytes::Bytes::from_static(b"work"), spec: None };
    assert_eq!(nodes.place_job(&job, call()).await.expect("place_job").node_id, "a");

    // Multi: both nodes answer.
    let mut all = nodes
        .list_nodes(&ListNodesRequest { region: "us".into() }, both())
        .await
        .expect("list_nodes")
        .collect_all()
        .await;
    all.sort_by(|x, y| x.server_id.cmp(&y.server_id));
    let mut ids: Vec<String> = all.into_iter().map(|r| r.result.expect("node info").node_id).collect();
    ids.sort();
    assert_eq!(ids, ["a", "b"]);

    // The deprecated `multi: false` is multi (as in Go): both answer; a type
    // attribute (`PartialOrd`) reached the message.
    let stats = nodes.collect_stats(&ListNodesRequest::default(), both()).await.expect("collect_stats");
    let mut stats: Vec<NodeStats> = stats.collect_all().await.into_iter().map(|r| r.result.expect("stats")).collect();
    stats.sort_by(|x, y| x.partial_cmp(y).expect("ordered"));
    assert_eq!(stats.iter().map(|s| s.node_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);

    // Typed, grouped topics: node "b" owns node id "n-b"; single server, no claim.
    node_b.register_all_node_topics(NodeIdTopic::from("n-b")).await.expect("register group");
    let stopped = nodes
        .stop_job(NodeIdTopic::from("n-b"), &StopJobRequest { job_id: "j2".into() }, call())
        .await
        .expect("stop_job");
    assert_eq!(stopped.job_id, "j2 stopped on n-b by b");
    let drained = nodes
        .drain_node(NodeIdTopic::from("n-b"), &DescribeRequest { node_id: "n-b".into() }, call().expected_responses(1))
        .await
        .expect("drain_node")
        .collect_all()
        .await;
    assert_eq!(drained.len(), 1);
    assert_eq!(drained[0].result.as_ref().expect("drained").node_id, "n-b drained by b");
    node_b.deregister_all_node_topics(NodeIdTopic::from("n-b")).await;
    let gone = nodes
        .stop_job(NodeIdTopic::from("n-b"), &StopJobRequest::default(), call().timeout(Duration::from_millis(300)))
        .await;
    assert!(gone.is_err(), "deregistered: {gone:?}");

    // Stream with affinity: node "a" takes it, hands it to a task and
    // returns; the task echoes.
    let mut stream = nodes.watch_jobs(call()).await.expect("open stream");
    stream.send(&JobUpdate { job_id: "j3".into(), status: "running".into() }).await.expect("send");
    let echoed = stream.recv().await.expect("recv").expect("a message");
    assert_eq!(echoed.status, "running seen by a");
    stream.close(None).await.expect("close");

    // Subscription, every subscriber, on a topic.
    let mut first = nodes.subscribe_node_events("eu").await.expect("subscribe");
    let mut second = nodes.subscribe_node_events("eu").await.expect("subscribe");
    node_a.publish_node_events("eu", &info("a")).await.expect("publish");
    assert_eq!(first.next().await.expect("event").node_id, "a");
    assert_eq!(second.next().await.expect("event").node_id, "a");

    // Subscription, queue: each item to one subscriber.
    let mut worker = nodes.subscribe_work_queue().await.expect("subscribe");
    node_a.publish_work_queue(&Job { job_id: "j4".into(), ..Job::default() }).await.expect("publish");
    assert_eq!(worker.next().await.expect("work").job_id, "j4");

    // Second service of the package, same typed node id plus a typed room.
    room_a.register_all_room_topics(NodeIdTopic::from("a"), RoomTopic::from("lobby")).await.expect("register");
    let update = RoomUpdate { room: "lobby".into(), title: "hi".into() };
    let at =
        rooms.update_room(NodeIdTopic::from("a"), RoomTopic::from("lobby"), &update, call()).await.expect("update");
    assert_eq!(at.seconds, 1_700_000_000);
    let grace = psrpc::prost_types::Duration { seconds: 30, nanos: 0 };
    rooms.close_room(NodeIdTopic::from("a"), RoomTopic::from("lobby"), &grace, call()).await.expect("close_room");

    // Client-streaming in the .proto without psrpc options: a unary call.
    let chunk = Chunk { data: vec![0; 5] };
    assert_eq!(rooms.upload(&chunk, call()).await.expect("upload"), UploadAck { size: 5 });

    // A message type of an existing crate (extern_path).
    let labels = rooms.relabel(&Labels::default(), call()).await.expect("relabel");
    assert_eq!(labels.values.get("node").map(String::as_str), Some("a"));

    // Multi over a nested package, one server answering from the default.
    let mut reports = health.report_3d_state(&(), both()).await.expect("report").collect_all().await;
    reports.sort_by_key(|r| r.result.is_err());
    assert!(reports[0].result.as_ref().expect("a's report").fields.contains_key("ok"));
    let default = reports[1].result.as_ref().expect_err("b's default");
    assert_eq!(default.code(), ErrorCode::Unimplemented, "{default}");

    for server in [&node_a, &node_b] {
        server.shutdown().await;
    }
    room_a.shutdown().await;
    health_a.shutdown().await;
    health_b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_on_the_local_bus() {
    exercise(Arc::new(psrpc::local::LocalBus::new())).await;
}

/// On NATS, with a broker of the test's own: generated services have fixed
/// names, so a shared broker could mix this run's servers with another's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_on_nats() {
    let Some(server) = skip_or_fail(NatsServer::start_own()) else { return };
    let bus = psrpc::nats::NatsBus::connect(server.url(), Default::default()).await.expect("nats");
    exercise(Arc::new(bus)).await;
}

/// Only the listed files' services get code: `acme.common`'s `Admin` and
/// `acme.billing`'s `Billing` (imported, served over another protocol) get
/// none; `acme.common`'s messages do.
#[test]
fn imported_services_get_no_code() {
    let common = include_str!(concat!(env!("OUT_DIR"), "/acme.common.rs"));
    assert!(common.contains("pub struct DescribeRequest"));
    assert!(!common.contains("AdminClient") && !common.contains("admin_psrpc"), "no psrpc code for Admin");
    let billing = include_str!(concat!(env!("OUT_DIR"), "/acme.billing.rs"));
    assert!(!billing.contains("BillingClient") && !billing.contains("billing_psrpc"), "no psrpc code for Billing");
}
