//! DNS discovery of a headless Service against a fake DNS server whose
//! records change while discovery polls.

mod support;

use std::time::Duration;

use psrpc_kube::{DnsOptions, PodEvent, PortSpec, Target, watch_headless_service};
use support::dns_server::FakeDns;

const WAIT: Duration = Duration::from_secs(10);
const HOST: &str = "chat.prod.svc.cluster.local.";

fn options(dns: &FakeDns) -> DnsOptions {
    DnsOptions::default().interval(Duration::from_millis(20)).nameservers([dns.addr])
}

async fn next(changes: &mut psrpc_kube::PodChanges) -> PodEvent {
    tokio::time::timeout(WAIT, changes.next()).await.expect("an event in time").expect("polling")
}

#[tokio::test]
async fn a_records_become_pods_and_follow_changes() {
    let dns = FakeDns::start().await;
    dns.set_addresses(HOST, &["10.1.0.1", "10.1.0.2"]);
    let target = Target::new("chat", PortSpec::Number(50051)).in_namespace("prod");
    let membership = watch_headless_service(&target, options(&dns)).unwrap();
    let pods = tokio::time::timeout(WAIT, membership.ready()).await.unwrap().unwrap();
    assert_eq!(pods.ready_names(), ["10.1.0.1", "10.1.0.2"]);
    assert_eq!(pods.get("10.1.0.2").unwrap().socket_addr().unwrap().to_string(), "10.1.0.2:50051");

    let mut changes = membership.changes();
    dns.set_addresses(HOST, &["10.1.0.2", "10.1.0.3"]);
    let mut events = vec![next(&mut changes).await, next(&mut changes).await];
    events.sort_by_key(|e| e.pod().name.clone());
    assert!(matches!(&events[0], PodEvent::Removed(p) if p.name == "10.1.0.1"), "{events:?}");
    assert!(matches!(&events[1], PodEvent::Added(p) if p.name == "10.1.0.3"), "{events:?}");

    // NXDOMAIN: the Service has no ready pods.
    dns.set_addresses(HOST, &[]);
    let gone = [next(&mut changes).await, next(&mut changes).await];
    assert!(gone.iter().all(|e| matches!(e, PodEvent::Removed(_))), "{gone:?}");
    assert!(membership.current().is_empty());
}

#[tokio::test]
async fn named_ports_use_srv_records_and_name_pods_by_their_host() {
    let dns = FakeDns::start().await;
    dns.set_srv(
        "_grpc._tcp.chat.prod.svc.cluster.local.",
        &[("chat-0.chat.prod.svc.cluster.local.", 7000), ("chat-1.chat.prod.svc.cluster.local.", 7000)],
    );
    dns.set_addresses("chat-0.chat.prod.svc.cluster.local.", &["10.1.0.1"]);
    dns.set_addresses("chat-1.chat.prod.svc.cluster.local.", &["10.1.0.2"]);
    let target = Target::new("chat", PortSpec::Name("grpc".into())).in_namespace("prod");
    let membership = watch_headless_service(&target, options(&dns)).unwrap();
    let pods = tokio::time::timeout(WAIT, membership.ready()).await.unwrap().unwrap();
    assert_eq!(pods.ready_names(), ["chat-0", "chat-1"]);
    assert_eq!(pods.get("chat-1").unwrap().socket_addr().unwrap().to_string(), "10.1.0.2:7000");
}

#[tokio::test]
async fn a_target_without_port_is_refused() {
    let target: Target = "kubernetes://chat.prod".parse().unwrap();
    assert!(matches!(watch_headless_service(&target, DnsOptions::default()), Err(psrpc_kube::DnsError::NoPort)));
}
