//! The live pod set as a watchable value: a snapshot, `ready()`, and a
//! stream of add/change/remove events.

use std::sync::Arc;

use tokio::sync::watch;

use crate::pod::{PodEvent, PodSet};

/// Why discovery could not produce a pod set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("discovery stopped before the first list was in")]
pub struct DiscoveryStopped;

/// The live pods of a Service, fed by a discovery source.
///
/// Cloning is cheap; every clone sees the same set. The source keeps running
/// while its [`MembershipFeed`] lives (it is owned by the source's task).
#[derive(Clone, Debug)]
pub struct Membership {
    rx: watch::Receiver<Option<Arc<PodSet>>>,
}

/// The writing side of a [`Membership`], held by a discovery source.
#[derive(Debug)]
pub struct MembershipFeed {
    tx: watch::Sender<Option<Arc<PodSet>>>,
}

impl Membership {
    /// A membership and the feed that updates it. Nothing is known until the
    /// feed publishes its first set.
    pub fn channel() -> (MembershipFeed, Membership) {
        let (tx, rx) = watch::channel(None);
        (MembershipFeed { tx }, Membership { rx })
    }

    /// A membership fixed to `pods` (static configuration, tests).
    pub fn fixed(pods: PodSet) -> Membership {
        let (feed, membership) = Membership::channel();
        feed.publish(pods);
        membership
    }

    /// The current set; empty before the first list is in.
    pub fn current(&self) -> Arc<PodSet> {
        self.rx.borrow().clone().unwrap_or_default()
    }

    /// Whether the first list is in.
    pub fn is_ready(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// Resolves with the set once the first list is in.
    pub async fn ready(&self) -> Result<Arc<PodSet>, DiscoveryStopped> {
        let mut rx = self.rx.clone();
        let set = rx.wait_for(Option::is_some).await.map_err(|_| DiscoveryStopped)?;
        Ok(set.clone().unwrap_or_default())
    }

    /// The set as it is now plus every later change. Changes that happen
    /// faster than they are read are coalesced: the events always lead from
    /// the last set read to the current one.
    pub fn changes(&self) -> PodChanges {
        let mut rx = self.rx.clone();
        let initial = rx.borrow_and_update().clone().unwrap_or_default();
        PodChanges { rx, seen: initial, pending: std::collections::VecDeque::new() }
    }
}

impl MembershipFeed {
    /// Publishes a new set (a no-op for watchers if it equals the current one).
    pub fn publish(&self, pods: PodSet) {
        self.tx.send_if_modified(|current| {
            if current.as_deref() == Some(&pods) {
                return false;
            }
            *current = Some(Arc::new(pods));
            true
        });
    }

    /// Whether every [`Membership`] is gone (the source may stop).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves when every [`Membership`] is gone.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// The events of a [`Membership`], starting from [`PodChanges::initial`].
#[derive(Debug)]
pub struct PodChanges {
    rx: watch::Receiver<Option<Arc<PodSet>>>,
    seen: Arc<PodSet>,
    pending: std::collections::VecDeque<PodEvent>,
}

impl PodChanges {
    /// The set the events start from.
    pub fn initial(&self) -> &PodSet {
        &self.seen
    }

    /// The next change; `None` once the discovery source has stopped.
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
        assert_eq!(membership.ready().await, Err(DiscoveryStopped));
    }
}
