//! The gRPC bridge against real tonic servers on loopback playing pods:
//! every RPC kind forwarded, errors mapped, pods joining, leaving,
//! terminating and dying during a run.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use psrpc::{
    ClientOptions, Delivery, ErrorCode, MethodInfo, MethodKind, RawPayload, RequestOptions, RpcClient, Selection,
    SharedBus,
};
use psrpc_kube::{
    BridgeOptions, BridgedService, GrpcBridge, Membership, MembershipFeed, PodSet, expect_ready_pods, to_pod,
};
use support::pods::TestPod;

static SAY: MethodInfo = MethodInfo::new("Say", MethodKind::Unary(Selection::Queue { topics: false }));
static SAY_ALL: MethodInfo = MethodInfo::new("SayAll", MethodKind::Multi { topics: false });
static SAY_TO: MethodInfo = MethodInfo::new("SayTo", MethodKind::Unary(Selection::Affinity { topics: false }));
static SAY_IN: MethodInfo = MethodInfo::new("SayIn", MethodKind::Unary(Selection::Queue { topics: true }));
static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));
static WATCHED: MethodInfo =
    MethodInfo::new("Watched", MethodKind::Subscription { delivery: Delivery::Every, topics: false });

const WAIT: Duration = Duration::from_secs(10);

fn echo_service() -> BridgedService {
    BridgedService::new("Echo", "test.Echo")
        .unary(SAY.clone(), vec![])
        .unary(SAY_ALL.clone(), vec![])
        .forwarded_to("Say")
        .unary(SAY_TO.clone(), vec![])
        .forwarded_to("Say")
        .unary(SAY_IN.clone(), vec!["eu".into()])
        .forwarded_to("Say")
        .stream(CHAT.clone(), vec![])
        .feed(WATCHED.clone(), vec![], "Watch", Bytes::new(), "type.googleapis.com/test.Hello")
}

fn pod_set(pods: &[&TestPod]) -> PodSet {
    pods.iter().map(|p| p.pod("node-1")).collect()
}

fn text(payload: &RawPayload) -> String {
    String::from_utf8_lossy(&payload.0).into_owned()
}

fn names<const N: usize>(names: [&str; N]) -> BTreeSet<String> {
    names.into_iter().map(String::from).collect()
}

/// The bridge over `pods` on `bus`, started and waited for.
async fn bridge(bus: &SharedBus, pods: &[&TestPod]) -> (MembershipFeed, Membership, GrpcBridge) {
    let (feed, membership) = Membership::channel();
    feed.publish(pod_set(pods));
    let bridge = GrpcBridge::start(bus.clone(), echo_service(), membership.clone(), BridgeOptions::default()).unwrap();
    let expected: BTreeSet<String> = pods.iter().map(|p| p.name.clone()).collect();
    tokio::time::timeout(WAIT, bridge.wait_until(|r| *r == expected)).await.expect("pods registered");
    (feed, membership, bridge)
}

/// The bridge over `pods` on a new in-process bus, started and waited for,
/// and a client of its service there.
async fn bridged(pods: &[&TestPod]) -> (MembershipFeed, Membership, GrpcBridge, RpcClient) {
    let bus = local_bus();
    let (feed, membership, bridge) = bridge(&bus, pods).await;
    let client = RpcClient::new("Echo", bus, ClientOptions::default()).await.unwrap();
    (feed, membership, bridge, client)
}

async fn say_all(client: &RpcClient, membership: &Membership, message: &'static str) -> Vec<(String, String)> {
    let options = expect_ready_pods(membership, RequestOptions::default().timeout(WAIT));
    let responses = client
        .request_multi::<RawPayload, RawPayload>(&SAY_ALL, vec![], &RawPayload(Bytes::from(message)), options)
        .await
        .unwrap();
    let mut answers: Vec<(String, String)> =
        responses.collect_all().await.into_iter().map(|r| (r.server_id, text(&r.result.unwrap()))).collect();
    answers.sort();
    answers
}

fn local_bus() -> SharedBus {
    Arc::new(psrpc::local::LocalBus::new())
}

#[tokio::test]
async fn unary_methods_reach_one_pod_every_pod_or_a_topic_with_errors_mapped() {
    let pods = [TestPod::start("pod-a").await, TestPod::start("pod-b").await, TestPod::start("pod-c").await];
    let (_feed, membership, bridge, client) = bridged(&pods.iter().collect::<Vec<_>>()).await;
    let hi = RawPayload(Bytes::from_static(b"hi"));

    let reply =
        client.request_single::<RawPayload, RawPayload>(&SAY, vec![], &hi, RequestOptions::default()).await.unwrap();
    assert!(reply.server_id.starts_with("pod-"), "server id is the pod name: {}", reply.server_id);
    assert_eq!(text(&reply.message), format!("{}:hi", reply.server_id), "answered by the pod it claims to be");

    assert_eq!(
        say_all(&client, &membership, "all").await,
        [
            ("pod-a".into(), "pod-a:all".into()),
            ("pod-b".into(), "pod-b:all".into()),
            ("pod-c".into(), "pod-c:all".into())
        ]
    );

    let eu = client
        .request_single::<RawPayload, RawPayload>(&SAY_IN, vec!["eu".into()], &hi, RequestOptions::default())
        .await;
    assert!(text(&eu.unwrap().message).ends_with(":hi"));
    let quick = RequestOptions::default().timeout(Duration::from_millis(300));
    let us = client.request_single::<RawPayload, RawPayload>(&SAY_IN, vec!["us".into()], &hi, quick).await;
    assert!(us.is_err(), "no pod serves the us topic");

    let fail = RawPayload(Bytes::from_static(b"fail"));
    let error = client
        .request_single::<RawPayload, RawPayload>(&SAY, vec![], &fail, RequestOptions::default())
        .await
        .unwrap_err();
    assert_eq!((error.code(), error.message()), (ErrorCode::NotFound, "no such thing"), "gRPC NOT_FOUND kept");

    let meta = RawPayload(Bytes::from_static(b"meta"));
    let options = RequestOptions::default().metadata("tenant", "acme");
    let reply = client.request_single::<RawPayload, RawPayload>(&SAY, vec![], &meta, options).await.unwrap();
    assert_eq!(text(&reply.message), "acme", "psrpc metadata reaches the pod as gRPC metadata");

    for pod in ["pod-b", "pod-c", "pod-b"] {
        let options = RequestOptions::default().selection(to_pod(pod, WAIT));
        let reply = client.request_single::<RawPayload, RawPayload>(&SAY_TO, vec![], &hi, options).await.unwrap();
        assert_eq!((reply.server_id.as_str(), text(&reply.message)), (pod, format!("{pod}:hi")), "unicast by pod name");
    }
    let options = RequestOptions::default().selection(to_pod("pod-b", WAIT));
    let queue = client.request_single::<RawPayload, RawPayload>(&SAY, vec![], &hi, options).await.unwrap_err();
    assert_eq!(queue.code(), ErrorCode::InvalidArgument, "a queue method cannot be routed by server id");
    bridge.shutdown().await;
}

#[tokio::test]
async fn streams_are_piped_both_ways_and_grpc_failures_close_them() {
    let pod = TestPod::start("pod-a").await;
    let (_feed, _membership, bridge, client) = bridged(&[&pod]).await;
    let mut stream =
        client.open_stream::<RawPayload, RawPayload>(&CHAT, vec![], RequestOptions::default()).await.unwrap();
    for word in ["one", "two"] {
        stream.send(&RawPayload(Bytes::from(word))).await.unwrap();
        assert_eq!(text(&stream.recv().await.unwrap().unwrap()), format!("pod-a:{word}"));
    }
    stream.send(&RawPayload(Bytes::from_static(b"boom"))).await.unwrap();
    let failed = stream.recv().await.expect_err("the pod failed the stream");
    assert_eq!(failed.code(), ErrorCode::Aborted);
    assert_eq!(stream.err(), Some(failed));

    let mut stream =
        client.open_stream::<RawPayload, RawPayload>(&CHAT, vec![], RequestOptions::default()).await.unwrap();
    stream.send(&RawPayload(Bytes::from_static(b"bye"))).await.unwrap();
    assert_eq!(stream.recv().await, Ok(None), "the pod ended the stream");
    bridge.shutdown().await;
}

#[tokio::test]
async fn pods_join_leave_and_terminate_during_a_run() {
    let (a, b, c) = (TestPod::start("pod-a").await, TestPod::start("pod-b").await, TestPod::start("pod-c").await);
    let (feed, membership, bridge, client) = bridged(&[&a, &b]).await;
    assert_eq!(say_all(&client, &membership, "x").await.len(), 2);

    // pod-c appears.
    feed.publish(pod_set(&[&a, &b, &c]));
    tokio::time::timeout(WAIT, bridge.wait_until(|r| *r == names(["pod-a", "pod-b", "pod-c"]))).await.unwrap();
    let answers = say_all(&client, &membership, "x").await;
    assert_eq!(answers.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["pod-a", "pod-b", "pod-c"]);

    // A call is in flight on pod-a when pod-a goes away: it drains, the call completes.
    let held = tokio::spawn({
        let client = client.clone();
        async move {
            let options = RequestOptions::default().selection(to_pod("pod-a", WAIT)).timeout(WAIT);
            client
                .request_single::<RawPayload, RawPayload>(
                    &SAY_TO,
                    vec![],
                    &RawPayload(Bytes::from_static(b"hold")),
                    options,
                )
                .await
        }
    });
    tokio::time::timeout(WAIT, a.wait_holding(1)).await.expect("the call reached pod-a");
    feed.publish(pod_set(&[&b, &c]));
    tokio::time::timeout(WAIT, bridge.wait_until(|r| *r == names(["pod-b", "pod-c"]))).await.unwrap();
    assert!(!held.is_finished(), "the held call is still running on the draining pod");
    a.release();
    let reply = tokio::time::timeout(WAIT, held).await.unwrap().unwrap().expect("the in-flight call finished");
    assert_eq!((reply.server_id.as_str(), text(&reply.message).as_str()), ("pod-a", "pod-a:hold"));
    assert_eq!(say_all(&client, &membership, "x").await.len(), 2);

    // pod-b starts terminating: it is deregistered though still listed.
    let mut set = pod_set(&[&b, &c]);
    let mut terminating = b.pod("node-1");
    terminating.conditions.ready = false;
    terminating.conditions.terminating = true;
    set.insert(terminating);
    feed.publish(set);
    tokio::time::timeout(WAIT, bridge.wait_until(|r| *r == names(["pod-c"]))).await.unwrap();
    assert_eq!(say_all(&client, &membership, "x").await, [("pod-c".to_owned(), "pod-c:x".to_owned())]);
    bridge.shutdown().await;
}

#[tokio::test]
async fn a_dead_pod_fails_its_calls_unavailable_and_the_others_keep_answering() {
    let (a, b) = (TestPod::start("pod-a").await, TestPod::start("pod-b").await);
    let (_feed, membership, bridge, client) = bridged(&[&a, &b]).await;
    b.stop().await;
    let options = expect_ready_pods(&membership, RequestOptions::default().timeout(WAIT));
    let responses = client
        .request_multi::<RawPayload, RawPayload>(&SAY_ALL, vec![], &RawPayload(Bytes::from_static(b"x")), options)
        .await
        .unwrap();
    let mut results: Vec<_> = responses.collect_all().await.into_iter().map(|r| (r.server_id, r.result)).collect();
    results.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(text(results[0].1.as_ref().unwrap()), "pod-a:x");
    assert_eq!(results[1].1.as_ref().unwrap_err().code(), ErrorCode::Unavailable, "{:?}", results[1]);
    let hi = RawPayload(Bytes::from_static(b"hi"));
    let options = RequestOptions::default().selection(to_pod("pod-a", WAIT));
    assert_eq!(
        text(&client.request_single::<RawPayload, RawPayload>(&SAY_TO, vec![], &hi, options).await.unwrap().message),
        "pod-a:hi"
    );
    bridge.shutdown().await;
}

#[tokio::test]
async fn feeds_reach_subscribers_from_pods_that_appear_later() {
    let (a, b) = (TestPod::start("pod-a").await, TestPod::start("pod-b").await);
    let bus = local_bus();
    let client = RpcClient::new("Echo", bus.clone(), ClientOptions::default()).await.unwrap();
    let mut updates = client.subscribe::<RawPayload>(&WATCHED, vec![]).await.unwrap();
    let (feed, _membership, bridge) = bridge(&bus, &[&a]).await;
    assert_eq!(next_update(&mut updates).await, "hello from pod-a");
    feed.publish(pod_set(&[&a, &b]));
    assert_eq!(next_update(&mut updates).await, "hello from pod-b");
    bridge.shutdown().await;
}

async fn next_update(updates: &mut psrpc::TypedSubscription<RawPayload>) -> String {
    text(&tokio::time::timeout(WAIT, updates.recv()).await.expect("an update in time").expect("subscribed"))
}

#[tokio::test]
async fn the_bridge_serves_pods_over_nats() {
    let Some(nats) = psrpc_test_support::broker::skip_or_fail(psrpc_test_support::nats::NatsServer::start()) else {
        return;
    };
    let connect = || psrpc::nats::NatsBus::connect(nats.url(), Default::default());
    let (bridge_bus, client_bus): (SharedBus, SharedBus) =
        (Arc::new(connect().await.unwrap()), Arc::new(connect().await.unwrap()));
    let (a, b) = (TestPod::start("pod-a").await, TestPod::start("pod-b").await);
    let (_feed, membership, bridge) = bridge(&bridge_bus, &[&a, &b]).await;
    let client = RpcClient::new("Echo", client_bus, ClientOptions::default()).await.unwrap();
    assert_eq!(
        say_all(&client, &membership, "n").await,
        [("pod-a".to_owned(), "pod-a:n".to_owned()), ("pod-b".to_owned(), "pod-b:n".to_owned())]
    );
    let options = RequestOptions::default().selection(to_pod("pod-b", WAIT));
    let reply = client
        .request_single::<RawPayload, RawPayload>(&SAY_TO, vec![], &RawPayload(Bytes::from_static(b"hi")), options)
        .await;
    assert_eq!(text(&reply.unwrap().message), "pod-b:hi");
    let mut stream =
        client.open_stream::<RawPayload, RawPayload>(&CHAT, vec![], RequestOptions::default()).await.unwrap();
    stream.send(&RawPayload(Bytes::from_static(b"s"))).await.unwrap();
    assert!(text(&stream.recv().await.unwrap().unwrap()).ends_with(":s"));
    stream.close(None).await.unwrap();
    bridge.shutdown().await;
}

#[tokio::test]
async fn dropping_the_bridge_takes_its_pods_off_the_bus() {
    let a = TestPod::start("pod-a").await;
    let (_feed, membership, bridge, client) = bridged(&[&a]).await;
    assert_eq!(say_all(&client, &membership, "x").await.len(), 1);
    drop(bridge);
    // The pod servers are killed on a spawned task: a call racing the kill may
    // be cut (and time out); after it, calls find nobody to claim them.
    let hi = RawPayload(Bytes::from_static(b"hi"));
    let options = || RequestOptions::default().timeout(Duration::from_secs(2));
    tokio::time::timeout(Duration::from_secs(30), async {
        while client.request_single::<RawPayload, RawPayload>(&SAY, vec![], &hi, options()).await.is_ok() {}
        loop {
            match client.request_single::<RawPayload, RawPayload>(&SAY, vec![], &hi, options()).await {
                Err(error) if error.code() == ErrorCode::Unavailable => return,
                other => assert!(other.is_err(), "a call was answered after the kill"),
            }
        }
    })
    .await
    .expect("the pod left the bus");
}
