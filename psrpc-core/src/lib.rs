//! psrpc-core: the transport-independent heart of psrpc-rs.
//!
//! - [`transport`]: what bus implementers need: the [`MessageBus`] trait,
//!   subscriptions and channel names (from `psrpc-protocol`, which also
//!   holds the wire protocol's envelopes, framing and identifiers; see
//!   `docs/WIRE.md`);
//! - [`error`]: the wire error type (from `psrpc-protocol`);
//! - [`info`]: static descriptions of services and methods;
//! - [`client`], [`server`], [`stream`]: the engines behind generated code,
//!   with [`options`], [`metadata`], [`context`], [`interceptor`] and
//!   [`payload`];
//! - [`observe`]: the observer the engines report calls to; [`retry`]: retries;
//! - [`wire_mode`]: Go-compatible (the default) or the native wire mode.
//!
//! Users depend on the `psrpc` facade crate, which re-exports this crate.

pub mod client;
pub use psrpc_protocol::compress;
pub mod context;
pub mod deadline;
pub mod discovery;
pub use psrpc_protocol::error;
mod here;
pub mod info;
pub mod interceptor;
pub mod local_first;
pub mod metadata;
pub mod observe;
pub mod options;
mod outbound;
pub mod payload;
pub mod retry;
pub mod server;
mod signal;
mod spans;
pub mod stream;
#[cfg(test)]
mod test_bus;
pub mod transport;
mod user_code;
pub mod wire_mode;

pub use client::RpcClient;
pub use context::RequestContext;
pub use error::{Error, ErrorCode};
pub use info::{Delivery, MethodInfo, MethodKind, Routing, RpcInfo, Selection};
pub use interceptor::Reply;
pub use payload::{Payload, RawPayload};
pub use server::RpcServer;
pub use transport::bus::{BusError, BusErrorKind, MessageBus, SharedBus};
pub use wire_mode::WireMode;
