//! The live pod set as a watchable value: a snapshot, `ready()`, and a
//! stream of add/change/remove events.

use std::sync::{Arc, OnceLock};

use tokio::sync::watch;

use crate::pod::{PodEvent, PodSet};

/// Why discovery could not produce a pod set.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (feed, membership) = psrpc_kube::Membership::channel();
/// drop(feed); // the source stopped before its first list
/// assert_eq!(membership.ready().await.unwrap_err(), psrpc_kube::DiscoveryError::Stopped);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The source stopped before its first list was in.
    #[error("discovery stopped before the first list was in")]
    Stopped,
    /// The Kubernetes API server refused the client's credentials (HTTP
    /// 401) when it asked to `verb` `resource`: a stale, revoked or missing
    /// service account token.
    #[error(
        "unauthorized: cannot {verb} {resource} in namespace {namespace}: the Kubernetes API server refused the \
         credentials (a stale or missing token?): {message}"
    )]
    Unauthorized {
        /// What was asked: `list` or `watch`.
        verb: String,
        /// The resource, with its API group (`endpointslices.discovery.k8s.io`).
        resource: String,
        /// The namespace watched.
        namespace: String,
        /// The API server's `Status` message.
        message: String,
    },
    /// The credentials lack a permission (HTTP 403): the Role bound to the
    /// service account does not grant `verb` on `resource`.
    #[error("forbidden: cannot {verb} {resource} in namespace {namespace}: {message}")]
    Forbidden {
        /// What was refused: `list` or `watch`.
        verb: String,
        /// The resource, with its API group (`endpointslices.discovery.k8s.io`).
        resource: String,
        /// The namespace watched.
        namespace: String,
        /// The API server's `Status` message.
        message: String,
    },
}

/// The live pods of a Service, fed by a discovery source.
///
/// Cloning is cheap; every clone sees the same set. The source keeps running
/// while its [`MembershipFeed`] lives (it is owned by the source's task).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let target: psrpc_kube::Target = "kubernetes://chat.prod:grpc".parse()?;
/// let membership = psrpc_kube::discover(&target).await?; // needs a cluster
/// let pods = membership.ready().await?;
/// println!("{} ready pods: {:?}", pods.len(), pods.ready_names());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Membership {
    rx: watch::Receiver<Option<Arc<PodSet>>>,
    /// Why the source stopped, if it said (see [`MembershipFeed::fail`]).
    failure: Arc<OnceLock<DiscoveryError>>,
}

/// The writing side of a [`Membership`], held by a discovery source.
///
/// ```
/// # use psrpc_kube::{Conditions, Pod, PodSet};
/// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
/// #     let conditions = Conditions { ready, ..Conditions::default() };
/// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
/// # }
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (feed, membership) = psrpc_kube::Membership::channel();
/// feed.publish([pod("a", "n1", true)].into_iter().collect());
/// assert_eq!(membership.ready().await.unwrap().len(), 1);
/// # }
/// ```
#[derive(Debug)]
pub struct MembershipFeed {
    tx: watch::Sender<Option<Arc<PodSet>>>,
    failure: Arc<OnceLock<DiscoveryError>>,
}

impl Membership {
    /// A membership and the feed that updates it. Nothing is known until the
    /// feed publishes its first set.
    ///
    /// ```
    /// let (feed, membership) = psrpc_kube::Membership::channel();
    /// assert!(!membership.is_ready());
    /// feed.publish(psrpc_kube::PodSet::new());
    /// assert!(membership.is_ready());
    /// ```
    pub fn channel() -> (MembershipFeed, Membership) {
        let (tx, rx) = watch::channel(None);
        let failure = Arc::new(OnceLock::new());
        (MembershipFeed { tx, failure: Arc::clone(&failure) }, Membership { rx, failure })
    }

    /// A membership fixed to `pods` (static configuration, tests).
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// let membership = psrpc_kube::Membership::fixed([pod("a", "n1", true)].into_iter().collect());
    /// assert!(membership.is_ready());
    /// ```
    pub fn fixed(pods: PodSet) -> Membership {
        let (feed, membership) = Membership::channel();
        feed.publish(pods);
        membership
    }

    /// The current set; empty before the first list is in.
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// let (feed, membership) = psrpc_kube::Membership::channel();
    /// assert!(membership.current().is_empty());
    /// feed.publish([pod("a", "n1", true)].into_iter().collect());
    /// assert!(membership.current().get("a").is_some());
    /// ```
    pub fn current(&self) -> Arc<PodSet> {
        self.rx.borrow().clone().unwrap_or_default()
    }

    /// Whether the first list is in.
    ///
    /// ```
    /// let membership = psrpc_kube::Membership::fixed(psrpc_kube::PodSet::new());
    /// assert!(membership.is_ready()); // an empty list is a list
    /// ```
    pub fn is_ready(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// Resolves with the set once the first list is in; fails if the
    /// source stopped before that, with the reason it gave
    /// ([`MembershipFeed::fail`]: a refusal of the API server, say) or
    /// [`DiscoveryError::Stopped`].
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (feed, membership) = psrpc_kube::Membership::channel();
    /// let waiting = tokio::spawn(async move { membership.ready().await.map(|pods| pods.len()) });
    /// feed.publish([pod("a", "n1", true), pod("b", "n1", true)].into_iter().collect());
    /// assert_eq!(waiting.await.unwrap(), Ok(2));
    /// # }
    /// ```
    pub async fn ready(&self) -> Result<Arc<PodSet>, DiscoveryError> {
        let mut rx = self.rx.clone();
        let set = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| self.failure.get().cloned().unwrap_or(DiscoveryError::Stopped))?;
        Ok(set.clone().unwrap_or_default())
    }

    /// The set as it is now plus every later change. Changes that happen
    /// faster than they are read are coalesced: the events always lead from
    /// the last set read to the current one.
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// use psrpc_kube::PodEvent;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (feed, membership) = psrpc_kube::Membership::channel();
    /// feed.publish([pod("a", "n1", true)].into_iter().collect());
    /// let mut changes = membership.changes();
    /// assert_eq!(changes.initial().len(), 1);
    /// feed.publish([pod("a", "n1", true), pod("b", "n2", true)].into_iter().collect());
    /// assert!(matches!(changes.next().await, Some(PodEvent::Added(p)) if p.name == "b"));
    /// # }
    /// ```
    pub fn changes(&self) -> PodChanges {
        let mut rx = self.rx.clone();
        let initial = rx.borrow_and_update().clone().unwrap_or_default();
        PodChanges { rx, seen: initial, pending: std::collections::VecDeque::new() }
    }
}

impl MembershipFeed {
    /// Publishes a new set (a no-op for watchers if it equals the current one).
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// let (feed, membership) = psrpc_kube::Membership::channel();
    /// feed.publish([pod("a", "n1", false)].into_iter().collect());
    /// assert_eq!(membership.current().ready().count(), 0);
    /// ```
    pub fn publish(&self, pods: PodSet) {
        self.tx.send_if_modified(|current| {
            if current.as_deref() == Some(&pods) {
                return false;
            }
            *current = Some(Arc::new(pods));
            true
        });
    }

    /// Stops the feed for `reason`: a [`Membership::ready`] still waiting
    /// for the first list fails with it (a set already published stays
    /// readable).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use psrpc_kube::DiscoveryError;
    /// let (feed, membership) = psrpc_kube::Membership::channel();
    /// feed.fail(DiscoveryError::Stopped);
    /// assert_eq!(membership.ready().await.unwrap_err(), DiscoveryError::Stopped);
    /// # }
    /// ```
    pub fn fail(self, reason: DiscoveryError) {
        let _ = self.failure.set(reason);
    }

    /// Whether every [`Membership`] is gone (the source may stop).
    ///
    /// ```
    /// let (feed, membership) = psrpc_kube::Membership::channel();
    /// assert!(!feed.is_closed());
    /// drop(membership);
    /// assert!(feed.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves when every [`Membership`] is gone.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (feed, membership) = psrpc_kube::Membership::channel();
    /// let source = tokio::spawn(async move {
    ///     feed.closed().await; // a discovery source stops here
    /// });
    /// drop(membership);
    /// source.await.unwrap();
    /// # }
    /// ```
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// The events of a [`Membership`], starting from [`PodChanges::initial`].
///
/// ```
/// # use psrpc_kube::{Conditions, Pod, PodSet};
/// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
/// #     let conditions = Conditions { ready, ..Conditions::default() };
/// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
/// # }
/// use psrpc_kube::PodEvent;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (feed, membership) = psrpc_kube::Membership::channel();
/// let mut changes = membership.changes();
/// feed.publish([pod("a", "n1", true)].into_iter().collect());
/// while let Some(event) = changes.next().await {
///     if let PodEvent::Added(pod) = &event {
///         println!("{} joined", pod.name);
///     }
/// #   break;
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct PodChanges {
    rx: watch::Receiver<Option<Arc<PodSet>>>,
    seen: Arc<PodSet>,
    pending: std::collections::VecDeque<PodEvent>,
}

impl PodChanges {
    /// The set the events start from.
    ///
    /// ```
    /// let membership = psrpc_kube::Membership::fixed(psrpc_kube::PodSet::new());
    /// assert!(membership.changes().initial().is_empty());
    /// ```
    pub fn initial(&self) -> &PodSet {
        &self.seen
    }

    /// The next change; `None` once the discovery source has stopped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (feed, membership) = psrpc_kube::Membership::channel();
    /// let mut changes = membership.changes();
    /// drop(feed);
    /// assert!(changes.next().await.is_none());
    /// # }
    /// ```
    pub async fn next(&mut self) -> Option<PodEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            self.rx.changed().await.ok()?;
            let next = self.rx.borrow_and_update().clone().unwrap_or_default();
            self.pending.extend(self.seen.diff(&next));
            self.seen = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::{Conditions, Pod};

    fn pod(name: &str) -> Pod {
        Pod {
            name: name.into(),
            addresses: vec!["10.0.0.1".parse().unwrap()],
            port: 1,
            node: None,
            zone: None,
            conditions: Conditions::default(),
        }
    }

    #[tokio::test]
    async fn ready_waits_for_the_first_list_and_changes_follow() {
        let (feed, membership) = Membership::channel();
        assert!(!membership.is_ready());
        let mut changes = membership.changes();
        assert!(changes.initial().is_empty());
        let waiter = tokio::spawn({
            let m = membership.clone();
            async move { m.ready().await }
        });
        feed.publish([pod("a")].into_iter().collect());
        assert_eq!(waiter.await.unwrap().unwrap().ready_names(), ["a"]);
        assert_eq!(changes.next().await, Some(PodEvent::Added(pod("a"))));
        // Two publishes before a read coalesce into the net change.
        feed.publish([pod("a"), pod("b")].into_iter().collect());
        feed.publish([pod("b")].into_iter().collect());
        assert_eq!(changes.next().await, Some(PodEvent::Removed(pod("a"))));
        assert_eq!(changes.next().await, Some(PodEvent::Added(pod("b"))));
        drop(feed);
        assert_eq!(changes.next().await, None);
        assert!(membership.ready().await.is_ok(), "a set once published stays readable");
    }

    #[tokio::test]
    async fn ready_fails_when_the_source_stops_first() {
        let (feed, membership) = Membership::channel();
        drop(feed);
        assert_eq!(membership.ready().await, Err(DiscoveryError::Stopped));
    }
}
