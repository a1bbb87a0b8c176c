//! psrpc-protocol: the wire protocol of psrpc-rs, shared by the engines
//! (`psrpc-core`) and the buses.
//!
//! - [`bus`]: the [`MessageBus`] trait, subscriptions and bus errors: what
//!   a bus implements;
//! - [`channel`]: the names of every logical channel;
//! - [`members`]: the subscribers of one channel, for buses whose
//!   connection reader fans frames out;
//! - [`namespace`]: the opt-in prefix of every broker name of a bus;
//! - [`envelope`], [`frame`], [`id`]: the envelopes of Go psrpc, their
//!   framing, and identifiers (see `docs/WIRE.md`);
//! - [`error`]: the wire error;
//! - [`tap`]: watching every frame of a service (`MessageBus::tap`);
//! - [`arena`]: the buffers frames and payloads are encoded into;
//! - [`shared_str`]: text sharing a received frame's bytes (decoded ids).
//!
//! Applications depend on the `psrpc` facade, which shows bus implementers
//! `bus`, `channel` and `members` as `psrpc::transport` and keeps the
//! envelopes, framing and identifiers out of its API. This crate is for the
//! bus crates and tools that speak the protocol themselves (tests, benches,
//! the command line tool).
//!
//! ```
//! use psrpc_protocol::channel;
//!
//! let ch = channel::request_channel("Svc", "Method", &["topic"], false);
//! assert_eq!(&*ch.legacy, "Svc|Method|topic|REQ");
//! ```

pub mod arena;
pub mod bus;
pub mod channel;
pub mod compress;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod frame_limit;
pub mod id;
pub mod members;
pub mod namespace;
pub mod shared_str;
pub mod tap;

pub use bus::{BusError, BusErrorKind, MessageBus, SharedBus};
pub use error::{Error, ErrorCode};
