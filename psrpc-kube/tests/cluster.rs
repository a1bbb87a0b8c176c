//! Against a real cluster (the current kubeconfig context):
//! `cargo test -p psrpc-kube --test cluster -- --ignored`.

use std::time::Duration;

use psrpc_kube::{PortSpec, Target, discover};

#[tokio::test]
#[ignore = "needs cluster"]
async fn discovers_the_api_servers_behind_the_kubernetes_service() {
    // Every cluster has it: `kubernetes` in `default`, port `https`, endpoints without pods.
    let target = Target::new("kubernetes", PortSpec::Name("https".into())).in_namespace("default");
    let membership = discover(&target).await.expect("a client from the kubeconfig");
    let pods = tokio::time::timeout(Duration::from_secs(30), membership.ready()).await.unwrap().unwrap();
    assert!(pods.ready().count() >= 1, "at least one API server endpoint: {pods:?}");
    assert!(pods.iter().all(|p| p.socket_addr().is_some()));
}
