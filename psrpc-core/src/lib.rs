//! psrpc-core: the transport-independent heart of psrpc-rs.
//!
//! - [`envelope`], [`frame`], [`channel`], [`id`]: the wire protocol of Go
//!   psrpc v0.7 (envelopes, framing, channel names, identifiers);
//! - [`bus`]: the [`MessageBus`](bus::MessageBus) trait every transport implements;
//! - [`error`]: the wire error type;
//! - [`info`]: static descriptions of services and methods.
//!
//! Users depend on the `psrpc` facade crate, which re-exports this crate.

pub mod bus;
pub mod channel;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod id;
pub mod info;

pub use bus::{BusError, MessageBus, SharedBus, Subscription};
pub use error::{Error, ErrorCode};
