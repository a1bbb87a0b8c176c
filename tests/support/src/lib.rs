//! Test support for psrpc-rs.
//!
//! - [`broker`]: shared helpers for starting broker processes on free loopback ports;
//! - [`bench_summary`]: running a benchmark binary and reading its JSON summary;
//! - [`nats`] / [`redis`]: launchers for `nats-server` and `redis-server`;
//! - [`nats_auth`]: a `nats-server` requiring a password, a token, an nkey, a creds file or a client certificate;
//! - [`nats_permissions`]: a `nats-server` whose users have publish and subscribe allow lists;
//! - [`bus_conformance`](mod@bus_conformance): the bus conformance suite, instantiated per bus with a macro;
//! - [`factory::BusFactory`]: where the suites get bus connections;
//! - [`handmade`]: protobuf frames written by hand, for interop tests;
//! - [`interop`]: the server, hand-built request and captured call the broker buses' interop tests share;
//! - [`failover`]: load of every RPC kind while a broker node dies, shared by the topologies;
//! - [`faulty::CuttableBus`]: a connection that can be cut (a vanished process) and counts its frames;
//! - [`resilience`]: readiness rounds and the oversized-frame and garbage checks the broker buses share;
//! - [`restart`]: the broker-restart scenario shared by the broker buses;
//! - [`topology`]: NATS clusters, Redis Sentinel and Redis Cluster on loopback;
//! - [`tls`]: self-signed certificates for TLS tests;
//! - [`rpc_suite`](mod@rpc_suite): the RPC suite (every RPC kind over any bus), instantiated per bus with a macro;
//! - [`bus_suites!`]: both suites for one bus, each in a module of its own;
//! - [`unique_name`]: service names of a test's own, so tests can share one broker.

pub mod bench_summary;
pub mod broker;
pub mod bus_conformance;
pub mod factory;
pub mod failover;
pub mod faulty;
pub mod handmade;
pub mod interop;
pub mod nats;
pub mod nats_auth;
pub mod nats_permissions;
pub mod redis;
pub mod resilience;
pub mod restart;
pub mod rpc_suite;
pub mod tls;
pub mod topology;

pub use factory::{BusFactory, SameBus, Served};

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

/// Instantiates both suites for one bus: the bus conformance suite
/// ([`bus_conformance!`]) in the module `$conformance` and the RPC suite
/// ([`rpc_suite!`]) in the module `$rpc`, with the bus factory expression
/// `$factory` (evaluated once per test), written in terms of the items of
/// the module that invokes the macro.
///
/// ```ignore
/// fn local() -> Option<psrpc_test_support::SameBus> {
///     Some(psrpc_test_support::SameBus(std::sync::Arc::new(psrpc_bus_local::LocalBus::new())))
/// }
///
/// psrpc_test_support::bus_suites!(conformance, rpc: local());
/// ```
#[macro_export]
macro_rules! bus_suites {
    ($conformance:ident, $rpc:ident: $factory:expr) => {
        mod $conformance {
            use super::*;
            $crate::bus_conformance!($factory);
        }

        mod $rpc {
            use super::*;
            $crate::rpc_suite!($factory);
        }
    };
}

/// Instantiates the tests `$name` of the suite module `$suite`
/// (`bus_conformance` or `rpc_suite`) as `#[tokio::test]`s on the bus
/// factory expression `$factory`, evaluated once per test: what
/// [`bus_conformance!`] and [`rpc_suite!`] expand to.
///
/// ```ignore
/// psrpc_test_support::suite_tests!(rpc_suite, local(); single_round_trip, multi_collects_every_server);
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! suite_tests {
    ($suite:ident, $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(factory) = $factory else { return };
                $crate::$suite::$name(&factory).await;
            }
        )*
    };
}
