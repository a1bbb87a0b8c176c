//! psrpc-core: the transport-independent heart of psrpc-rs.
//!
//! - [`envelope`], [`frame`], [`channel`], [`id`]: the wire protocol of Go
//!   psrpc v0.7 (envelopes, framing, channel names, identifiers);
//! - [`bus`]: the [`MessageBus`] trait every transport implements;
//! - [`error`]: the wire error type;
//! - [`info`]: static descriptions of services and methods;
//! - [`client`], [`server`], [`stream`]: the engines behind generated code,
//!   with [`options`], [`metadata`], [`context`], [`interceptor`] and
//!   [`payload`].
//!
//! Users depend on the `psrpc` facade crate, which re-exports this crate.

pub mod bus;
pub mod channel;
pub mod client;
pub mod context;
mod deadline;
pub mod envelope;
pub mod error;
pub mod frame;
mod here;
pub mod id;
pub mod info;
pub mod interceptor;
pub mod members;
pub mod metadata;
pub mod observe;
pub mod options;
mod outbound;
pub mod payload;
pub mod server;
mod signal;
pub mod stream;

pub use bus::{BusError, BusErrorKind, MessageBus, SharedBus, Subscription};
pub use client::RpcClient;
pub use context::RequestContext;
pub use error::{Error, ErrorCode};
pub use info::{Delivery, MethodInfo, MethodKind, Routing, RpcInfo, Selection};
pub use interceptor::Reply;
pub use payload::{Payload, RawPayload};
pub use server::RpcServer;
