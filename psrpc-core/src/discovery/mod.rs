//! Knowing what runs on the bus: discovery, a client-side registry of live
//! servers, and the call features built on it.
//!
//! - **Servers** answer ping, info and stats queries and send heartbeats on
//!   reserved channels (see [`wire`]) unless [`DiscoveryOptions::enabled`]
//!   is turned off. Go psrpc peers on the same bus never see these channels.
//! - **Clients** keep a [`Registry`] of live instances: [`Registry::instances`],
//!   [`Registry::watch`], [`Registry::wait_for`], [`Registry::query`].
//! - A client given a registry ([`ClientOptions::registry`]) fails a single
//!   call early, with `unavailable`, when the server handling it stops
//!   heartbeating; with [`ClientOptions::check_registry`] it refuses calls no
//!   live server can take before publishing them; and it can make sticky
//!   calls ([`RequestOptions::sticky`]).
//!
//! Decision (NATS service API): servers do not speak the NATS micro service
//! protocol (`$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`). It is request-reply
//! with reply subjects and JSON bodies, which the bus abstraction does not
//! carry, and it would exist on one bus only; discovery here is one protocol
//! on every bus, and the `psrpc` command line tool (`psrpc ls`, `psrpc info`,
//! `psrpc stats`) plays the part of `nats micro ls/info/stats`.
//!
//! [`ClientOptions::registry`]: crate::options::ClientOptions::registry
//! [`ClientOptions::check_registry`]: crate::options::ClientOptions::check_registry
//! [`RequestOptions::sticky`]: crate::options::RequestOptions::sticky

pub(crate) mod calls;
mod options;
mod registry;
pub(crate) mod responder;
mod stats;
mod sticky;
pub mod wire;

pub use options::{DEFAULT_HEARTBEAT_INTERVAL, DiscoveryOptions, MIN_HEARTBEAT_INTERVAL, RegistryOptions};
pub use registry::{Instance, Pong, Registry, RegistryEvent};
pub use sticky::sticky_server;
