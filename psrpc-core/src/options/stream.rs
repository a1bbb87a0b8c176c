//! Stream options: [`StreamKeepalive`] (liveness of a stream's peers) and
//! [`StreamOptions`] (one send).

use std::time::Duration;

use super::DEFAULT_STREAM_KEEPALIVE;

/// Liveness of streams between psrpc-rs peers.
///
/// Each end sends a keepalive frame (a `Stream` envelope with no body, which
/// Go psrpc peers ignore) every `interval`. Once a peer is known to send
/// keepalives, the stream is closed with `unavailable` when nothing arrives
/// from it for `expiry`: a vanished peer frees the stream's state.
///
/// A psrpc-rs peer is known to send them from the start, so it is expired
/// even if it vanishes before its first keepalive: a client that sends
/// keepalives says so in its stream open, and a server that sends them sends
/// its first one before it accepts the stream. Any other peer is known once
/// its first keepalive arrives; peers that never send one (Go psrpc, or a
/// psrpc-rs end with `interval` `None`) are never expired this way.
///
/// Default: an interval of [`DEFAULT_STREAM_KEEPALIVE`] and three times that
/// as expiry. Periods shorter than [`MIN_KEEPALIVE_PERIOD`] are stored as it.
///
/// ```
/// use std::time::Duration;
/// use psrpc_core::options::StreamKeepalive;
///
/// let keepalive = StreamKeepalive::default().interval(None).expiry(Duration::from_secs(60));
/// assert_eq!(keepalive, StreamKeepalive::disabled().expiry(Duration::from_secs(60)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamKeepalive {
    /// Interval between keepalive frames; `None` sends none.
    pub(crate) interval: Option<Duration>,
    /// Silence after which a peer known to send keepalives is gone.
    pub(crate) expiry: Duration,
}

/// The shortest keepalive interval and expiry (a timer cannot tick every
/// zero seconds): shorter ones are stored as it.
///
/// ```
/// use std::time::Duration;
/// use psrpc::StreamKeepalive;
/// use psrpc_core::options::MIN_KEEPALIVE_PERIOD;
///
/// let zero = StreamKeepalive::new(Duration::ZERO, Duration::ZERO);
/// assert_eq!(zero, StreamKeepalive::new(MIN_KEEPALIVE_PERIOD, MIN_KEEPALIVE_PERIOD));
/// assert_eq!(MIN_KEEPALIVE_PERIOD, Duration::from_millis(1));
/// ```
pub const MIN_KEEPALIVE_PERIOD: Duration = Duration::from_millis(1);

impl Default for StreamKeepalive {
    fn default() -> Self {
        StreamKeepalive { interval: Some(DEFAULT_STREAM_KEEPALIVE), expiry: DEFAULT_STREAM_KEEPALIVE * 3 }
    }
}

impl StreamKeepalive {
    /// Keepalives every `interval`, expiry after `expiry` of silence (each at
    /// least [`MIN_KEEPALIVE_PERIOD`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// let keepalive = psrpc::StreamKeepalive::new(Duration::from_secs(1), Duration::from_secs(5));
    /// assert_eq!(format!("{keepalive:?}"), "StreamKeepalive { interval: Some(1s), expiry: 5s }");
    /// ```
    pub fn new(interval: Duration, expiry: Duration) -> Self {
        StreamKeepalive::default().interval(Some(interval)).expiry(expiry)
    }

    /// No keepalives sent (peers are not expired by this side's frames).
    ///
    /// ```
    /// assert_eq!(psrpc::StreamKeepalive::disabled(), psrpc::StreamKeepalive::default().interval(None));
    /// ```
    pub fn disabled() -> Self {
        StreamKeepalive::default().interval(None)
    }

    /// Sets the interval between keepalive frames (`None`: send none; at
    /// least [`MIN_KEEPALIVE_PERIOD`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// let keepalive = psrpc::StreamKeepalive::default().interval(Some(Duration::from_secs(2)));
    /// assert!(format!("{keepalive:?}").contains("interval: Some(2s)"));
    /// ```
    #[must_use]
    pub fn interval(mut self, interval: Option<Duration>) -> Self {
        self.interval = interval.map(|i| i.max(MIN_KEEPALIVE_PERIOD));
        self
    }

    /// Sets the silence after which a peer known to send keepalives is
    /// considered gone (at least [`MIN_KEEPALIVE_PERIOD`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// let keepalive = psrpc::StreamKeepalive::default().expiry(Duration::from_secs(30));
    /// assert!(format!("{keepalive:?}").contains("expiry: 30s"));
    /// ```
    #[must_use]
    pub fn expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry.max(MIN_KEEPALIVE_PERIOD);
        self
    }
}

/// Options of one stream send.
///
/// ```no_run
/// use std::time::Duration;
/// use psrpc_core::options::StreamOptions;
/// # use psrpc_core::{stream::ClientStream, Error, RawPayload};
/// # async fn f(stream: ClientStream<RawPayload, RawPayload>) -> Result<(), Error> {
/// stream.send_with(&RawPayload("big".into()), StreamOptions::default().timeout(Duration::from_secs(10))).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamOptions {
    /// How long to wait for the peer's ack (`None`: the stream's timeout).
    pub(crate) timeout: Option<Duration>,
}

impl StreamOptions {
    /// Sets how long to wait for the peer's ack (default: the stream's
    /// timeout, i.e. the client's or the server's
    /// [`timeout`](super::ClientOptions::timeout)).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc::StreamOptions::default().timeout(Duration::from_secs(10));
    /// assert_eq!(format!("{options:?}"), "StreamOptions { timeout: Some(10s) }");
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}
