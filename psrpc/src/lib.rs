//! # psrpc: RPC over publish/subscribe
//!
//! Services get a typed client ([`RpcClient`]) and server ([`RpcServer`])
//! that talk over a pluggable [`MessageBus`]; the in-process [`local`] bus is
//! the default and needs no broker. Wire-compatible with LiveKit's Go psrpc
//! v0.7, so Rust and Go services can share one deployment.
//!
//! ## Quick start (hand-written service description)
//!
//! ```
//! use psrpc::{
//!     ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection,
//!     ServerOptions,
//! };
//!
//! #[derive(Clone, PartialEq, prost::Message)]
//! struct Hello {
//!     #[prost(string, tag = "1")]
//!     name: String,
//! }
//!
//! static GREET: MethodInfo = MethodInfo::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), psrpc::Error> {
//! let bus: psrpc::SharedBus = std::sync::Arc::new(psrpc::local::LocalBus::new());
//! let server = RpcServer::new("Greeter", bus.clone(), ServerOptions::default());
//! server
//!     .register_unary(&GREET, vec![], |_ctx: RequestContext, req: Hello| async move {
//!         Ok(Hello { name: format!("hello {}", req.name) })
//!     }, None)
//!     .await?;
//!
//! let client = RpcClient::new("Greeter", bus, ClientOptions::default()).await?;
//! let reply = client
//!     .request_single::<Hello, Hello>(&GREET, vec![], &Hello { name: "ada".into() }, RequestOptions::default())
//!     .await?;
//! assert_eq!(reply.message.name, "hello ada");
//! assert_eq!(reply.server_id, server.id());
//! # Ok(()) }
//! ```
//!
//! ## Feature flags
//! | feature | default | what it adds |
//! |---|---|---|
//! | `local` | yes | [`local::LocalBus`], the in-process bus |
//! | `nats` | no | `nats::NatsBus`, NATS via async-nats |
//! | `redis` | no | `redis::RedisBus`, Redis via redis-rs |
//! | `macros` | no | `#[psrpc::service]` on a trait |
//! | `build` | no | `psrpc::build`: generation from `.proto` files in build scripts |

pub use psrpc_core::client::{MultiResponses, Response, RpcClient, TypedSubscription};
pub use psrpc_core::context::RequestContext;
pub use psrpc_core::error::{Error, ErrorCode, GrpcCode};
pub use psrpc_core::info::{Delivery, MethodInfo, MethodKind, Routing, RpcInfo, Selection};
pub use psrpc_core::interceptor::{
    ClientMultiInterceptor, ClientUnaryInterceptor, ClientUnaryNext, Reply, RequestHook, ResponseHook,
    ServerUnaryInterceptor, ServerUnaryNext, StreamInterceptor, UnaryCall,
};
pub use psrpc_core::metadata::Metadata;
pub use psrpc_core::options::{
    Claim, ClientOptions, RequestOptions, SelectionOptions, ServerOptions, StreamKeepalive, StreamOptions,
};
pub use psrpc_core::payload::{Payload, RawPayload};
pub use psrpc_core::server::{AffinityFn, RpcServer, StreamAffinityFn};
pub use psrpc_core::stream::{ClientStream, RpcStream, ServerStream, StreamReceiver, StreamSender};
pub use psrpc_core::transport;
pub use psrpc_core::{BusError, BusErrorKind, MessageBus, SharedBus};
pub use psrpc_core::{deadline, discovery, observe};

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

/// `#[psrpc::service]` on a trait: a typed client, a `ServerImpl` trait and a server.
#[cfg(feature = "macros")]
pub use psrpc_macros::service;

/// Everything generated code refers to; not a public API.
#[doc(hidden)]
#[path = "codegen_support.rs"]
pub mod __codegen;

/// The README's code blocks, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The code blocks of `docs/DISCOVERY.md`, compiled and run as doc tests.
#[doc = include_str!("../../docs/DISCOVERY.md")]
#[cfg(doctest)]
pub struct DiscoveryDoctests;
