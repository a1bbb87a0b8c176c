//! Membership-aware calls to psrpc-native pod servers (server id = pod
//! name): multi calls that end when every ready pod answered and name the
//! ones that did not, unicast to a pod or a node.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use psrpc::{
    ClientOptions, MethodInfo, MethodKind, RawPayload, RequestContext, RequestOptions, RpcClient, RpcServer, Selection,
    ServerOptions, SharedBus,
};
use psrpc_kube::{Conditions, Membership, Pod, PodSet, expect_ready_pods, to_node, to_pod};
use tokio::time::Instant;

static WHERE_ALL: MethodInfo = MethodInfo::new("WhereAll", MethodKind::Multi { topics: false });
static WHERE: MethodInfo = MethodInfo::new("Where", MethodKind::Unary(Selection::Affinity { topics: false }));
const TIMEOUT: Duration = Duration::from_secs(5);

fn pod(name: &str, node: &str, ready: bool) -> Pod {
    Pod {
        name: name.into(),
        addresses: vec!["10.0.0.1".parse().unwrap()],
        port: 1,
        node: Some(node.into()),
        zone: None,
        conditions: Conditions { ready, serving: ready, terminating: !ready },
    }
}

/// psrpc servers named like pods, answering with their own id.
async fn serve(bus: &SharedBus, names: &[&str]) -> Vec<RpcServer> {
    let mut servers = Vec::new();
    for name in names {
        let server = RpcServer::new("Locator", bus.clone(), ServerOptions::default().server_id(*name));
        for method in [&WHERE_ALL, &WHERE] {
            let handler = |ctx: RequestContext, _: RawPayload| async move {
                Ok(RawPayload(Bytes::from(ctx.server_id().to_owned())))
            };
            server.register_unary(method, vec![], handler, None).await.unwrap();
        }
        servers.push(server);
    }
    servers
}

async fn setup(pods: Vec<Pod>, serving: &[&str]) -> (RpcClient, Membership, Vec<RpcServer>) {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let servers = serve(&bus, serving).await;
    let client = RpcClient::new("Locator", bus, ClientOptions::default()).await.unwrap();
    (client, Membership::fixed(pods.into_iter().collect::<PodSet>()), servers)
}

/// A multi call to the servers named `serving`, expecting the ready ones of
/// `pods`: who answered, who did not, and how long the call took.
async fn where_all(pods: Vec<Pod>, serving: &[&str]) -> (Vec<String>, Vec<String>, Duration) {
    let (client, membership, _servers) = setup(pods, serving).await;
    let start = Instant::now();
    let options = expect_ready_pods(&membership, RequestOptions::default().timeout(TIMEOUT));
    let responses = client
        .request_multi::<RawPayload, RawPayload>(&WHERE_ALL, vec![], &RawPayload::default(), options)
        .await
        .unwrap();
    let mut answered: Vec<String> = Vec::new();
    let mut responses = std::pin::pin!(responses);
    while let Some(response) = futures_util::StreamExt::next(&mut responses).await {
        answered.push(response.server_id);
    }
    answered.sort();
    let missing = responses.missing();
    (answered, missing, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_multi_call_ends_when_every_ready_pod_answered() {
    let pods = vec![pod("pod-0", "n1", true), pod("pod-1", "n1", true), pod("pod-2", "n2", false)];
    // pod-2 is terminating but its server still runs: it answers, but nobody waits for it.
    let (answered, missing, elapsed) = where_all(pods, &["pod-0", "pod-1"]).await;
    assert_eq!(answered, ["pod-0", "pod-1"]);
    assert!(missing.is_empty());
    assert!(elapsed < TIMEOUT, "ended on the last expected answer, not the timeout ({elapsed:?})");
}

#[tokio::test(start_paused = true)]
async fn pods_that_do_not_answer_are_reported_at_the_timeout() {
    let pods = vec![pod("pod-0", "n1", true), pod("pod-1", "n1", true), pod("pod-9", "n2", true)];
    let (answered, missing, elapsed) = where_all(pods, &["pod-0", "pod-1"]).await;
    assert_eq!(answered, ["pod-0", "pod-1"]);
    assert_eq!(missing, ["pod-9"], "the expected pod that never answered");
    assert!(elapsed >= TIMEOUT, "waited for pod-9 until the timeout ({elapsed:?})");
}

#[tokio::test(start_paused = true)]
async fn unicast_reaches_the_named_pod_or_a_pod_of_the_named_node() {
    let pods = vec![pod("pod-0", "n1", true), pod("pod-1", "n1", true), pod("pod-2", "n2", true)];
    let (client, membership, _servers) = setup(pods, &["pod-0", "pod-1", "pod-2"]).await;
    let call = |selection| {
        let client = client.clone();
        async move {
            let options = RequestOptions::default().selection(selection);
            client.request_single::<RawPayload, RawPayload>(&WHERE, vec![], &RawPayload::default(), options).await
        }
    };
    for name in ["pod-1", "pod-2", "pod-0"] {
        let reply = call(to_pod(name, TIMEOUT)).await.unwrap();
        assert_eq!((reply.server_id.as_str(), &reply.message.0[..]), (name, name.as_bytes()));
    }
    for _ in 0..5 {
        assert_eq!(call(to_node(&membership, "n2", TIMEOUT)).await.unwrap().server_id, "pod-2");
        assert!(
            ["pod-0", "pod-1"].contains(&call(to_node(&membership, "n1", TIMEOUT)).await.unwrap().server_id.as_str())
        );
    }
    let nobody = call(to_pod("pod-7", Duration::from_millis(500))).await.unwrap_err();
    assert_eq!(nobody.code(), psrpc::ErrorCode::Unavailable);
    let no_node = call(to_node(&membership, "n9", Duration::from_millis(500))).await.unwrap_err();
    assert_eq!(no_node.code(), psrpc::ErrorCode::Unavailable);
}

#[tokio::test(start_paused = true)]
async fn a_count_expectation_ends_after_as_many_answers_as_ready_pods() {
    // DNS names pods by address, not by the servers' ids: only the count can be expected.
    let pods = vec![pod("10.0.0.1", "n1", true), pod("10.0.0.2", "n1", true), pod("10.0.0.3", "n1", false)];
    let (client, membership, _servers) = setup(pods, &["pod-a", "pod-b", "pod-c"]).await;
    let start = Instant::now();
    let options = psrpc_kube::expect_ready_count(&membership, RequestOptions::default().timeout(TIMEOUT));
    let responses = client
        .request_multi::<RawPayload, RawPayload>(&WHERE_ALL, vec![], &RawPayload::default(), options)
        .await
        .unwrap();
    let answers = responses.collect_all().await;
    assert_eq!(answers.len(), 2, "two ready pods: the call ends after two answers");
    assert!(start.elapsed() < TIMEOUT, "did not wait for the timeout");
}
