//! EndpointSlice discovery against a real kube-apiserver (with RBAC and its
//! own etcd): refusals fail `ready()` naming what was refused, and a
//! permitted client lists, then follows changes over the watch.
//!
//! Needs `kube-apiserver` and `etcd` on PATH (`scripts/install-kube-apiserver`
//! builds both); see `support::real_api_server`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use psrpc_kube::{DiscoveryError, PodEvent, PortSpec, Target, watch_endpoint_slices};
use support::real_api_server::{NAMESPACE, RealApiServer, User};
use support::slices::{endpoint, slice};

/// A guard against a hang, not a performance bound: a real server on a
/// loaded machine answers in well under a second.
const GUARD: Duration = Duration::from_secs(120);

fn target(service: &str) -> Target {
    Target::new(service, PortSpec::Name("grpc".into())).in_namespace(NAMESPACE)
}

/// Discovery as `user`, whom the server refuses: the error `ready()`
/// fails with, after checking that psrpc-kube logged it (what the
/// `chat_store` example's subscriber prints).
async fn refusal(user: User) -> Option<DiscoveryError> {
    let server = RealApiServer::shared().await?;
    let logs = Logs::default();
    // The test's runtime runs on this thread, the watcher's task too.
    let _logging =
        tracing::subscriber::set_default(tracing_subscriber::fmt().with_writer(logs.clone()).with_ansi(false).finish());
    let membership = watch_endpoint_slices(server.client(user).await, &target("refused"));
    let answer = tokio::time::timeout(GUARD, membership.ready()).await.expect("an answer");
    let error = answer.expect_err("the server refuses");
    // The watcher logs before it fails the membership.
    let logged = logs.text();
    assert!(logged.contains("ERROR"), "{logged}");
    assert!(logged.contains("endpointslice discovery refused; stopping"), "{logged}");
    assert!(logged.contains(&format!("error={error}")), "the refusal named in the log: {logged}");
    Some(error)
}

/// Log lines, collected.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl tracing_subscriber::fmt::MakeWriter<'_> for Logs {
    type Writer = Logs;

    fn make_writer(&self) -> Logs {
        self.clone()
    }
}

/// A token the server does not know: 401 on the first list.
#[tokio::test]
async fn a_stale_token_fails_ready_as_unauthorized() {
    let Some(error) = refusal(User::Stale).await else { return };
    let DiscoveryError::Unauthorized { verb, resource, namespace, .. } = &error else {
        panic!("expected unauthorized, got {error:?}");
    };
    assert_eq!(
        (verb.as_str(), resource.as_str(), namespace.as_str()),
        ("list", "endpointslices.discovery.k8s.io", NAMESPACE)
    );
    let text = error.to_string();
    assert!(
        text.starts_with("unauthorized: cannot list endpointslices.discovery.k8s.io in namespace psrpc: "),
        "{text}"
    );
    assert!(text.ends_with(": Unauthorized"), "the API server's own message: {text}");
}

/// A Role with `get` but neither `list` nor `watch`: 403 on the first list,
/// and the API server's message names the user and the permission.
#[tokio::test]
async fn a_role_without_list_fails_ready_as_forbidden() {
    let Some(error) = refusal(User::Getter).await else { return };
    let DiscoveryError::Forbidden { verb, resource, namespace, message } = &error else {
        panic!("expected forbidden, got {error:?}");
    };
    assert_eq!(
        (verb.as_str(), resource.as_str(), namespace.as_str()),
        ("list", "endpointslices.discovery.k8s.io", NAMESPACE)
    );
    assert_eq!(
        message,
        "endpointslices.discovery.k8s.io is forbidden: User \"getter\" cannot list resource \"endpointslices\" in \
         API group \"discovery.k8s.io\" in the namespace \"psrpc\""
    );
    let text = error.to_string();
    assert!(text.starts_with("forbidden: cannot list endpointslices.discovery.k8s.io in namespace psrpc: "), "{text}");
}

/// Slices created through the API (no controller-manager runs) are listed,
/// then an endpoint removed and one added arrive over the watch.
#[tokio::test]
async fn a_permitted_client_lists_then_follows_the_watch() {
    let Some(server) = RealApiServer::shared().await else { return };
    let slices = Api::<EndpointSlice>::namespaced(server.client(User::Admin).await, NAMESPACE);
    let in_namespace = |mut slice: EndpointSlice| {
        slice.metadata.namespace = Some(NAMESPACE.into());
        slice
    };
    let params = PostParams::default();
    slices
        .create(&params, &in_namespace(slice("chat", "chat-a", "IPv4", vec![endpoint("chat-0", "10.0.0.1", "n1")])))
        .await
        .unwrap();
    slices
        .create(&params, &in_namespace(slice("chat", "chat-b", "IPv4", vec![endpoint("chat-1", "10.0.0.2", "n2")])))
        .await
        .unwrap();
    slices
        .create(&params, &in_namespace(slice("other", "other-a", "IPv4", vec![endpoint("other-0", "10.0.9.9", "n1")])))
        .await
        .unwrap();

    let membership = watch_endpoint_slices(server.client(User::Reader).await, &target("chat"));
    let pods = tokio::time::timeout(GUARD, membership.ready()).await.expect("listed in time").expect("permitted");
    assert_eq!(pods.ready_names(), ["chat-0", "chat-1"], "only the chat service's slices");
    let chat_0 = pods.get("chat-0").expect("chat-0");
    assert_eq!((chat_0.addresses[0].to_string(), chat_0.port), ("10.0.0.1".to_owned(), 50051));
    let mut changes = membership.changes();

    // chat-1 leaves chat-b and chat-2 joins it, in one update.
    let mut chat_b = slices.get("chat-b").await.unwrap();
    chat_b.endpoints = Some(vec![endpoint("chat-2", "10.0.0.3", "n2")]);
    slices.replace("chat-b", &params, &chat_b).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event =
            tokio::time::timeout(GUARD, changes.next()).await.expect("a change in time").expect("discovery running");
        seen.push(match event {
            PodEvent::Added(pod) => format!("+{}", pod.name),
            PodEvent::Removed(pod) => format!("-{}", pod.name),
            other => panic!("expected chat-1 removed and chat-2 added, got {other:?}"),
        });
    }
    seen.sort();
    assert_eq!(seen, ["+chat-2", "-chat-1"]);
    assert_eq!(membership.current().ready_names(), ["chat-0", "chat-2"]);
}
