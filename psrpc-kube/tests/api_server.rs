//! EndpointSlice discovery through kube-rs against a fake API server that
//! speaks the real list/watch protocol.

mod support;

use std::time::Duration;

use psrpc_kube::{DiscoveryError, PodEvent, PortSpec, Target, watch_endpoint_slices};
use support::api_server::FakeApiServer;
use support::slices::{endpoint, slice, terminating};

const WAIT: Duration = Duration::from_secs(20);

fn target() -> Target {
    Target::new("chat", PortSpec::Name("grpc".into()))
}

async fn next_event(changes: &mut psrpc_kube::PodChanges) -> PodEvent {
    tokio::time::timeout(WAIT, changes.next()).await.expect("an event in time").expect("discovery running")
}

#[tokio::test]
async fn lists_then_follows_the_watch_across_breaks_and_relists() {
    let api = FakeApiServer::start().await;
    api.apply(slice("chat", "chat-a", "IPv4", vec![endpoint("chat-0", "10.0.0.1", "n1")]));
    api.apply(slice("chat", "chat-b", "IPv4", vec![endpoint("chat-1", "10.0.0.2", "n2")]));
    api.apply(slice("other", "other-a", "IPv4", vec![endpoint("other-0", "10.0.9.9", "n1")]));

    let membership = watch_endpoint_slices(api.client(), &target());
    let pods = tokio::time::timeout(WAIT, membership.ready()).await.unwrap().unwrap();
    assert_eq!(pods.ready_names(), ["chat-0", "chat-1"], "only the chat service's slices");
    let mut changes = membership.changes();

    // A watched change.
    api.apply(slice(
        "chat",
        "chat-b",
        "IPv4",
        vec![endpoint("chat-1", "10.0.0.2", "n2"), endpoint("chat-2", "10.0.0.3", "n2")],
    ));
    assert!(matches!(next_event(&mut changes).await, PodEvent::Added(p) if p.name == "chat-2"));

    // The watch breaks; the client resumes from the last version it saw, no relist.
    let version = api.version();
    let requests = api.watches_from().len() + api.lists();
    api.break_watches();
    api.wait_for_requests(requests + 1).await;
    assert_eq!(api.lists(), 1, "a broken watch resumes without a relist");
    assert_eq!(api.watches_from().last(), Some(&version), "resumed from the last seen version");
    api.apply(slice("chat", "chat-a", "IPv4", vec![terminating(endpoint("chat-0", "10.0.0.1", "n1"))]));
    match next_event(&mut changes).await {
        PodEvent::Changed(p) => assert!(p.name == "chat-0" && !p.is_ready() && p.conditions.terminating),
        other => panic!("expected chat-0 terminating, got {other:?}"),
    }

    // chat-b is deleted and the history compacted while the client is away:
    // the resume gets 410 Gone, the client relists, and chat-b's pods vanish.
    api.delete_unseen("chat-b");
    api.break_watches();
    let mut gone = Vec::new();
    while gone.len() < 2 {
        match next_event(&mut changes).await {
            PodEvent::Removed(p) => gone.push(p.name),
            other => panic!("expected removals, got {other:?}"),
        }
    }
    gone.sort();
    assert_eq!(gone, ["chat-1", "chat-2"]);
    assert_eq!(api.lists(), 2, "410 Gone forced exactly one relist");
    assert_eq!(api.label_selectors(), ["kubernetes.io/service-name=chat"]);
    assert_eq!(membership.current().ready_names(), Vec::<String>::new(), "chat-0 is terminating");
    assert!(membership.current().get("chat-0").is_some());
}

#[tokio::test]
async fn a_deleted_slice_is_seen_over_the_watch() {
    let api = FakeApiServer::start().await;
    api.apply(slice("chat", "chat-a", "IPv4", vec![endpoint("chat-0", "10.0.0.1", "n1")]));
    let membership = watch_endpoint_slices(api.client(), &target());
    tokio::time::timeout(WAIT, membership.ready()).await.unwrap().unwrap();
    let mut changes = membership.changes();
    api.delete("chat-a");
    assert!(matches!(next_event(&mut changes).await, PodEvent::Removed(p) if p.name == "chat-0"));
    assert_eq!(api.lists(), 1);
}

#[tokio::test]
async fn the_watch_asks_for_the_service_label_selector() {
    let api = FakeApiServer::start().await;
    let membership = watch_endpoint_slices(api.client(), &target().in_namespace("default"));
    let pods = tokio::time::timeout(WAIT, membership.ready()).await.unwrap().unwrap();
    assert!(pods.is_empty(), "an empty list is a complete list");
    assert_eq!(api.label_selectors(), ["kubernetes.io/service-name=chat"]);
}

/// A Role without `list` on endpointslices: the API server answers 403
/// with a `Status` naming the verb and resource; `ready()` fails at once
/// with it instead of waiting on a watcher that retries forever.
#[tokio::test]
async fn a_forbidden_list_fails_ready_naming_the_missing_permission() {
    let api = FakeApiServer::start().await;
    api.refuse(403);
    let membership = watch_endpoint_slices(api.client(), &target().in_namespace("shop"));
    let error = tokio::time::timeout(WAIT, membership.ready()).await.expect("an answer in time").expect_err("refused");
    assert!(
        matches!(&error, DiscoveryError::Forbidden { verb, namespace, .. } if verb == "list" && namespace == "shop")
    );
    let text = error.to_string();
    assert!(text.starts_with("forbidden: cannot list endpointslices.discovery.k8s.io in namespace shop"), "{text}");
    assert!(text.contains("cannot list resource \"endpointslices\" in API group \"discovery.k8s.io\""), "{text}");
    assert_eq!(api.errors(), 1, "no retry after a refusal");
}

/// A stale or revoked token: 401, reported as unauthorized.
#[tokio::test]
async fn an_unauthorized_client_fails_ready() {
    let api = FakeApiServer::start().await;
    api.refuse(401);
    let membership = watch_endpoint_slices(api.client(), &target().in_namespace("shop"));
    let error = tokio::time::timeout(WAIT, membership.ready()).await.expect("an answer in time").expect_err("refused");
    let expected = DiscoveryError::Unauthorized {
        verb: "list".into(),
        resource: "endpointslices.discovery.k8s.io".into(),
        namespace: "shop".into(),
        message: "Unauthorized".into(),
    };
    assert_eq!(error, expected);
    let text = error.to_string();
    assert!(
        text.starts_with("unauthorized: cannot list endpointslices.discovery.k8s.io in namespace shop: "),
        "{text}"
    );
}

/// Passing server errors (5xx) are retried until the list comes in.
#[tokio::test]
async fn passing_server_errors_are_retried() {
    let api = FakeApiServer::start().await;
    api.apply(slice("chat", "chat-a", "IPv4", vec![endpoint("chat-0", "10.0.0.1", "n1")]));
    api.fail_next(2, 503);
    let membership = watch_endpoint_slices(api.client(), &target());
    let pods = tokio::time::timeout(WAIT * 2, membership.ready()).await.expect("ready in time").expect("listed");
    assert_eq!(pods.ready_names(), ["chat-0"]);
    assert_eq!(api.errors(), 2);
}

/// After the first list a refusal keeps the pod set and is retried (a
/// token being rotated, a Role being edited).
#[tokio::test]
async fn a_refusal_after_the_first_list_keeps_the_set_and_retries() {
    let api = FakeApiServer::start().await;
    api.apply(slice("chat", "chat-a", "IPv4", vec![endpoint("chat-0", "10.0.0.1", "n1")]));
    let membership = watch_endpoint_slices(api.client(), &target());
    tokio::time::timeout(WAIT, membership.ready()).await.expect("ready in time").expect("listed");
    let requests = api.watches_from().len() + api.lists();
    api.refuse(403);
    api.break_watches();
    // Two refused requests in a row: the watcher tried again after the first.
    tokio::time::timeout(WAIT * 2, api.wait_for_requests(requests + 2)).await.expect("retried");
    assert!(api.errors() >= 2);
    assert_eq!(membership.current().ready_names(), ["chat-0"], "the set is kept");
}
