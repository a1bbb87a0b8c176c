//! # psrpc: RPC over publish/subscribe
//!
//! Services declared once — a Rust trait with [`service`] or a `.proto` file
//! with psrpc method options ([`build`]) — get a typed client and server that
//! talk over a pluggable [`MessageBus`]: the in-process [`local`] bus (the
//! default, no broker), [`nats`] or [`redis`]. Wire-compatible with LiveKit's
//! Go psrpc v0.7, so Rust and Go services can share one deployment.
//!
//! ## Feature flags
//! | feature | default | what it adds |
//! |---|---|---|
//! | `local` | yes | [`local::LocalBus`], the in-process bus |
//! | `macros` | yes | `#[psrpc::service]` |
//! | `nats` | no | `nats::NatsBus` (async-nats) |
//! | `redis` | no | `redis::RedisBus` (redis-rs) |
//! | `build` | no | `psrpc::build`, `.proto` generation for build scripts |

pub use psrpc_core::bus::{BusError, MessageBus, SharedBus, Subscription};
pub use psrpc_core::error::{Error, ErrorCode, GrpcCode};
pub use psrpc_core::info::{MethodInfo, Routing, RpcInfo};
pub use psrpc_core::{channel, envelope, frame, id};

/// The in-process bus.
#[cfg(feature = "local")]
pub use psrpc_bus_local as local;

/// The NATS bus.
#[cfg(feature = "nats")]
pub use psrpc_bus_nats as nats;

/// The Redis bus.
#[cfg(feature = "redis")]
pub use psrpc_bus_redis as redis;

/// `.proto` code generation for build scripts.
#[cfg(feature = "build")]
pub use psrpc_build as build;

#[cfg(feature = "macros")]
pub use psrpc_macros::service;

/// Everything generated code refers to; not a public API.
#[doc(hidden)]
#[path = "codegen_support.rs"]
pub mod __codegen;
