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
mod registry;
pub(crate) mod responder;
mod stats;
mod sticky;
pub mod wire;

use std::collections::HashMap;
use std::time::Duration;

pub use registry::{Instance, Registry, RegistryEvent};
pub use sticky::sticky_server;

/// Default interval between a server's heartbeats.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest heartbeat interval used (shorter ones are read as this).
pub const MIN_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(10);

/// How a server takes part in discovery ([`ServerOptions::discovery`]).
///
/// Decision: on by default (every server answers ping, info and stats and
/// sends a heartbeat each interval: one small frame per server per
/// interval), off with `enabled = false`.
///
/// ```
/// use std::time::Duration;
/// use psrpc::discovery::DiscoveryOptions;
/// use psrpc::ServerOptions;
///
/// let discovery = DiscoveryOptions::default()
///     .version("1.4.2")
///     .metadata("region", "eu-west")
///     .heartbeat_interval(Duration::from_millis(500));
/// let options = ServerOptions::default().discovery(discovery);
/// # let _ = options;
/// ```
///
/// [`ServerOptions::discovery`]: crate::options::ServerOptions::discovery
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryOptions {
    /// Whether the server answers queries and sends heartbeats.
    pub enabled: bool,
    /// Interval between heartbeats; registries drop a server after two
    /// intervals of silence. Values below [`MIN_HEARTBEAT_INTERVAL`] are
    /// read as it.
    pub heartbeat_interval: Duration,
    /// The version the server reports.
    pub version: String,
    /// Metadata the server reports.
    pub metadata: HashMap<String, String>,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        DiscoveryOptions {
            enabled: true,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            version: String::new(),
            metadata: HashMap::new(),
        }
    }
}

impl DiscoveryOptions {
    /// No discovery: the server neither answers queries nor sends heartbeats.
    ///
    /// ```
    /// assert!(!psrpc::discovery::DiscoveryOptions::disabled().enabled);
    /// ```
    pub fn disabled() -> Self {
        DiscoveryOptions { enabled: false, ..Default::default() }
    }

    /// Sets the heartbeat interval.
    #[must_use]
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Sets the reported version.
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Adds one reported metadata entry.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// Options of a [`Registry`].
///
/// ```
/// use std::time::Duration;
/// let options = psrpc::discovery::RegistryOptions::default().initial_sync(Duration::from_millis(100));
/// assert_eq!(options.initial_sync, Duration::from_millis(100));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryOptions {
    /// How long [`Registry::new`] collects the servers' introductions
    /// before returning (default 250 ms).
    pub initial_sync: Duration,
    /// Buffer of the registry's subscriptions and of [`Registry::watch`], in
    /// frames and events (default 1024). Zero is read as 1.
    pub channel_capacity: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions { initial_sync: Duration::from_millis(250), channel_capacity: 1024 }
    }
}

impl RegistryOptions {
    /// Sets the initial sync window.
    #[must_use]
    pub fn initial_sync(mut self, window: Duration) -> Self {
        self.initial_sync = window;
        self
    }

    /// Sets the buffer size.
    #[must_use]
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = capacity;
        self
    }
}
