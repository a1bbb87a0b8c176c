//! [`ServerOptions`]: how an [`RpcServer`](crate::server::RpcServer) serves.

use std::sync::Arc;
use std::time::Duration;

use super::{DEFAULT_DRAIN_TIMEOUT, DEFAULT_TIMEOUT, StreamKeepalive, debug_fields, shared_builders};
use crate::discovery::DiscoveryOptions;
use crate::interceptor::{ServerUnaryInterceptor, StreamInterceptor};
use crate::observe::SharedObserver;
use crate::wire_mode::WireMode;

/// Options of an [`RpcServer`](crate::server::RpcServer).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use psrpc_core::options::ServerOptions;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let options = ServerOptions::default().server_id("SRV_one").drain_timeout(Duration::from_secs(5));
/// let bus: psrpc::SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let server = psrpc::RpcServer::new("Greeter", bus, options);
/// assert_eq!(server.id(), "SRV_one");
/// # }
/// ```
#[derive(Clone)]
pub struct ServerOptions {
    pub(crate) server_id: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) channel_capacity: usize,
    pub(crate) stream_keepalive: StreamKeepalive,
    pub(crate) drain_timeout: Duration,
    pub(crate) unary_interceptors: Vec<Arc<dyn ServerUnaryInterceptor>>,
    pub(crate) stream_interceptors: Vec<Arc<dyn StreamInterceptor>>,
    pub(crate) observer: Option<SharedObserver>,
    pub(crate) discovery: DiscoveryOptions,
    pub(crate) wire_mode: WireMode,
    pub(crate) skip_claim: Option<SkipClaim>,
}

/// Whether a server skips the claim exchange, asked once per request.
type SkipClaim = Arc<dyn Fn() -> bool + Send + Sync>;

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            server_id: None,
            timeout: DEFAULT_TIMEOUT,
            channel_capacity: crate::transport::bus::DEFAULT_CHANNEL_CAPACITY,
            stream_keepalive: StreamKeepalive::default(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            unary_interceptors: Vec::new(),
            stream_interceptors: Vec::new(),
            observer: None,
            discovery: DiscoveryOptions::default(),
            wire_mode: WireMode::GoCompatible,
            skip_claim: None,
        }
    }
}

debug_fields!(ServerOptions {
    server_id, timeout, channel_capacity, stream_keepalive, drain_timeout,
    unary_interceptors => unary_interceptors.len(),
    stream_interceptors => stream_interceptors.len(),
    observer => observer.is_some(),
    discovery, wire_mode,
    skip_claim => skip_claim.is_some(),
});

shared_builders!(ServerOptions {
    timeout: "timeout of stream sends: how long to wait for the peer's ack (default \
        [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT))",
    observed: "every request, claim and stream",
    peers: "every client of the service",
});

impl ServerOptions {
    /// Sets the server id (default: a new `SRV_…` id).
    ///
    /// ```
    /// let options = psrpc::ServerOptions::default().server_id("SRV_eu_1");
    /// assert!(format!("{options:?}").contains(r#"server_id: Some("SRV_eu_1")"#));
    /// ```
    #[must_use]
    pub fn server_id(mut self, id: impl Into<String>) -> Self {
        self.server_id = Some(id.into());
        self
    }

    /// Sets how long [`shutdown`](crate::server::RpcServer::shutdown) and
    /// [`deregister`](crate::server::RpcServer::deregister) wait for
    /// in-flight handlers and streams (default [`DEFAULT_DRAIN_TIMEOUT`]).
    /// What is still running then is cancelled: handlers are dropped, and
    /// streams are closed with `unavailable` ("EOF"), their peers told.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc::ServerOptions::default().drain_timeout(Duration::from_secs(5));
    /// assert!(format!("{options:?}").contains("drain_timeout: 5s"));
    /// ```
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Adds an interceptor of unary (single and multi) requests; those added
    /// first are outermost. See [`ServerUnaryInterceptor`] for one that runs.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use futures_util::future::BoxFuture;
    /// use psrpc::{Error, RequestContext, ServerUnaryInterceptor, ServerUnaryNext};
    ///
    /// struct Log;
    /// impl ServerUnaryInterceptor for Log {
    ///     fn intercept<'a>(&'a self, ctx: &'a RequestContext, request: Bytes, next: ServerUnaryNext<'a>) -> BoxFuture<'a, Result<Bytes, Error>> {
    ///         println!("{} from {}", ctx.rpc_info().method, ctx.caller_id());
    ///         next.run(request)
    ///     }
    /// }
    /// let options = psrpc::ServerOptions::default().unary_interceptor(Log);
    /// assert!(format!("{options:?}").contains("unary_interceptors: 1"));
    /// ```
    #[must_use]
    pub fn unary_interceptor(mut self, interceptor: impl ServerUnaryInterceptor) -> Self {
        self.unary_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Sets how the server takes part in discovery: heartbeats and answers
    /// to ping, info and stats (on by default; see [`DiscoveryOptions`]).
    ///
    /// ```
    /// use psrpc::discovery::DiscoveryOptions;
    /// let options = psrpc::ServerOptions::default().discovery(DiscoveryOptions::disabled());
    /// assert!(format!("{options:?}").contains("enabled: false"));
    /// ```
    #[must_use]
    pub fn discovery(mut self, discovery: DiscoveryOptions) -> Self {
        self.discovery = discovery;
        self
    }

    /// Skips the claim exchange where the caller allows it, as Go psrpc's
    /// `WithServerSkipClaim` does (default: off). A request of a QUEUE method
    /// whose caller set `skip_claim` (Go psrpc 0.7.6 and later, and
    /// psrpc-rs) is then answered with a claim marked `handling` and run at
    /// once: three bus messages instead of four, and no wait for the
    /// client's decision. The bus hands such a request to this server alone,
    /// so nothing is lost by not waiting. Requests of other methods, and
    /// requests from older callers, are claimed as before. Affinity still
    /// applies: a negative affinity still declines the request.
    ///
    /// ```
    /// let options = psrpc::ServerOptions::default().skip_claim(true);
    /// assert!(format!("{options:?}").contains("skip_claim: true"));
    /// ```
    #[must_use]
    pub fn skip_claim(self, enabled: bool) -> Self {
        match enabled {
            true => self.skip_claim_when(|| true),
            false => ServerOptions { skip_claim: None, ..self },
        }
    }

    /// Skips the claim exchange (see [`skip_claim`](Self::skip_claim))
    /// whenever `enabled` says so; it is asked once per request, so skipping
    /// can be switched on and off while the server runs.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// let switch = Arc::new(AtomicBool::new(true));
    /// let flag = Arc::clone(&switch);
    /// let options = psrpc::ServerOptions::default().skip_claim_when(move || flag.load(Ordering::Relaxed));
    /// switch.store(false, Ordering::Relaxed); // claims again from the next request on
    /// assert!(format!("{options:?}").contains("skip_claim: true"));
    /// ```
    #[must_use]
    pub fn skip_claim_when(mut self, enabled: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.skip_claim = Some(Arc::new(enabled));
        self
    }

    /// Whether this request's claim is skipped (asks the option's function).
    pub(crate) fn skips_claim(&self) -> bool {
        self.skip_claim.as_ref().is_some_and(|enabled| enabled())
    }
}
