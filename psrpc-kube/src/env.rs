//! Who this pod is: its name and namespace, as the Downward API or the
//! service-account mount tell.

use psrpc_core::options::ServerOptions;

const NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The pod's name: `POD_NAME` (set it from `metadata.name` with the Downward
/// API), else `HOSTNAME` (which Kubernetes sets to the pod name).
///
/// ```
/// if let Some(name) = psrpc_kube::pod_name() {
///     println!("running as {name}");
/// }
/// ```
pub fn pod_name() -> Option<String> {
    non_empty_var("POD_NAME").or_else(|| non_empty_var("HOSTNAME"))
}

/// The pod's namespace: `POD_NAMESPACE`, else the service-account mount,
/// else `default`.
///
/// ```
/// let namespace = psrpc_kube::pod_namespace();
/// assert!(!namespace.is_empty());
/// ```
pub fn pod_namespace() -> String {
    non_empty_var("POD_NAMESPACE")
        .or_else(|| {
            std::fs::read_to_string(NAMESPACE_FILE).ok().map(|ns| ns.trim().to_owned()).filter(|ns| !ns.is_empty())
        })
        .unwrap_or_else(|| "default".to_owned())
}

/// Server options whose server id is this pod's name, so clients can expect
/// it in fan-out calls and route to it by name.
///
/// ```
/// # use std::sync::Arc;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let bus: psrpc::SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let options = psrpc_kube::pod_server_options();
/// let server = psrpc::RpcServer::new("Chat", bus, options);
/// if let Some(pod) = psrpc_kube::pod_name() {
///     assert_eq!(server.id(), pod);
/// }
/// # }
/// ```
pub fn pod_server_options() -> ServerOptions {
    match pod_name() {
        Some(name) => ServerOptions::default().server_id(name),
        None => ServerOptions::default(),
    }
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
