//! Synthetic EndpointSlices, as the EndpointSlice controller writes them.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// An endpoint of pod `pod` at `address` on `node`, ready.
pub fn endpoint(pod: &str, address: &str, node: &str) -> Endpoint {
    Endpoint {
        addresses: vec![address.into()],
        conditions: Some(EndpointConditions { ready: Some(true), serving: Some(true), terminating: Some(false) }),
        node_name: Some(node.into()),
        zone: Some(format!("zone-of-{node}")),
        target_ref: Some(ObjectReference { kind: Some("Pod".into()), name: Some(pod.into()), ..Default::default() }),
        ..Default::default()
    }
}

/// The endpoint as a terminating pod still serving its last calls.
pub fn terminating(mut endpoint: Endpoint) -> Endpoint {
    endpoint.conditions = Some(EndpointConditions { ready: Some(false), serving: Some(true), terminating: Some(true) });
    endpoint
}

/// A slice `name` of service `service` with one port `grpc` = 50051.
pub fn slice(service: &str, name: &str, family: &str, endpoints: Vec<Endpoint>) -> EndpointSlice {
    EndpointSlice {
        address_type: family.into(),
        endpoints: Some(endpoints),
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            labels: Some([("kubernetes.io/service-name".to_owned(), service.to_owned())].into()),
            ..Default::default()
        },
        ports: Some(vec![EndpointPort {
            name: Some("grpc".into()),
            port: Some(50051),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
    }
}
