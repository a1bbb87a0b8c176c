//! [`DiscoveryOptions`] (how a server takes part in discovery) and
//! [`RegistryOptions`] (how a client-side registry listens).

use std::collections::HashMap;
use std::time::Duration;

/// Default interval between a server's heartbeats.
///
/// ```
/// use psrpc::discovery::{DEFAULT_HEARTBEAT_INTERVAL, DiscoveryOptions};
/// assert!(format!("{:?}", DiscoveryOptions::default()).contains("heartbeat_interval: 1s"));
/// # assert_eq!(DEFAULT_HEARTBEAT_INTERVAL, std::time::Duration::from_secs(1));
/// ```
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest heartbeat interval: a shorter one given to
/// [`DiscoveryOptions::heartbeat_interval`] is stored as it, and a shorter
/// one a server reports is read as it.
///
/// ```
/// use psrpc::discovery::{DiscoveryOptions, MIN_HEARTBEAT_INTERVAL};
/// let eager = DiscoveryOptions::default().heartbeat_interval(std::time::Duration::ZERO);
/// assert_eq!(eager, DiscoveryOptions::default().heartbeat_interval(MIN_HEARTBEAT_INTERVAL));
/// ```
pub const MIN_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(10);

/// How a server takes part in discovery ([`ServerOptions::discovery`]).
///
/// Decision: on by default (every server answers ping, info and stats and
/// sends a heartbeat each interval: one small frame per server per
/// interval), off with [`disabled`](Self::disabled) or
/// [`enabled(false)`](Self::enabled).
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
pub struct DiscoveryOptions {
    pub(crate) enabled: bool,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) version: String,
    pub(crate) metadata: HashMap<String, String>,
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
    /// use psrpc::discovery::DiscoveryOptions;
    /// assert_eq!(DiscoveryOptions::disabled(), DiscoveryOptions::default().enabled(false));
    /// ```
    pub fn disabled() -> Self {
        DiscoveryOptions::default().enabled(false)
    }

    /// Turns discovery on (the default) or off: whether the server answers
    /// queries and sends heartbeats.
    ///
    /// ```
    /// let discovery = psrpc::discovery::DiscoveryOptions::default().enabled(false);
    /// assert!(format!("{discovery:?}").contains("enabled: false"));
    /// ```
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Sets the interval between heartbeats (default
    /// [`DEFAULT_HEARTBEAT_INTERVAL`], at least [`MIN_HEARTBEAT_INTERVAL`]);
    /// registries drop a server after two intervals of silence.
    ///
    /// ```
    /// use std::time::Duration;
    /// let discovery = psrpc::discovery::DiscoveryOptions::default().heartbeat_interval(Duration::from_millis(500));
    /// assert!(format!("{discovery:?}").contains("heartbeat_interval: 500ms"));
    /// ```
    #[must_use]
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval.max(MIN_HEARTBEAT_INTERVAL);
        self
    }

    /// Sets the version the server reports (default: empty).
    ///
    /// ```
    /// let discovery = psrpc::discovery::DiscoveryOptions::default().version("1.4.2");
    /// assert!(format!("{discovery:?}").contains(r#"version: "1.4.2""#));
    /// ```
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Adds one entry of the metadata the server reports.
    ///
    /// ```
    /// let discovery = psrpc::discovery::DiscoveryOptions::default().metadata("region", "eu-west");
    /// assert!(format!("{discovery:?}").contains(r#""region": "eu-west""#));
    /// ```
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// Options of a [`Registry`](crate::discovery::Registry).
///
/// ```no_run
/// use std::time::Duration;
/// use psrpc::discovery::{Registry, RegistryOptions};
/// # async fn f(bus: psrpc::SharedBus) -> Result<(), psrpc::Error> {
/// let options = RegistryOptions::default().initial_sync(Duration::from_millis(100)).channel_capacity(4096);
/// let registry = Registry::new(bus, options).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryOptions {
    pub(crate) initial_sync: Duration,
    pub(crate) channel_capacity: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions { initial_sync: Duration::from_millis(250), channel_capacity: 1024 }
    }
}

impl RegistryOptions {
    /// Sets how long [`Registry::new`](crate::discovery::Registry::new) collects the servers' introductions
    /// before returning (default 250 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc::discovery::RegistryOptions::default().initial_sync(Duration::from_millis(100));
    /// assert!(format!("{options:?}").contains("initial_sync: 100ms"));
    /// ```
    #[must_use]
    pub fn initial_sync(mut self, window: Duration) -> Self {
        self.initial_sync = window;
        self
    }

    /// Sets the buffer of the registry's subscriptions and of
    /// [`Registry::watch`](crate::discovery::Registry::watch), in frames and events (default 1024); zero is
    /// stored as 1.
    ///
    /// ```
    /// let options = psrpc::discovery::RegistryOptions::default().channel_capacity(0);
    /// assert!(format!("{options:?}").contains("channel_capacity: 1 "));
    /// ```
    #[must_use]
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = capacity.max(1);
        self
    }
}
