//! The Kubernetes manifests in `deploy/kubernetes/` parse as the API types
//! they claim to be and agree with each other and with the example: the
//! RBAC grants exactly list/watch on endpointslices to the pods' service
//! account, the discovery target names the headless Service and its port,
//! and the bus URL names the NATS Service.

use std::collections::HashMap;
use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use psrpc_kube::{PortSpec, Target};
use serde::Deserialize as _;

/// Every document of every manifest, by `kind/name`.
fn manifests() -> HashMap<String, serde_json::Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes");
    let mut objects = HashMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_norway::Deserializer::from_str(&text) {
            let value = serde_json::Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let key = format!("{}/{}", value["kind"].as_str().unwrap(), value["metadata"]["name"].as_str().unwrap());
            assert!(objects.insert(key.clone(), value).is_none(), "{key} defined twice");
        }
    }
    objects
}

fn get<T: serde::de::DeserializeOwned>(objects: &HashMap<String, serde_json::Value>, key: &str) -> T {
    serde_json::from_value(objects.get(key).unwrap_or_else(|| panic!("{key} missing")).clone())
        .unwrap_or_else(|e| panic!("{key}: {e}"))
}

fn arg_after<'a>(args: &'a [String], flag: &str) -> &'a str {
    let at = args.iter().position(|a| a == flag).unwrap_or_else(|| panic!("{flag} missing"));
    &args[at + 1]
}

#[test]
fn the_rbac_grants_list_and_watch_on_endpointslices_only() {
    let objects = manifests();
    let role: Role = get(&objects, "Role/endpointslice-reader");
    let rules = role.rules.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].api_groups.as_deref(), Some(&["discovery.k8s.io".to_owned()][..]));
    assert_eq!(rules[0].resources.as_deref(), Some(&["endpointslices".to_owned()][..]));
    assert_eq!(rules[0].verbs, ["list", "watch"]);
    let binding: RoleBinding = get(&objects, "RoleBinding/chat-store-endpointslice-reader");
    assert_eq!((binding.role_ref.kind.as_str(), binding.role_ref.name.as_str()), ("Role", "endpointslice-reader"));
    let subject = &binding.subjects.unwrap()[0];
    assert_eq!((subject.kind.as_str(), subject.name.as_str()), ("ServiceAccount", "chat-store"));
    let _: ServiceAccount = get(&objects, "ServiceAccount/chat-store");
}

#[test]
fn the_deployment_discovers_its_own_headless_service_over_nats() {
    let objects = manifests();
    let deployment: Deployment = get(&objects, "Deployment/chat-store");
    let pod = deployment.spec.template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("chat-store"));
    let container = &pod.containers[0];
    let args = container.args.clone().unwrap();

    let target: Target = arg_after(&args, "--discover").parse().unwrap();
    let service: Service = get(&objects, &format!("Service/{}", target.service));
    let spec = service.spec.unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("None"), "the discovered Service is headless");
    let Some(PortSpec::Name(port)) = &target.port else { panic!("the target names its port") };
    assert!(spec.ports.unwrap().iter().any(|p| p.name.as_deref() == Some(port)), "the Service has port {port}");
    assert!(container.ports.as_ref().unwrap().iter().any(|p| p.name.as_deref() == Some(port)));

    let pod_name = container.env.as_ref().unwrap().iter().find(|e| e.name == "POD_NAME").expect("POD_NAME set");
    let field = pod_name.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
    assert_eq!(field.field_path, "metadata.name", "server id = pod name");

    let bus = arg_after(&args, "--bus");
    let host = bus.strip_prefix("nats://").unwrap().split(':').next().unwrap();
    let nats: Service = get(&objects, &format!("Service/{host}"));
    assert!(nats.spec.unwrap().ports.unwrap().iter().any(|p| bus.ends_with(&format!(":{}", p.port))));
    let _: Deployment = get(&objects, &format!("Deployment/{host}"));
}
