//! EndpointSlice watch events folded into one pod set (a pure state machine,
//! no I/O).
//!
//! - A Service's endpoints are spread over several slices, one address family
//!   per slice; pods are merged by name across all of them.
//! - An address is reference-counted by the slices that list it: while the
//!   EndpointSlice controller moves an endpoint from one slice to another it
//!   may be in both, and it stays until the last slice drops it (the most
//!   recently applied slice gives its conditions).
//! - A relist (`Init` … `InitApply` … `InitDone`) replaces the state: slices
//!   not listed again are dropped.
//! - Named ports resolve per slice; a slice without the port contributes
//!   nothing. FQDN slices and unparsable addresses are skipped.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use kube::runtime::watcher::Event;

use crate::pod::{Conditions, Pod, PodSet};
use crate::target::PortSpec;

/// One address of one slice, with everything discovery keeps about it.
#[derive(Clone, Debug)]
struct Record {
    /// The application order of the slice that listed it.
    seq: u64,
    address: IpAddr,
    pod: String,
    port: u16,
    node: Option<String>,
    zone: Option<String>,
    conditions: Conditions,
}

#[derive(Clone, Debug)]
struct SliceRecords {
    /// Order of application: later slices win for shared addresses.
    seq: u64,
    records: Vec<Record>,
}

/// Folds EndpointSlice watch events into the Service's [`PodSet`].
///
/// ```
/// use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
/// use psrpc_kube::{PortSpec, SliceAggregator, WatchEvent};
///
/// let slice = EndpointSlice {
///     metadata: ObjectMeta { name: Some("chat-x1".into()), ..Default::default() },
///     address_type: "IPv4".into(),
///     endpoints: Some(vec![Endpoint { addresses: vec!["10.0.0.5".into()], hostname: Some("chat-0".into()), ..Default::default() }]),
///     ports: Some(vec![EndpointPort { port: Some(8080), ..Default::default() }]),
/// };
/// let mut aggregator = SliceAggregator::new(Some(PortSpec::Number(8080)));
/// assert_eq!(aggregator.apply(WatchEvent::Init), None);
/// assert_eq!(aggregator.apply(WatchEvent::InitApply(slice)), None, "mid-list: nothing yet");
/// let pods = aggregator.apply(WatchEvent::InitDone).expect("the first complete list");
/// assert_eq!(pods.get("chat-0").and_then(|p| p.socket_addr()), Some("10.0.0.5:8080".parse().unwrap()));
/// ```
#[derive(Debug)]
pub struct SliceAggregator {
    port: Option<PortSpec>,
    slices: HashMap<String, SliceRecords>,
    relist: Option<HashMap<String, SliceRecords>>,
    next_seq: u64,
    synced: bool,
}

impl SliceAggregator {
    /// An aggregator resolving endpoints to `port` (see [`crate::Target::port`]).
    ///
    /// ```
    /// use psrpc_kube::{PortSpec, SliceAggregator};
    /// let aggregator = SliceAggregator::new(Some(PortSpec::Name("grpc".into())));
    /// assert!(aggregator.pods().is_empty());
    /// ```
    pub fn new(port: Option<PortSpec>) -> Self {
        SliceAggregator { port, slices: HashMap::new(), relist: None, next_seq: 0, synced: false }
    }

    /// Whether a complete list has been seen.
    ///
    /// ```
    /// use psrpc_kube::{SliceAggregator, WatchEvent};
    /// let mut aggregator = SliceAggregator::new(None);
    /// aggregator.apply(WatchEvent::Init);
    /// assert!(!aggregator.is_synced());
    /// aggregator.apply(WatchEvent::InitDone);
    /// assert!(aggregator.is_synced());
    /// ```
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Applies one watch event. Returns the new pod set when the visible
    /// state may have changed: after every event once the first list is
    /// complete, never in the middle of a relist.
    ///
    /// ```
    /// use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
    /// use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    /// use psrpc_kube::{PortSpec, SliceAggregator, WatchEvent};
    ///
    /// let slice = EndpointSlice {
    ///     metadata: ObjectMeta { name: Some("chat-x1".into()), ..Default::default() },
    ///     address_type: "IPv4".into(),
    ///     endpoints: Some(vec![Endpoint { addresses: vec!["10.0.0.5".into()], hostname: Some("chat-0".into()), ..Default::default() }]),
    ///     ports: Some(vec![EndpointPort { port: Some(8080), ..Default::default() }]),
    /// };
    /// let mut aggregator = SliceAggregator::new(Some(PortSpec::Number(8080)));
    /// aggregator.apply(WatchEvent::Init);
    /// aggregator.apply(WatchEvent::InitDone);
    /// let pods = aggregator.apply(WatchEvent::Apply(slice.clone())).expect("synced: every event counts");
    /// assert_eq!(pods.ready_names(), ["chat-0"]);
    /// assert!(aggregator.apply(WatchEvent::Delete(slice)).unwrap().is_empty());
    /// ```
    pub fn apply(&mut self, event: Event<EndpointSlice>) -> Option<PodSet> {
        match event {
            Event::Init => {
                self.relist = Some(HashMap::new());
                None
            }
            Event::InitApply(slice) => {
                let records = self.records(&slice);
                self.relist.get_or_insert_with(HashMap::new).insert(slice_key(&slice), records);
                None
            }
            Event::InitDone => {
                self.slices = self.relist.take().unwrap_or_default();
                self.synced = true;
                Some(self.pods())
            }
            Event::Apply(slice) => {
                let records = self.records(&slice);
                self.slices.insert(slice_key(&slice), records);
                self.synced.then(|| self.pods())
            }
            Event::Delete(slice) => {
                self.slices.remove(&slice_key(&slice));
                self.synced.then(|| self.pods())
            }
        }
    }

    /// The current pod set (also in the middle of a relist).
    ///
    /// ```
    /// assert!(psrpc_kube::SliceAggregator::new(None).pods().is_empty());
    /// ```
    pub fn pods(&self) -> PodSet {
        let mut slices: Vec<&SliceRecords> = self.slices.values().collect();
        slices.sort_by_key(|s| s.seq);
        // An address lives while any slice lists it; the latest listing wins.
        let mut addresses: HashMap<IpAddr, &Record> = HashMap::new();
        for record in slices.iter().flat_map(|s| &s.records) {
            addresses.insert(record.address, record);
        }
        let mut by_pod: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
        for record in addresses.values() {
            by_pod.entry(&record.pod).or_default().push(record);
        }
        by_pod.into_values().filter_map(merge_pod).collect()
    }

    fn records(&mut self, slice: &EndpointSlice) -> SliceRecords {
        let seq = self.next_seq;
        self.next_seq += 1;
        let records = match (family_ok(slice), resolve_port(slice, self.port.as_ref())) {
            (true, Some(port)) => {
                slice.endpoints.iter().flatten().flat_map(|e| endpoint_records(e, port, seq)).collect()
            }
            _ => Vec::new(),
        };
        SliceRecords { seq, records }
    }
}

/// The state of a pod from its addresses' records; the record applied last
/// gives conditions, node and zone.
fn merge_pod(records: Vec<&Record>) -> Option<Pod> {
    let latest = *records.iter().max_by_key(|r| r.seq)?;
    let mut addresses: Vec<IpAddr> = records.iter().map(|r| r.address).collect();
    addresses.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    Some(Pod {
        name: latest.pod.clone(),
        addresses,
        port: latest.port,
        node: latest.node.clone(),
        zone: latest.zone.clone(),
        conditions: latest.conditions,
    })
}

fn slice_key(slice: &EndpointSlice) -> String {
    slice.metadata.name.clone().or_else(|| slice.metadata.uid.clone()).unwrap_or_default()
}

fn family_ok(slice: &EndpointSlice) -> bool {
    matches!(slice.address_type.as_str(), "IPv4" | "IPv6")
}

/// The pod port of a slice for `spec`: the number itself, the slice's port of
/// that name, or (no spec) the slice's only port.
fn resolve_port(slice: &EndpointSlice, spec: Option<&PortSpec>) -> Option<u16> {
    let ports = slice.ports.as_deref().unwrap_or_default();
    let number = |p: &k8s_openapi::api::discovery::v1::EndpointPort| p.port.and_then(|n| u16::try_from(n).ok());
    match spec {
        Some(PortSpec::Number(port)) => Some(*port),
        Some(PortSpec::Name(name)) => ports.iter().find(|p| p.name.as_deref() == Some(name)).and_then(number),
        None => match ports {
            [only] => number(only),
            _ => None,
        },
    }
}

fn endpoint_records(endpoint: &Endpoint, port: u16, seq: u64) -> impl Iterator<Item = Record> + '_ {
    let conditions = endpoint.conditions.as_ref().map_or_else(Conditions::default, |c| Conditions {
        ready: c.ready.unwrap_or(true),
        serving: c.serving.unwrap_or(true),
        terminating: c.terminating.unwrap_or(false),
    });
    let pod_ref =
        endpoint.target_ref.as_ref().filter(|r| r.kind.as_deref() == Some("Pod")).and_then(|r| r.name.clone());
    endpoint.addresses.iter().filter_map(move |address| {
        let address: IpAddr = address.parse().ok()?;
        let pod = pod_ref.clone().or_else(|| endpoint.hostname.clone()).unwrap_or_else(|| address.to_string());
        Some(Record {
            seq,
            address,
            pod,
            port,
            node: endpoint.node_name.clone(),
            zone: endpoint.zone.clone(),
            conditions,
        })
    })
}
