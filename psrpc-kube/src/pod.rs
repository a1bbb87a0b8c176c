//! The pods of a Service as discovery sees them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// Endpoint conditions, with Kubernetes' defaults for absent values applied
/// (`ready` and `serving` default to true, `terminating` to false).
///
/// ```
/// use psrpc_kube::Conditions;
/// let draining = Conditions { ready: false, terminating: true, ..Conditions::default() };
/// assert!(draining.serving); // still finishing its work
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conditions {
    /// Ready for new traffic (normally serving and not terminating).
    pub ready: bool,
    /// Able to serve, terminating or not (the pod's Ready condition).
    pub serving: bool,
    /// Shutting down: takes no new work, may still finish what it has.
    pub terminating: bool,
}

impl Default for Conditions {
    fn default() -> Self {
        Conditions { ready: true, serving: true, terminating: false }
    }
}

/// One pod backing the Service.
///
/// ```
/// use psrpc_kube::{Conditions, Pod};
/// let pod = Pod {
///     name: "chat-0".into(),
///     addresses: vec!["10.0.0.7".parse().unwrap()],
///     port: 50051,
///     node: Some("node-a".into()),
///     zone: None,
///     conditions: Conditions::default(),
/// };
/// assert!(pod.is_ready());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// The pod name (from the endpoint's `targetRef`; else its hostname; else
    /// its first address, which is also what DNS discovery uses).
    pub name: String,
    /// Every address of the pod across address families, sorted (IPv4 first).
    pub addresses: Vec<IpAddr>,
    /// The port the target resolved to on this pod.
    pub port: u16,
    /// The node the pod runs on, when known.
    pub node: Option<String>,
    /// The zone of that node, when known.
    pub zone: Option<String>,
    /// The endpoint conditions.
    pub conditions: Conditions,
}

impl Pod {
    /// Whether the pod should get new calls (its `ready` condition).
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// assert!(pod("a", "n1", true).is_ready());
    /// assert!(!pod("b", "n1", false).is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        self.conditions.ready
    }

    /// The address to connect to: the first address (IPv4 when it has one).
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// assert_eq!(pod("a", "n1", true).socket_addr(), Some("10.0.0.1:8080".parse().unwrap()));
    /// ```
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.addresses.first().map(|ip| SocketAddr::new(*ip, self.port))
    }
}

/// The pods of a Service, by name.
///
/// ```
/// # use psrpc_kube::{Conditions, Pod, PodSet};
/// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
/// #     let conditions = Conditions { ready, ..Conditions::default() };
/// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
/// # }
/// let pods: PodSet = [pod("a", "n1", true), pod("b", "n2", true), pod("c", "n2", false)].into_iter().collect();
/// assert_eq!(pods.len(), 3);
/// assert_eq!(pods.ready_names(), ["a", "b"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSet {
    pods: BTreeMap<String, Pod>,
}

impl PodSet {
    /// An empty set.
    ///
    /// ```
    /// assert!(psrpc_kube::PodSet::new().is_empty());
    /// ```
    pub fn new() -> Self {
        PodSet::default()
    }

    /// Adds or replaces a pod.
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// let mut pods = PodSet::new();
    /// pods.insert(pod("a", "n1", false));
    /// pods.insert(pod("a", "n1", true)); // replaces
    /// assert_eq!(pods.len(), 1);
    /// assert!(pods.get("a").unwrap().is_ready());
    /// ```
    pub fn insert(&mut self, pod: Pod) {
        self.pods.insert(pod.name.clone(), pod);
    }

    /// The pod called `name`.
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// let pods: PodSet = [pod("a", "n1", true), pod("b", "n2", true), pod("c", "n2", false)].into_iter().collect();
    /// assert_eq!(pods.get("b").and_then(|p| p.node.as_deref()), Some("n2"));
    /// assert!(pods.get("z").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&Pod> {
        self.pods.get(name)
    }

    /// All pods, ordered by name.
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// let pods: PodSet = [pod("a", "n1", true), pod("b", "n2", true), pod("c", "n2", false)].into_iter().collect();
    /// let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
    /// assert_eq!(names, ["a", "b", "c"]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &Pod> {
        self.pods.values()
    }

    /// The pods that are ready for new calls.
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// let pods: PodSet = [pod("a", "n1", true), pod("b", "n2", true), pod("c", "n2", false)].into_iter().collect();
    /// assert_eq!(pods.ready().count(), 2);
    /// ```
    pub fn ready(&self) -> impl Iterator<Item = &Pod> {
        self.iter().filter(|p| p.is_ready())
    }

    /// The names of the ready pods: the servers a fan-out call expects.
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// let pods: PodSet = [pod("a", "n1", true), pod("b", "n2", true), pod("c", "n2", false)].into_iter().collect();
    /// assert_eq!(pods.ready_names(), ["a", "b"]);
    /// ```
    pub fn ready_names(&self) -> Vec<String> {
        self.ready().map(|p| p.name.clone()).collect()
    }

    /// The ready pods on `node`.
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// let pods: PodSet = [pod("a", "n1", true), pod("b", "n2", true), pod("c", "n2", false)].into_iter().collect();
    /// let on_n2: Vec<&str> = pods.on_node("n2").map(|p| p.name.as_str()).collect();
    /// assert_eq!(on_n2, ["b"]); // `c` is not ready
    /// ```
    pub fn on_node<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Pod> {
        self.ready().filter(move |p| p.node.as_deref() == Some(node))
    }

    /// Number of pods (ready or not).
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// let pods: PodSet = [pod("a", "n1", true), pod("b", "n2", true), pod("c", "n2", false)].into_iter().collect();
    /// assert_eq!(pods.len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether there are no pods.
    ///
    /// ```
    /// assert!(psrpc_kube::PodSet::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// The events that turn `self` into `next`, ordered by pod name.
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// use psrpc_kube::PodEvent;
    /// let before: PodSet = [pod("a", "n1", true), pod("b", "n1", true)].into_iter().collect();
    /// let after: PodSet = [pod("b", "n1", false), pod("c", "n2", true)].into_iter().collect();
    /// let events = before.diff(&after);
    /// assert!(matches!(&events[..], [PodEvent::Removed(a), PodEvent::Changed(b), PodEvent::Added(c)]
    ///     if a.name == "a" && !b.is_ready() && c.name == "c"));
    /// ```
    pub fn diff(&self, next: &PodSet) -> Vec<PodEvent> {
        let mut events = Vec::new();
        for (name, pod) in &self.pods {
            match next.pods.get(name) {
                None => events.push(PodEvent::Removed(pod.clone())),
                Some(new) if new != pod => events.push(PodEvent::Changed(new.clone())),
                Some(_) => {}
            }
        }
        events.extend(
            next.pods
                .iter()
                .filter(|(name, _)| !self.pods.contains_key(*name))
                .map(|(_, p)| PodEvent::Added(p.clone())),
        );
        events
    }
}

impl FromIterator<Pod> for PodSet {
    fn from_iter<I: IntoIterator<Item = Pod>>(iter: I) -> Self {
        let mut set = PodSet::new();
        iter.into_iter().for_each(|pod| set.insert(pod));
        set
    }
}

/// A change in the pod set.
///
/// ```
/// # use psrpc_kube::{Conditions, Pod, PodSet};
/// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
/// #     let conditions = Conditions { ready, ..Conditions::default() };
/// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
/// # }
/// use psrpc_kube::PodEvent;
/// let events = PodSet::new().diff(&[pod("a", "n1", true)].into_iter().collect());
/// assert_eq!(events, [PodEvent::Added(pod("a", "n1", true))]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodEvent {
    /// A pod appeared.
    Added(Pod),
    /// A known pod changed (conditions, addresses, node or port): the new state.
    Changed(Pod),
    /// A pod went away (its last endpoint was removed).
    Removed(Pod),
}

impl PodEvent {
    /// The pod the event is about (its new state, or its last one if removed).
    ///
    /// ```
    /// # use psrpc_kube::{Conditions, Pod, PodSet};
    /// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
    /// #     let conditions = Conditions { ready, ..Conditions::default() };
    /// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
    /// # }
    /// use psrpc_kube::PodEvent;
    /// assert_eq!(PodEvent::Removed(pod("a", "n1", true)).pod().name, "a");
    /// ```
    pub fn pod(&self) -> &Pod {
        match self {
            PodEvent::Added(pod) | PodEvent::Changed(pod) | PodEvent::Removed(pod) => pod,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: bool) -> Pod {
        Pod {
            name: name.into(),
            addresses: vec!["10.0.0.1".parse().unwrap()],
            port: 80,
            node: Some("n1".into()),
            zone: None,
            conditions: Conditions { ready, ..Conditions::default() },
        }
    }

    #[test]
    fn diff_reports_added_changed_and_removed_pods() {
        let before: PodSet = [pod("a", true), pod("b", true), pod("c", true)].into_iter().collect();
        let after: PodSet = [pod("b", false), pod("c", true), pod("d", true)].into_iter().collect();
        assert_eq!(
            before.diff(&after),
            vec![
                PodEvent::Removed(pod("a", true)),
                PodEvent::Changed(pod("b", false)),
                PodEvent::Added(pod("d", true))
            ]
        );
        assert!(after.diff(&after).is_empty());
        assert_eq!(after.ready_names(), ["c", "d"]);
        assert_eq!(after.on_node("n1").count(), 2);
        assert_eq!(after.on_node("n2").count(), 0);
    }
}
