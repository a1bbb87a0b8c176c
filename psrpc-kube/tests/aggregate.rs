//! The EndpointSlice aggregation as a pure function over synthetic watch
//! events.

mod support;

use psrpc_kube::{PodSet, PortSpec, SliceAggregator, WatchEvent};
use support::slices::{endpoint, slice, terminating};

fn grpc_port() -> Option<PortSpec> {
    Some(PortSpec::Name("grpc".into()))
}

/// Runs a full list of `slices` through a new aggregator.
fn listed(slices: Vec<k8s_openapi::api::discovery::v1::EndpointSlice>) -> (SliceAggregator, PodSet) {
    listed_on(grpc_port(), slices)
}

fn listed_on(
    port: Option<PortSpec>,
    slices: Vec<k8s_openapi::api::discovery::v1::EndpointSlice>,
) -> (SliceAggregator, PodSet) {
    let mut agg = SliceAggregator::new(port);
    assert_eq!(agg.apply(WatchEvent::Init), None);
    for s in slices {
        assert_eq!(agg.apply(WatchEvent::InitApply(s)), None, "no set before the list is complete");
    }
    assert!(!agg.is_synced());
    let pods = agg.apply(WatchEvent::InitDone).expect("a set after InitDone");
    assert!(agg.is_synced());
    (agg, pods)
}

#[test]
fn pods_merge_across_slices_and_address_families() {
    let (_, pods) = listed(vec![
        slice(
            "chat",
            "chat-v4-a",
            "IPv4",
            vec![endpoint("chat-0", "10.0.0.1", "n1"), endpoint("chat-1", "10.0.0.2", "n2")],
        ),
        slice("chat", "chat-v4-b", "IPv4", vec![endpoint("chat-2", "10.0.0.3", "n1")]),
        slice("chat", "chat-v6", "IPv6", vec![endpoint("chat-0", "fd00::1", "n1")]),
    ]);
    assert_eq!(pods.ready_names(), ["chat-0", "chat-1", "chat-2"]);
    let chat0 = pods.get("chat-0").unwrap();
    assert_eq!(chat0.addresses, ["10.0.0.1".parse::<std::net::IpAddr>().unwrap(), "fd00::1".parse().unwrap()]);
    assert_eq!(chat0.socket_addr().unwrap().to_string(), "10.0.0.1:50051", "IPv4 first, named port resolved");
    assert_eq!(chat0.node.as_deref(), Some("n1"));
    assert_eq!(chat0.zone.as_deref(), Some("zone-of-n1"));
    assert_eq!(pods.on_node("n1").count(), 2);
}

#[test]
fn an_address_in_two_slices_stays_until_both_drop_it() {
    let (mut agg, _) = listed(vec![slice("chat", "a", "IPv4", vec![endpoint("chat-0", "10.0.0.1", "n1")])]);
    // The controller moves chat-0 to slice b: for a while both list it.
    let pods =
        agg.apply(WatchEvent::Apply(slice("chat", "b", "IPv4", vec![endpoint("chat-0", "10.0.0.1", "n1")]))).unwrap();
    assert_eq!(pods.ready_names(), ["chat-0"]);
    let pods = agg.apply(WatchEvent::Apply(slice("chat", "a", "IPv4", vec![]))).unwrap();
    assert_eq!(pods.ready_names(), ["chat-0"], "still referenced by slice b");
    let pods = agg.apply(WatchEvent::Delete(slice("chat", "b", "IPv4", vec![]))).unwrap();
    assert!(pods.is_empty(), "no slice lists it any more");
}

#[test]
fn a_relist_drops_slices_not_seen_again() {
    let (mut agg, _) = listed(vec![
        slice("chat", "a", "IPv4", vec![endpoint("chat-0", "10.0.0.1", "n1")]),
        slice("chat", "b", "IPv4", vec![endpoint("chat-1", "10.0.0.2", "n1")]),
    ]);
    // The watch broke, the slice b was deleted meanwhile: the relist misses it.
    assert_eq!(agg.apply(WatchEvent::Init), None);
    assert_eq!(
        agg.apply(WatchEvent::InitApply(slice("chat", "a", "IPv4", vec![endpoint("chat-0", "10.0.0.1", "n1")]))),
        None
    );
    assert_eq!(agg.pods().ready_names(), ["chat-0", "chat-1"], "the old state holds during the relist");
    let pods = agg.apply(WatchEvent::InitDone).unwrap();
    assert_eq!(pods.ready_names(), ["chat-0"]);
}

#[test]
fn terminating_pods_are_known_but_not_ready() {
    let (mut agg, _) = listed(vec![slice(
        "chat",
        "a",
        "IPv4",
        vec![endpoint("chat-0", "10.0.0.1", "n1"), endpoint("chat-1", "10.0.0.2", "n1")],
    )]);
    let pods = agg
        .apply(WatchEvent::Apply(slice(
            "chat",
            "a",
            "IPv4",
            vec![endpoint("chat-0", "10.0.0.1", "n1"), terminating(endpoint("chat-1", "10.0.0.2", "n1"))],
        )))
        .unwrap();
    let chat1 = pods.get("chat-1").expect("a terminating pod is still listed");
    assert!(!chat1.is_ready());
    assert!(chat1.conditions.serving && chat1.conditions.terminating);
    assert_eq!(pods.ready_names(), ["chat-0"]);
}

#[test]
fn absent_conditions_take_kubernetes_defaults() {
    let mut bare = endpoint("chat-0", "10.0.0.1", "n1");
    bare.conditions = None;
    let mut unknown_ready = endpoint("chat-1", "10.0.0.2", "n1");
    unknown_ready.conditions = Some(Default::default());
    let (_, pods) = listed(vec![slice("chat", "a", "IPv4", vec![bare, unknown_ready])]);
    assert_eq!(pods.ready_names(), ["chat-0", "chat-1"], "nil ready and serving mean true, nil terminating false");
}

#[test]
fn ports_resolve_by_name_or_number_and_missing_names_contribute_nothing() {
    let slices = || vec![slice("chat", "a", "IPv4", vec![endpoint("chat-0", "10.0.0.1", "n1")])];
    let (_, by_number) = listed_on(Some(PortSpec::Number(9000)), slices());
    assert_eq!(by_number.get("chat-0").unwrap().port, 9000);
    let (_, by_missing_name) = listed_on(Some(PortSpec::Name("http".into())), slices());
    assert!(by_missing_name.is_empty(), "no port named http");
    let (_, only_port) = listed_on(None, slices());
    assert_eq!(only_port.get("chat-0").unwrap().port, 50051);
}

#[test]
fn pods_without_a_target_ref_are_named_by_hostname_or_address_and_bad_input_is_skipped() {
    let mut by_host = endpoint("x", "10.0.0.1", "n1");
    by_host.target_ref = None;
    by_host.hostname = Some("db-0".into());
    let mut by_address = endpoint("x", "10.0.0.2", "n1");
    by_address.target_ref = None;
    let mut garbage = endpoint("bad", "not-an-ip", "n1");
    garbage.addresses.push(String::new());
    let fqdn = slice("chat", "f", "FQDN", vec![endpoint("fqdn", "example.com", "n1")]);
    let (_, pods) = listed(vec![slice("chat", "a", "IPv4", vec![by_host, by_address, garbage]), fqdn]);
    assert_eq!(pods.ready_names(), ["10.0.0.2", "db-0"]);
}

#[test]
fn apply_and_delete_before_the_first_list_publish_nothing() {
    let mut agg = SliceAggregator::new(grpc_port());
    assert_eq!(
        agg.apply(WatchEvent::Apply(slice("chat", "a", "IPv4", vec![endpoint("chat-0", "10.0.0.1", "n1")]))),
        None
    );
    assert_eq!(agg.apply(WatchEvent::Delete(slice("chat", "a", "IPv4", vec![]))), None);
    assert!(!agg.is_synced());
}
