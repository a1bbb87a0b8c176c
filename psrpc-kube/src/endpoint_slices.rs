//! Discovery from the Kubernetes API: a kube-runtime watcher on the
//! Service's EndpointSlices, folded by [`SliceAggregator`].
//!
//! Needs `list` and `watch` on `endpointslices` (group `discovery.k8s.io`) in
//! the namespace. The watcher resumes broken watches from the last resource
//! version and relists when that version is gone (HTTP 410), with
//! exponential backoff on errors; the pod set keeps its last state meanwhile.
//!
//! A refusal of the API server before the first list — 401 (credentials)
//! or 403 (a permission the Role lacks) — is no passing trouble: discovery
//! stops and [`Membership::ready`] fails with [`DiscoveryError`] naming it.
//! After the first list a refusal is logged as an error and retried (a
//! token being rotated, a Role being edited), the pod set kept.

use futures_util::StreamExt as _;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client};

use crate::aggregate::SliceAggregator;
use crate::membership::{DiscoveryError, Membership};
use crate::target::Target;

/// The resource watched, as refusals name it.
const RESOURCE: &str = "endpointslices.discovery.k8s.io";

/// Watches the EndpointSlices of `target` and returns the live pod set.
///
/// The namespace defaults to the client's (in a pod: the pod's own). The
/// watch runs on a spawned task until every clone of the returned
/// [`Membership`] is dropped.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = kube::Client::try_default().await?; // needs a cluster
/// let target: psrpc_kube::Target = "kubernetes://chat.prod:grpc".parse()?;
/// let membership = psrpc_kube::watch_endpoint_slices(client, &target);
/// println!("{:?}", membership.ready().await?.ready_names());
/// # Ok(()) }
/// ```
pub fn watch_endpoint_slices(client: Client, target: &Target) -> Membership {
    let namespace = target.namespace.clone().unwrap_or_else(|| client.default_namespace().to_owned());
    let api: Api<EndpointSlice> = Api::namespaced(client, &namespace);
    let config = watcher::Config::default().labels(&target.label_selector());
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut aggregator = SliceAggregator::new(target.port.clone());
    let (feed, membership) = Membership::channel();
    let target = target.to_string();
    tokio::spawn(async move {
        let mut listed = false;
        loop {
            let event = tokio::select! {
                () = feed.closed() => return,
                event = events.next() => event,
            };
            match event {
                Some(Ok(event)) => {
                    if let Some(pods) = aggregator.apply(event) {
                        listed = true;
                        tracing::debug!(%target, pods = pods.len(), ready = pods.ready().count(), "pod set");
                        feed.publish(pods);
                    }
                }
                Some(Err(error)) => match refusal(&error, &namespace) {
                    Some(refused) if !listed => {
                        tracing::error!(%target, error = %refused, "endpointslice discovery refused; stopping");
                        feed.fail(refused);
                        return;
                    }
                    Some(refused) => {
                        tracing::error!(%target, error = %refused, "endpointslice watch refused; retrying");
                    }
                    None => tracing::warn!(%target, %error, "endpointslice watch failed; retrying"),
                },
                None => return,
            }
        }
    });
    membership
}

/// The API server's refusal behind `error` (401 or 403), if that is what
/// it is; `namespace` is the one watched.
fn refusal(error: &watcher::Error, namespace: &str) -> Option<DiscoveryError> {
    let (verb, status) = match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status)) => ("list", status),
        watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => ("watch", status),
        watcher::Error::WatchError(status) => ("watch", status),
        _ => return None,
    };
    let (verb, resource, namespace, message) =
        (verb.to_owned(), RESOURCE.to_owned(), namespace.to_owned(), status.message.clone());
    match status.code {
        401 => Some(DiscoveryError::Unauthorized { verb, resource, namespace, message }),
        403 => Some(DiscoveryError::Forbidden { verb, resource, namespace, message }),
        _ => None,
    }
}

/// Watches `target` with a client from the environment (in-cluster service
/// account, or the local kubeconfig).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let target: psrpc_kube::Target = "kubernetes://chat:grpc".parse()?; // the pod's own namespace
/// let membership = psrpc_kube::discover(&target).await?;
/// let mut changes = membership.changes();
/// while let Some(event) = changes.next().await {
///     println!("{event:?}");
/// }
/// # Ok(()) }
/// ```
pub async fn discover(target: &Target) -> Result<Membership, kube::Error> {
    let client = Client::try_default().await?;
    Ok(watch_endpoint_slices(client, target))
}
