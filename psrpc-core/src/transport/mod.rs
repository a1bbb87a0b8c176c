//! What bus implementers need, kept out of the user's way: the
//! [`MessageBus`](bus::MessageBus) trait and its subscriptions, the wire
//! protocol's envelopes, framing, channel names and identifiers (see
//! `docs/WIRE.md`), and the fan-out helper broker buses share.
//!
//! Users hold a bus as a [`SharedBus`](bus::SharedBus) and never call these
//! directly; clients and servers do.
//!
//! ```
//! use psrpc::transport::channel;
//!
//! let ch = channel::request_channel("Svc", "Method", &["topic"], false);
//! assert_eq!(&*ch.legacy, "Svc|Method|topic|REQ");
//! ```

pub mod bus;
pub mod channel;
pub mod envelope;
pub mod frame;
pub mod id;
pub mod members;
