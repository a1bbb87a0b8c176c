//! # psrpc-kube: psrpc on Kubernetes
//!
//! Services running as pods of a Kubernetes Service, reached through psrpc,
//! with fan-out calls that know who must answer.
//!
//! - **Discovery** ([`watch_endpoint_slices`], [`watch_headless_service`]):
//!   the live pods of a Service as a [`Membership`] — a snapshot
//!   ([`Membership::current`]), [`Membership::ready`] once the first list is
//!   in, and [`PodChanges`] (initial set + added/changed/removed events).
//!   EndpointSlices are watched with kube-runtime and folded by the pure
//!   [`SliceAggregator`]; DNS polling of a headless Service is the fallback
//!   for clusters without API permissions. Targets parse from
//!   `kubernetes://service.namespace:port` ([`Target`]).
//! - **The gRPC bridge** ([`GrpcBridge`]): every ready pod exposing a plain
//!   gRPC service is registered on the bus as a psrpc server (server id = pod
//!   name), single, multi, topic and stream methods forwarded as raw bytes,
//!   gRPC statuses mapped to psrpc codes; pods that leave or start
//!   terminating drain and deregister.
//! - **Membership-aware calls** ([`expect_ready_pods`],
//!   [`expect_ready_count`], [`to_pod`], [`to_node`]): multi calls that end
//!   when every ready pod answered and report who did not; unicast by pod or
//!   node.
//!
//! ## Kubernetes version
//! Like every library on `k8s-openapi`, this crate selects no Kubernetes
//! version: the final binary enables one, e.g.
//! `k8s-openapi = { version = "0.29", features = ["latest"] }`.
//!
//! ## Permissions
//! EndpointSlice discovery needs `list` and `watch` on `endpointslices`
//! (API group `discovery.k8s.io`) in the watched namespace; see
//! `deploy/kubernetes/rbac.yaml`. DNS discovery needs none.

mod aggregate;
mod bridge;
mod codec;
mod dns;
mod endpoint_slices;
mod env;
mod fanout;
mod membership;
mod pod;
mod target;

pub use aggregate::SliceAggregator;
pub use bridge::{BridgeOptions, BridgedService, GrpcBridge};
pub use codec::{BytesCodec, BytesDecoder, BytesEncoder};
pub use dns::{DnsError, DnsOptions, watch_headless_service};
pub use endpoint_slices::{discover, watch_endpoint_slices};
pub use env::{pod_name, pod_namespace, pod_server_options};
pub use fanout::{expect_ready_count, expect_ready_pods, to_node, to_pod};
pub use membership::{DiscoveryError, Membership, MembershipFeed, PodChanges};
pub use pod::{Conditions, Pod, PodEvent, PodSet};
pub use target::{PortSpec, Target, TargetError};

/// Re-exported so a watch event type is at hand for [`SliceAggregator::apply`].
pub use kube::runtime::watcher::Event as WatchEvent;
