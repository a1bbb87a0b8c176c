//! Test support for psrpc-rs.
//!
//! - [`broker`]: shared helpers for starting broker processes on free loopback ports;
//! - [`bench_summary`]: running a benchmark binary and reading its JSON summary;
//! - [`nats`] / [`redis`]: launchers for `nats-server` and `redis-server`;
//! - [`bus_conformance`](mod@bus_conformance): the bus conformance suite, instantiated per bus with a macro;
//! - [`factory::BusFactory`]: where the suites get bus connections;
//! - [`handmade`]: protobuf frames written by hand, for interop tests;
//! - [`failover`]: load of every RPC kind while a broker node dies, shared by the topologies;
//! - [`faulty::CuttableBus`]: a connection that can be cut (a vanished process) and counts its frames;
//! - [`restart`]: the broker-restart scenario shared by the broker buses;
//! - [`topology`]: NATS clusters, Redis Sentinel and Redis Cluster on loopback;
//! - [`tls`]: self-signed certificates for TLS tests;
//! - [`rpc_suite`](mod@rpc_suite): the RPC suite (every RPC kind over any bus), instantiated per bus with a macro;
//! - [`unique_name`]: service names of a test's own, so tests can share one broker.

pub mod bench_summary;
pub mod broker;
pub mod bus_conformance;
pub mod factory;
pub mod failover;
pub mod faulty;
pub mod handmade;
pub mod nats;
pub mod redis;
pub mod restart;
pub mod rpc_suite;
pub mod tls;
pub mod topology;

pub use factory::{BusFactory, SameBus};

/// `prefix` followed by a random id: a service (or client) name no other
/// test uses, so tests sharing one broker (`PSRPC_NATS_URL`,
/// `PSRPC_REDIS_URL`) never see each other's channels.
///
/// ```
/// let a = psrpc_test_support::unique_name("Svc");
/// assert!(a.starts_with("Svc") && a != psrpc_test_support::unique_name("Svc"));
/// ```
pub fn unique_name(prefix: &str) -> String {
    psrpc_protocol::id::new_id(prefix)
}
