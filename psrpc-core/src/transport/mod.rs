//! What bus implementers need, kept out of the user's way: the
//! [`MessageBus`](bus::MessageBus) trait and its subscriptions, channel
//! names, the namespaces that prefix them on a broker, frame size limits, the fan-out helper
//! broker buses share, and taps (every frame of a service, for tools such
//! as `psrpc tap`). All of it is defined
//! in `psrpc-protocol`, with the wire protocol's envelopes, framing and
//! identifiers, which the engines use and the API does not show.
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

pub(crate) use psrpc_protocol::{arena, envelope, frame, id, shared_str};
pub use psrpc_protocol::{bus, channel, frame_limit, members, namespace, tap};
