//! Client, server, request, selection and stream options.
//!
//! Defaults follow Go psrpc: 3 s request timeout, 1 s server selection
//! timeout, 200 ms short-circuit for affinity methods, buffers of 100 frames.
//!
//! One rule for every options type here: public fields (the types are
//! `#[non_exhaustive]`, so start from `Default` or a constructor) and
//! by-value setters that do nothing but assign the field (or, for lists and
//! maps, add to it). Setting a field and calling its setter are the same.
//! Values are stored as given; where the engine has to read one differently
//! (a zero buffer size, a zero keepalive period), the field's documentation
//! says how, and the client or server applies it when it is created.
//!
//! Durations are never a reason to panic: a deadline beyond what the clock
//! can represent (`Duration::MAX`) saturates to "practically never".

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::discovery::{DiscoveryOptions, Registry};
use crate::error::{Error, ErrorCode};
use crate::info::{MethodInfo, MethodKind};
use crate::interceptor::{
    ClientMultiInterceptor, ClientUnaryInterceptor, RequestHook, ResponseHook, ServerUnaryInterceptor,
    StreamInterceptor,
};
use crate::metadata::Metadata;
use crate::observe::SharedObserver;
use crate::wire_mode::WireMode;

/// Default request timeout.
///
/// ```
/// assert_eq!(psrpc::ClientOptions::default().timeout, psrpc_core::options::DEFAULT_TIMEOUT);
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default server selection (affinity) timeout.
///
/// ```
/// use psrpc_core::options::DEFAULT_SELECTION_TIMEOUT;
/// assert_eq!(psrpc::ClientOptions::default().selection_timeout, DEFAULT_SELECTION_TIMEOUT);
/// ```
pub const DEFAULT_SELECTION_TIMEOUT: Duration = Duration::from_secs(1);
/// Default short-circuit after the first claim, for affinity methods.
///
/// ```
/// use psrpc_core::options::{DEFAULT_SELECTION_TIMEOUT, DEFAULT_SHORT_CIRCUIT};
/// let selection = psrpc::SelectionOptions::best_affinity(DEFAULT_SELECTION_TIMEOUT);
/// assert_eq!(selection.short_circuit_timeout, Some(DEFAULT_SHORT_CIRCUIT));
/// ```
pub const DEFAULT_SHORT_CIRCUIT: Duration = Duration::from_millis(200);
/// Default stream keepalive interval between psrpc-rs peers.
///
/// ```
/// use psrpc_core::options::DEFAULT_STREAM_KEEPALIVE;
/// assert_eq!(psrpc::StreamKeepalive::default().interval, Some(DEFAULT_STREAM_KEEPALIVE));
/// ```
pub const DEFAULT_STREAM_KEEPALIVE: Duration = Duration::from_secs(5);
/// Default bound of a server's drain ([`ServerOptions::drain_timeout`]):
/// below the 30 s a Kubernetes pod gets between SIGTERM and SIGKILL, so a
/// server told to stop still closes what remains itself.
///
/// ```
/// use psrpc_core::options::DEFAULT_DRAIN_TIMEOUT;
/// assert_eq!(psrpc::ServerOptions::default().drain_timeout, DEFAULT_DRAIN_TIMEOUT);
/// ```
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Options of an [`RpcClient`](crate::client::RpcClient).
///
/// Each field says which calls use it: single calls
/// ([`request_single`](crate::client::RpcClient::request_single)), multi
/// calls ([`request_multi`](crate::client::RpcClient::request_multi)),
/// streams ([`open_stream`](crate::client::RpcClient::open_stream)) and
/// subscriptions ([`subscribe`](crate::client::RpcClient::subscribe)).
///
/// ```
/// use std::time::Duration;
/// use psrpc_core::options::ClientOptions;
///
/// let options = ClientOptions::default().timeout(Duration::from_secs(5)).channel_capacity(256);
/// assert_eq!(options.timeout, Duration::from_secs(5));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The client id (default: a new `CLI_…` id).
    pub client_id: Option<String>,
    /// Default timeout of single and multi calls and of stream opens and
    /// sends ([`RequestOptions::timeout`] overrides it per call).
    pub timeout: Duration,
    /// How long single calls and stream opens wait for servers to claim the
    /// request (methods with the claim exchange; a
    /// [`SelectionOptions`] given per call replaces it).
    pub selection_timeout: Duration,
    /// Buffer size of the client's subscriptions and per-call queues, in
    /// frames (all kinds). Zero is read as 1.
    pub channel_capacity: usize,
    /// Stream keepalive settings for streams opened by this client.
    pub stream_keepalive: StreamKeepalive,
    /// Unary interceptors of single calls, outermost first (run before the
    /// call's own [`RequestOptions::unary_interceptors`]).
    pub unary_interceptors: Vec<Arc<dyn ClientUnaryInterceptor>>,
    /// Interceptors of multi calls; the first registered sees events first.
    pub multi_interceptors: Vec<Arc<dyn ClientMultiInterceptor>>,
    /// Interceptors of streams; the first registered sees events first.
    pub stream_interceptors: Vec<Arc<dyn StreamInterceptor>>,
    /// Called as each single or multi request is made.
    ///
    /// Hooks only watch: a panicking hook is logged and the call goes on
    /// with its outcome (see [`observe`](crate::observe)).
    ///
    /// Decision: hooks see requests and responses, so only single and multi
    /// calls run them (as in Go psrpc); streams are observed through
    /// [`stream_interceptors`](Self::stream_interceptors), and subscriptions
    /// make no requests.
    pub request_hooks: Vec<RequestHook>,
    /// Called with each response of a single call and every response of a
    /// multi call (not for streams or subscriptions, see
    /// [`request_hooks`](Self::request_hooks)).
    pub response_hooks: Vec<ResponseHook>,
    /// Receives a report of every call (see [`observe`](crate::observe)).
    pub observer: Option<SharedObserver>,
    /// The registry of live servers the client consults (see
    /// [`discovery`](crate::discovery)). With one, a single call fails
    /// `unavailable` as soon as the server handling it stops heartbeating,
    /// and sticky calls ([`RequestOptions::sticky`]) can be made.
    pub registry: Option<Registry>,
    /// Single calls, multi calls and stream opens are checked against
    /// [`registry`](Self::registry) before anything is published: a method
    /// or topic no live server serves fails at once (`unimplemented` or
    /// `unavailable`, naming service, method and topics) instead of after
    /// the selection timeout. Off by default; needs a registry. Servers that
    /// send no heartbeats (Go psrpc) are invisible to the registry, so keep
    /// this off when calling them.
    pub check_registry: bool,
    /// Single calls to a method that a server in this process serves on the
    /// same bus handle run in process, without a broker round trip (off by
    /// default; see [`local_first`](crate::local_first) for what this means
    /// for selection and claims).
    pub local_first: bool,
    /// How the client's calls use the bus (default: Go-compatible); must
    /// match the servers' (see [`wire_mode`](crate::wire_mode)).
    pub wire_mode: WireMode,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            client_id: None,
            timeout: DEFAULT_TIMEOUT,
            selection_timeout: DEFAULT_SELECTION_TIMEOUT,
            channel_capacity: crate::transport::bus::DEFAULT_CHANNEL_CAPACITY,
            stream_keepalive: StreamKeepalive::default(),
            unary_interceptors: Vec::new(),
            multi_interceptors: Vec::new(),
            stream_interceptors: Vec::new(),
            request_hooks: Vec::new(),
            response_hooks: Vec::new(),
            observer: None,
            registry: None,
            check_registry: false,
            local_first: false,
            wire_mode: WireMode::GoCompatible,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("client_id", &self.client_id)
            .field("timeout", &self.timeout)
            .field("selection_timeout", &self.selection_timeout)
            .field("channel_capacity", &self.channel_capacity)
            .field("stream_keepalive", &self.stream_keepalive)
            .field("unary_interceptors", &self.unary_interceptors.len())
            .field("multi_interceptors", &self.multi_interceptors.len())
            .field("stream_interceptors", &self.stream_interceptors.len())
            .field("request_hooks", &self.request_hooks.len())
            .field("response_hooks", &self.response_hooks.len())
            .field("observer", &self.observer.is_some())
            .field("registry", &self.registry.as_ref().map(Registry::id))
            .field("check_registry", &self.check_registry)
            .field("local_first", &self.local_first)
            .field("wire_mode", &self.wire_mode)
            .finish()
    }
}

impl ClientOptions {
    /// Sets the client id.
    ///
    /// ```
    /// let options = psrpc::ClientOptions::default().client_id("CLI_frontend");
    /// assert_eq!(options.client_id.as_deref(), Some("CLI_frontend"));
    /// ```
    #[must_use]
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Sets the request timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc::ClientOptions::default().timeout(Duration::from_secs(10));
    /// assert_eq!(options.timeout, Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the server selection timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc::ClientOptions::default().selection_timeout(Duration::from_millis(250));
    /// assert_eq!(options.selection_timeout, Duration::from_millis(250));
    /// ```
    #[must_use]
    pub fn selection_timeout(mut self, timeout: Duration) -> Self {
        self.selection_timeout = timeout;
        self
    }

    /// Sets the buffer size (see [`channel_capacity`](Self#structfield.channel_capacity)).
    ///
    /// ```
    /// let options = psrpc::ClientOptions::default().channel_capacity(1000);
    /// assert_eq!(options.channel_capacity, 1000);
    /// ```
    #[must_use]
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = capacity;
        self
    }

    /// Sets the stream keepalive settings.
    ///
    /// ```
    /// let options = psrpc::ClientOptions::default().stream_keepalive(psrpc::StreamKeepalive::disabled());
    /// assert_eq!(options.stream_keepalive.interval, None);
    /// ```
    #[must_use]
    pub fn stream_keepalive(mut self, keepalive: StreamKeepalive) -> Self {
        self.stream_keepalive = keepalive;
        self
    }

    /// Sets the wire mode (see [`wire_mode`](crate::wire_mode)); every
    /// server of the service must use the same.
    ///
    /// ```
    /// let options = psrpc::ClientOptions::default().wire_mode(psrpc::WireMode::Native);
    /// assert_eq!(options.wire_mode, psrpc::WireMode::Native);
    /// ```
    #[must_use]
    pub fn wire_mode(mut self, mode: WireMode) -> Self {
        self.wire_mode = mode;
        self
    }

    /// The options as the client reads them (see the fields' docs).
    pub(crate) fn normalized(mut self) -> Self {
        self.channel_capacity = self.channel_capacity.max(1);
        self.stream_keepalive = self.stream_keepalive.normalized();
        self.observer = self.observer.map(crate::user_code::guard_observer);
        self
    }

    /// Adds a unary interceptor (runs after those added before it).
    /// See [`ClientUnaryInterceptor`] for one that runs.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use futures_util::future::BoxFuture;
    /// # use psrpc::{ClientUnaryInterceptor, ClientUnaryNext, Error, Reply, RpcInfo, UnaryCall};
    /// # struct Trace;
    /// # impl ClientUnaryInterceptor for Trace {
    /// #     fn intercept<'a>(&'a self, _: &'a RpcInfo, call: UnaryCall, next: ClientUnaryNext<'a>) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> {
    /// #         next.run(call)
    /// #     }
    /// # }
    /// let options = psrpc::ClientOptions::default().unary_interceptor(Trace);
    /// assert_eq!(options.unary_interceptors.len(), 1);
    /// ```
    #[must_use]
    pub fn unary_interceptor(mut self, interceptor: impl ClientUnaryInterceptor) -> Self {
        self.unary_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds a multi-RPC interceptor. See [`ClientMultiInterceptor`] for one
    /// that runs.
    ///
    /// ```
    /// struct Quiet; // every method has a default
    /// impl psrpc::ClientMultiInterceptor for Quiet {}
    /// let options = psrpc::ClientOptions::default().multi_interceptor(Quiet);
    /// assert_eq!(options.multi_interceptors.len(), 1);
    /// ```
    #[must_use]
    pub fn multi_interceptor(mut self, interceptor: impl ClientMultiInterceptor) -> Self {
        self.multi_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds a stream interceptor. See [`StreamInterceptor`] for one that runs.
    ///
    /// ```
    /// struct Quiet; // every method has a default
    /// impl psrpc::StreamInterceptor for Quiet {}
    /// let options = psrpc::ClientOptions::default().stream_interceptor(Quiet);
    /// assert_eq!(options.stream_interceptors.len(), 1);
    /// ```
    #[must_use]
    pub fn stream_interceptor(mut self, interceptor: impl StreamInterceptor) -> Self {
        self.stream_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds a request hook.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let options = psrpc::ClientOptions::default()
    ///     .request_hook(Arc::new(|info, request| println!("{}: {} bytes out", info.method, request.len())));
    /// assert_eq!(options.request_hooks.len(), 1);
    /// ```
    #[must_use]
    pub fn request_hook(mut self, hook: RequestHook) -> Self {
        self.request_hooks.push(hook);
        self
    }

    /// Adds a response hook.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let options = psrpc::ClientOptions::default().response_hook(Arc::new(|info, _request, outcome| {
    ///     if let Err(e) = outcome {
    ///         eprintln!("{} failed: {e}", info.method);
    ///     }
    /// }));
    /// assert_eq!(options.response_hooks.len(), 1);
    /// ```
    #[must_use]
    pub fn response_hook(mut self, hook: ResponseHook) -> Self {
        self.response_hooks.push(hook);
        self
    }

    /// Sets the observer that receives a report of every call (see
    /// [`Observer`](crate::observe::Observer) for one that counts).
    ///
    /// ```
    /// use std::sync::Arc;
    /// struct Nothing;
    /// impl psrpc::observe::Observer for Nothing {}
    /// let options = psrpc::ClientOptions::default().observer(Arc::new(Nothing));
    /// assert!(options.observer.is_some());
    /// ```
    #[must_use]
    pub fn observer(mut self, observer: SharedObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Sets the registry of live servers (see [`registry`](Self#structfield.registry)).
    ///
    /// ```no_run
    /// use psrpc::discovery::{Registry, RegistryOptions};
    /// # async fn f(bus: psrpc::SharedBus) -> Result<(), psrpc::Error> {
    /// let registry = Registry::new(bus.clone(), RegistryOptions::default()).await?;
    /// let options = psrpc::ClientOptions::default().registry(registry).check_registry(true);
    /// let client = psrpc::RpcClient::new("Greeter", bus, options).await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Turns registry-checked calls on or off (see [`check_registry`](Self#structfield.check_registry)).
    #[must_use]
    pub fn check_registry(mut self, check: bool) -> Self {
        self.check_registry = check;
        self
    }

    /// Turns local-first routing on or off (see [`local_first`](Self#structfield.local_first)).
    ///
    /// ```
    /// let options = psrpc::ClientOptions::default().local_first(true);
    /// assert!(options.local_first);
    /// ```
    #[must_use]
    pub fn local_first(mut self, local_first: bool) -> Self {
        self.local_first = local_first;
        self
    }
}

/// Options of an [`RpcServer`](crate::server::RpcServer).
///
/// ```
/// use std::time::Duration;
/// use psrpc_core::options::ServerOptions;
///
/// let options = ServerOptions::default().server_id("SRV_one").timeout(Duration::from_secs(1));
/// assert_eq!(options.server_id.as_deref(), Some("SRV_one"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The server id (default: a new `SRV_…` id).
    pub server_id: Option<String>,
    /// Timeout of stream sends (how long to wait for the peer's ack).
    pub timeout: Duration,
    /// Buffer size of the server's subscriptions, in frames. Zero is read as 1.
    pub channel_capacity: usize,
    /// Stream keepalive settings for streams accepted by this server.
    pub stream_keepalive: StreamKeepalive,
    /// How long [`shutdown`](crate::server::RpcServer::shutdown) and
    /// [`deregister`](crate::server::RpcServer::deregister) wait for
    /// in-flight handlers and streams (default [`DEFAULT_DRAIN_TIMEOUT`]).
    /// What is still running then is cancelled: handlers are dropped, and
    /// streams are closed with `unavailable` ("EOF"), their peers told.
    pub drain_timeout: Duration,
    /// Interceptors of unary (single and multi) requests, outermost first.
    pub unary_interceptors: Vec<Arc<dyn ServerUnaryInterceptor>>,
    /// Interceptors of streams; the first registered sees events first.
    pub stream_interceptors: Vec<Arc<dyn StreamInterceptor>>,
    /// Receives a report of every request, claim and stream (see [`observe`](crate::observe)).
    pub observer: Option<SharedObserver>,
    /// Discovery: heartbeats and answers to ping, info and stats (on by default).
    pub discovery: DiscoveryOptions,
    /// How the server takes requests from the bus (default: Go-compatible);
    /// must match the clients' (see [`wire_mode`](crate::wire_mode)).
    pub wire_mode: WireMode,
}

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
        }
    }
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("server_id", &self.server_id)
            .field("timeout", &self.timeout)
            .field("channel_capacity", &self.channel_capacity)
            .field("stream_keepalive", &self.stream_keepalive)
            .field("drain_timeout", &self.drain_timeout)
            .field("unary_interceptors", &self.unary_interceptors.len())
            .field("stream_interceptors", &self.stream_interceptors.len())
            .field("observer", &self.observer.is_some())
            .field("discovery", &self.discovery)
            .field("wire_mode", &self.wire_mode)
            .finish()
    }
}

impl ServerOptions {
    /// Sets the server id.
    ///
    /// ```
    /// let options = psrpc::ServerOptions::default().server_id("SRV_eu_1");
    /// assert_eq!(options.server_id.as_deref(), Some("SRV_eu_1"));
    /// ```
    #[must_use]
    pub fn server_id(mut self, id: impl Into<String>) -> Self {
        self.server_id = Some(id.into());
        self
    }

    /// Sets the stream send timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc::ServerOptions::default().timeout(Duration::from_secs(1));
    /// assert_eq!(options.timeout, Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the buffer size (see [`channel_capacity`](Self#structfield.channel_capacity)).
    ///
    /// ```
    /// let options = psrpc::ServerOptions::default().channel_capacity(0); // stored as given, read as 1
    /// assert_eq!(options.channel_capacity, 0);
    /// ```
    #[must_use]
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = capacity;
        self
    }

    /// Sets the stream keepalive settings.
    ///
    /// ```
    /// use std::time::Duration;
    /// let keepalive = psrpc::StreamKeepalive::new(Duration::from_secs(1), Duration::from_secs(3));
    /// let options = psrpc::ServerOptions::default().stream_keepalive(keepalive);
    /// assert_eq!(options.stream_keepalive.expiry, Duration::from_secs(3));
    /// ```
    #[must_use]
    pub fn stream_keepalive(mut self, keepalive: StreamKeepalive) -> Self {
        self.stream_keepalive = keepalive;
        self
    }

    /// Sets the drain bound (see [`drain_timeout`](Self#structfield.drain_timeout)).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc::ServerOptions::default().drain_timeout(Duration::from_secs(5));
    /// assert_eq!(options.drain_timeout, Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// The options as the server reads them (see the fields' docs).
    pub(crate) fn normalized(mut self) -> Self {
        self.channel_capacity = self.channel_capacity.max(1);
        self.stream_keepalive = self.stream_keepalive.normalized();
        self.observer = self.observer.map(crate::user_code::guard_observer);
        self
    }

    /// Adds a unary interceptor (runs inside those added before it). See
    /// [`ServerUnaryInterceptor`] for one that runs.
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
    /// assert_eq!(options.unary_interceptors.len(), 1);
    /// ```
    #[must_use]
    pub fn unary_interceptor(mut self, interceptor: impl ServerUnaryInterceptor) -> Self {
        self.unary_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds a stream interceptor. See [`StreamInterceptor`] for one that runs.
    ///
    /// ```
    /// struct Quiet; // every method has a default
    /// impl psrpc::StreamInterceptor for Quiet {}
    /// let options = psrpc::ServerOptions::default().stream_interceptor(Quiet);
    /// assert_eq!(options.stream_interceptors.len(), 1);
    /// ```
    #[must_use]
    pub fn stream_interceptor(mut self, interceptor: impl StreamInterceptor) -> Self {
        self.stream_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Sets the observer that receives a report of every request, claim and
    /// stream (see [`Observer`](crate::observe::Observer) for one that counts).
    ///
    /// ```
    /// use std::sync::Arc;
    /// struct Nothing;
    /// impl psrpc::observe::Observer for Nothing {}
    /// let options = psrpc::ServerOptions::default().observer(Arc::new(Nothing));
    /// assert!(options.observer.is_some());
    /// ```
    #[must_use]
    pub fn observer(mut self, observer: SharedObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Sets the discovery options.
    #[must_use]
    pub fn discovery(mut self, discovery: DiscoveryOptions) -> Self {
        self.discovery = discovery;
        self
    }

    /// Sets the wire mode (see [`wire_mode`](crate::wire_mode)); every
    /// client of the service must use the same.
    ///
    /// ```
    /// let options = psrpc::ServerOptions::default().wire_mode(psrpc::WireMode::Native);
    /// assert_eq!(options.wire_mode, psrpc::WireMode::Native);
    /// ```
    #[must_use]
    pub fn wire_mode(mut self, mode: WireMode) -> Self {
        self.wire_mode = mode;
        self
    }
}

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
/// ```
/// use std::time::Duration;
/// use psrpc_core::options::StreamKeepalive;
///
/// let keepalive = StreamKeepalive::default().interval(None).expiry(Duration::from_secs(60));
/// assert_eq!(keepalive, StreamKeepalive::disabled().expiry(Duration::from_secs(60)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamKeepalive {
    /// Interval between keepalive frames; `None` disables sending them.
    /// A zero interval is read as [`MIN_KEEPALIVE_PERIOD`].
    pub interval: Option<Duration>,
    /// Silence after which a peer known to send keepalives is considered
    /// gone. Zero is read as [`MIN_KEEPALIVE_PERIOD`].
    pub expiry: Duration,
}

/// The shortest keepalive interval and expiry the engines use (a timer
/// cannot tick every zero seconds).
///
/// ```
/// use std::time::Duration;
/// use psrpc_core::options::MIN_KEEPALIVE_PERIOD;
/// // A zero interval is stored as given and read as the minimum by the engines.
/// let keepalive = psrpc::StreamKeepalive::new(Duration::ZERO, Duration::ZERO);
/// assert_eq!(keepalive.interval, Some(Duration::ZERO));
/// assert_eq!(MIN_KEEPALIVE_PERIOD, Duration::from_millis(1));
/// ```
pub const MIN_KEEPALIVE_PERIOD: Duration = Duration::from_millis(1);

impl Default for StreamKeepalive {
    fn default() -> Self {
        StreamKeepalive { interval: Some(DEFAULT_STREAM_KEEPALIVE), expiry: DEFAULT_STREAM_KEEPALIVE * 3 }
    }
}

impl StreamKeepalive {
    /// Keepalives every `interval`, expiry after `expiry` of silence.
    ///
    /// ```
    /// use std::time::Duration;
    /// let keepalive = psrpc::StreamKeepalive::new(Duration::from_secs(1), Duration::from_secs(5));
    /// assert_eq!(keepalive.interval, Some(Duration::from_secs(1)));
    /// ```
    pub fn new(interval: Duration, expiry: Duration) -> Self {
        StreamKeepalive { interval: Some(interval), expiry }
    }

    /// No keepalives sent (peers are not expired by this side's frames).
    ///
    /// ```
    /// assert_eq!(psrpc::StreamKeepalive::disabled().interval, None);
    /// ```
    pub fn disabled() -> Self {
        StreamKeepalive { interval: None, ..StreamKeepalive::default() }
    }

    /// Sets the interval (`None`: send no keepalives).
    ///
    /// ```
    /// use std::time::Duration;
    /// let keepalive = psrpc::StreamKeepalive::default().interval(Some(Duration::from_secs(2)));
    /// assert_eq!(keepalive.interval, Some(Duration::from_secs(2)));
    /// ```
    #[must_use]
    pub fn interval(mut self, interval: Option<Duration>) -> Self {
        self.interval = interval;
        self
    }

    /// Sets the expiry.
    ///
    /// ```
    /// use std::time::Duration;
    /// let keepalive = psrpc::StreamKeepalive::default().expiry(Duration::from_secs(30));
    /// assert_eq!(keepalive.expiry, Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry;
        self
    }

    /// The settings as the engines read them (see the fields' docs).
    fn normalized(self) -> Self {
        StreamKeepalive {
            interval: self.interval.map(|i| i.max(MIN_KEEPALIVE_PERIOD)),
            expiry: self.expiry.max(MIN_KEEPALIVE_PERIOD),
        }
    }
}

/// A server's claim of a request, as seen by the selection function.
///
/// ```
/// use psrpc::Claim;
/// let claims = [Claim { server_id: "SRV_a".into(), affinity: 0.2 }, Claim { server_id: "SRV_b".into(), affinity: 0.9 }];
/// let best = claims.iter().max_by(|a, b| a.affinity.total_cmp(&b.affinity)).unwrap();
/// assert_eq!(best.server_id, "SRV_b");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// The claiming server.
    pub server_id: String,
    /// Its affinity for the request.
    pub affinity: f32,
}

/// A custom server selection over the claims received before the deadline:
/// it returns the chosen server's id, or an error that fails the call.
///
/// ```
/// use std::sync::Arc;
/// use psrpc::{Claim, Error, ErrorCode};
/// use psrpc_core::options::SelectionFn;
///
/// // Prefer servers in the caller's zone (their ids start with `SRV_eu`).
/// let pick: SelectionFn = Arc::new(|claims: &[Claim]| {
///     claims.iter().find(|c| c.server_id.starts_with("SRV_eu")).or(claims.first())
///         .map(|c| c.server_id.clone())
///         .ok_or_else(|| Error::new(ErrorCode::Unavailable, "no claims"))
/// });
/// let claims = [Claim { server_id: "SRV_us".into(), affinity: 1.0 }, Claim { server_id: "SRV_eu".into(), affinity: 0.5 }];
/// assert_eq!(pick(&claims).unwrap(), "SRV_eu");
/// ```
pub type SelectionFn = Arc<dyn Fn(&[Claim]) -> Result<String, Error> + Send + Sync>;

/// How the client picks the server among those that claimed a request.
///
/// ```
/// use std::time::Duration;
/// use psrpc_core::options::{RequestOptions, SelectionOptions};
///
/// // Among the claims of the next 500 ms, the best one with an affinity of at least 0.5.
/// let selection = SelectionOptions::default().affinity_timeout(Duration::from_millis(500)).minimum_affinity(0.5);
/// let options = RequestOptions::default().selection(selection);
/// # let _ = options;
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct SelectionOptions {
    /// Claims below this affinity are ignored (when > 0).
    pub minimum_affinity: f32,
    /// A claim at or above this affinity is selected at once (when > 0).
    pub maximum_affinity: f32,
    /// Select the first qualifying claim.
    pub accept_first_available: bool,
    /// Deadline for server selection.
    pub affinity_timeout: Duration,
    /// Deadline after the first qualifying claim.
    pub short_circuit_timeout: Option<Duration>,
    /// Custom selection over all qualifying claims, run at the deadline; a
    /// panic in it fails the call with `internal`.
    pub selection_fn: Option<SelectionFn>,
    /// Only claims from these servers qualify (server-id routing: unicast to
    /// one named server, or to a group such as the pods of one node).
    pub only_servers: Option<Arc<HashSet<String>>>,
}

impl fmt::Debug for SelectionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectionOptions")
            .field("minimum_affinity", &self.minimum_affinity)
            .field("maximum_affinity", &self.maximum_affinity)
            .field("accept_first_available", &self.accept_first_available)
            .field("affinity_timeout", &self.affinity_timeout)
            .field("short_circuit_timeout", &self.short_circuit_timeout)
            .field("selection_fn", &self.selection_fn.is_some())
            .field("only_servers", &self.only_servers)
            .finish()
    }
}

impl Default for SelectionOptions {
    fn default() -> Self {
        SelectionOptions {
            minimum_affinity: 0.0,
            maximum_affinity: 0.0,
            accept_first_available: false,
            affinity_timeout: DEFAULT_SELECTION_TIMEOUT,
            short_circuit_timeout: None,
            selection_fn: None,
            only_servers: None,
        }
    }
}

impl SelectionOptions {
    /// Go's defaults for queue methods: the first claim wins.
    ///
    /// ```
    /// use std::time::Duration;
    /// let selection = psrpc::SelectionOptions::first_available(Duration::from_secs(1));
    /// assert!(selection.accept_first_available);
    /// ```
    pub fn first_available(timeout: Duration) -> Self {
        SelectionOptions { accept_first_available: true, affinity_timeout: timeout, ..Default::default() }
    }

    /// Go's defaults for affinity methods: the best claim within 200 ms of the first.
    ///
    /// ```
    /// use std::time::Duration;
    /// let selection = psrpc::SelectionOptions::best_affinity(Duration::from_secs(1));
    /// assert_eq!(selection.short_circuit_timeout, Some(Duration::from_millis(200)));
    /// ```
    pub fn best_affinity(timeout: Duration) -> Self {
        SelectionOptions {
            affinity_timeout: timeout,
            short_circuit_timeout: Some(DEFAULT_SHORT_CIRCUIT),
            ..Default::default()
        }
    }

    /// Sets the minimum affinity.
    ///
    /// ```
    /// let selection = psrpc::SelectionOptions::default().minimum_affinity(0.5);
    /// assert_eq!(selection.minimum_affinity, 0.5);
    /// ```
    #[must_use]
    pub fn minimum_affinity(mut self, affinity: f32) -> Self {
        self.minimum_affinity = affinity;
        self
    }

    /// Sets the maximum affinity.
    ///
    /// ```
    /// let selection = psrpc::SelectionOptions::default().maximum_affinity(0.99);
    /// assert_eq!(selection.maximum_affinity, 0.99);
    /// ```
    #[must_use]
    pub fn maximum_affinity(mut self, affinity: f32) -> Self {
        self.maximum_affinity = affinity;
        self
    }

    /// Selects the first qualifying claim.
    ///
    /// ```
    /// let selection = psrpc::SelectionOptions::default().accept_first_available(true);
    /// assert!(selection.accept_first_available);
    /// ```
    #[must_use]
    pub fn accept_first_available(mut self, accept: bool) -> Self {
        self.accept_first_available = accept;
        self
    }

    /// Sets the selection deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// let selection = psrpc::SelectionOptions::default().affinity_timeout(Duration::from_millis(300));
    /// assert_eq!(selection.affinity_timeout, Duration::from_millis(300));
    /// ```
    #[must_use]
    pub fn affinity_timeout(mut self, timeout: Duration) -> Self {
        self.affinity_timeout = timeout;
        self
    }

    /// Sets the short-circuit deadline after the first qualifying claim.
    ///
    /// ```
    /// use std::time::Duration;
    /// let selection = psrpc::SelectionOptions::default().short_circuit_timeout(Duration::from_millis(50));
    /// assert_eq!(selection.short_circuit_timeout, Some(Duration::from_millis(50)));
    /// ```
    #[must_use]
    pub fn short_circuit_timeout(mut self, timeout: Duration) -> Self {
        self.short_circuit_timeout = Some(timeout);
        self
    }

    /// Sets a custom selection function (see [`SelectionFn`]).
    ///
    /// ```
    /// // Always the last server to claim.
    /// let selection = psrpc::SelectionOptions::default()
    ///     .selection_fn(|claims| claims.last().map(|c| c.server_id.clone()).ok_or_else(psrpc::Error::no_response));
    /// assert!(selection.selection_fn.is_some());
    /// ```
    #[must_use]
    pub fn selection_fn(mut self, f: impl Fn(&[Claim]) -> Result<String, Error> + Send + Sync + 'static) -> Self {
        self.selection_fn = Some(Arc::new(f));
        self
    }

    /// Accepts claims only from `servers`; with
    /// [`accept_first_available`](Self::accept_first_available) the call goes
    /// to the first of them that claims it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, SelectionOptions, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Ping { #[prost(string, tag = "1")] from: String }
    /// static PING: MethodInfo = MethodInfo::new("Ping", MethodKind::Unary(Selection::Affinity { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let mut servers = Vec::new();
    /// for id in ["SRV_a", "SRV_b"] {
    ///     let server = RpcServer::new("Pinger", bus.clone(), ServerOptions::default().server_id(id));
    ///     server.register_unary(&PING, vec![], move |_: RequestContext, _: Ping| async move { Ok(Ping { from: id.into() }) }, None).await?;
    ///     servers.push(server);
    /// }
    /// let client = RpcClient::new("Pinger", bus, ClientOptions::default()).await?;
    /// let to_b = SelectionOptions::default().only_servers(["SRV_b"]).accept_first_available(true);
    /// let reply = client.request_single::<Ping, Ping>(&PING, vec![], &Ping::default(), RequestOptions::default().selection(to_b)).await?;
    /// assert_eq!(reply.message.from, "SRV_b");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn only_servers(mut self, servers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.only_servers = Some(Arc::new(servers.into_iter().map(Into::into).collect()));
        self
    }
}

/// Options of one call.
///
/// One type serves single calls, multi calls and stream opens; each field
/// says which of them use it. Decision: a call given a field its kind does
/// not use fails at once with `invalid_argument`, naming the field and the
/// call, before anything is published (rather than one options type per
/// kind, which every generated method signature would have to spell).
///
/// | field | single | multi | stream open |
/// |---|---|---|---|
/// | [`timeout`](Self::timeout) | yes | yes | yes (open and sends) |
/// | [`selection`](Self::selection) | claimed methods | no | claimed methods |
/// | [`metadata`](Self::metadata) | yes | yes | yes |
/// | [`expected_responses`](Self::expected_responses), [`expected_servers`](Self::expected_servers) | no | yes | no |
/// | [`unary_interceptors`](Self::unary_interceptors) | yes | no | no |
///
/// "Claimed methods" are those with the claim exchange: queue and affinity
/// methods, not single-server ones. Subscriptions take no `RequestOptions`.
///
/// ```
/// use std::time::Duration;
/// use psrpc_core::options::RequestOptions;
///
/// let options = RequestOptions::default().timeout(Duration::from_millis(500)).metadata("trace", "abc");
/// assert_eq!(options.metadata["trace"], "abc");
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RequestOptions {
    /// Overrides the client's timeout (single, multi and stream calls).
    pub timeout: Option<Duration>,
    /// The caller's deadline (single, multi and stream calls): the call
    /// expires at the earlier of this and `now + timeout`. Default: the
    /// deadline of the calling task, i.e. the request's inside a handler
    /// (see [`deadline`](crate::deadline)).
    pub deadline: Option<tokio::time::Instant>,
    /// Overrides the method's default server selection (single calls and
    /// stream opens of methods with the claim exchange).
    pub selection: Option<SelectionOptions>,
    /// Metadata sent with the request or stream open (single, multi and stream calls).
    pub metadata: Metadata,
    /// Multi calls only: end as soon as this many servers answered.
    pub expected_responses: Option<usize>,
    /// Multi calls only: end as soon as all these servers answered.
    pub expected_servers: Option<HashSet<String>>,
    /// Single calls only: unary interceptors for this call, after the client's.
    pub unary_interceptors: Vec<Arc<dyn ClientUnaryInterceptor>>,
    /// Single calls and stream opens: send the call to the server this key
    /// sticks to (see [`sticky`](Self::sticky)).
    pub sticky: Option<String>,
}

/// The client call a method and its options are given to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// [`RpcClient::request_single`](crate::client::RpcClient::request_single).
    Single,
    /// [`RpcClient::request_multi`](crate::client::RpcClient::request_multi).
    Multi,
    /// [`RpcClient::open_stream`](crate::client::RpcClient::open_stream).
    Stream,
    /// [`RpcClient::subscribe`](crate::client::RpcClient::subscribe).
    Subscribe,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Single => "request_single",
            Call::Multi => "request_multi",
            Call::Stream => "open_stream",
            Call::Subscribe => "subscribe",
        }
    }

    fn kind_name(self) -> &'static str {
        match self {
            Call::Single => "unary",
            Call::Multi => "multi",
            Call::Stream => "stream",
            Call::Subscribe => "subscription",
        }
    }

    /// The call a method of `kind` is made with.
    fn for_kind(kind: MethodKind) -> Call {
        match kind {
            MethodKind::Unary(_) => Call::Single,
            MethodKind::Multi { .. } => Call::Multi,
            MethodKind::Stream(_) => Call::Stream,
            MethodKind::Subscription { .. } => Call::Subscribe,
        }
    }

    /// Checks, before anything is published, that `method` is made with
    /// this call and that `options` sets only fields this call uses.
    pub(crate) fn admit(
        self,
        method: &MethodInfo,
        mode: WireMode,
        options: Option<&RequestOptions>,
    ) -> Result<(), Error> {
        let reject = |message: String| Err(Error::new(ErrorCode::InvalidArgument, message));
        let (call, name) = (self.name(), &method.name);
        let expected = Call::for_kind(method.kind);
        if expected != self {
            let (kind, right) = (expected.kind_name(), expected.name());
            return reject(format!("`{call}` cannot call `{name}`, a {kind} method: use `{right}`"));
        }
        let Some(options) = options else { return Ok(()) };
        let claims = mode.require_claim(method);
        let unused = [
            ("selection", options.selection.is_some() && !claims, "it has no claim exchange"),
            ("expected_responses", options.expected_responses.is_some() && self != Call::Multi, "multi calls only"),
            ("expected_servers", options.expected_servers.is_some() && self != Call::Multi, "multi calls only"),
            ("unary_interceptors", !options.unary_interceptors.is_empty() && self != Call::Single, "single calls only"),
            ("sticky", options.sticky.is_some() && self == Call::Multi, "every server answers a multi call"),
            ("sticky", options.sticky.is_some() && !claims, "it has no claim exchange"),
        ];
        if let Some((field, _, why)) = unused.iter().find(|(_, set, _)| *set) {
            return reject(format!("RequestOptions::{field} is not used by `{call}` of `{name}` ({why})"));
        }
        let only_servers = options.selection.as_ref().is_some_and(|s| s.only_servers.is_some());
        if self == Call::Single && method.queue() && only_servers {
            return reject(
                "server-id routing needs an affinity method: a queue method reaches one server the bus picks".into(),
            );
        }
        Ok(())
    }
}

impl fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestOptions")
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("selection", &self.selection)
            .field("metadata", &self.metadata)
            .field("expected_responses", &self.expected_responses)
            .field("expected_servers", &self.expected_servers)
            .field("unary_interceptors", &self.unary_interceptors.len())
            .field("sticky", &self.sticky)
            .finish()
    }
}

impl RequestOptions {
    /// Sets the timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc::RequestOptions::default().timeout(Duration::from_millis(500));
    /// assert_eq!(options.timeout, Some(Duration::from_millis(500)));
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the caller's deadline: the call expires by it at the latest.
    ///
    /// ```
    /// use std::time::Duration;
    /// let by = tokio::time::Instant::now() + Duration::from_millis(500);
    /// let options = psrpc::RequestOptions::default().deadline(by);
    /// assert_eq!(options.deadline, Some(by));
    /// ```
    #[must_use]
    pub fn deadline(mut self, deadline: tokio::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the server selection.
    ///
    /// ```
    /// use std::time::Duration;
    /// let selection = psrpc::SelectionOptions::best_affinity(Duration::from_millis(500));
    /// let options = psrpc::RequestOptions::default().selection(selection);
    /// assert!(options.selection.is_some());
    /// ```
    #[must_use]
    pub fn selection(mut self, selection: SelectionOptions) -> Self {
        self.selection = Some(selection);
        self
    }

    /// Adds one metadata entry.
    ///
    /// ```
    /// let options = psrpc::RequestOptions::default().metadata("tenant", "acme").metadata("trace", "abc");
    /// assert_eq!(options.metadata.len(), 2);
    /// ```
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Multi calls: ends once `count` servers answered.
    ///
    /// ```
    /// let options = psrpc::RequestOptions::default().expected_responses(3);
    /// assert_eq!(options.expected_responses, Some(3));
    /// ```
    #[must_use]
    pub fn expected_responses(mut self, count: usize) -> Self {
        self.expected_responses = Some(count);
        self
    }

    /// Multi calls: ends once every server in `servers` answered.
    ///
    /// ```
    /// let options = psrpc::RequestOptions::default().expected_servers(["SRV_a", "SRV_b"]);
    /// assert!(options.expected_servers.unwrap().contains("SRV_b"));
    /// ```
    #[must_use]
    pub fn expected_servers(mut self, servers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.expected_servers = Some(servers.into_iter().map(Into::into).collect());
        self
    }

    /// Single calls: adds a unary interceptor for this call.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use futures_util::future::BoxFuture;
    /// # use psrpc::{ClientUnaryInterceptor, ClientUnaryNext, Error, Reply, RpcInfo, UnaryCall};
    /// # struct Trace;
    /// # impl ClientUnaryInterceptor for Trace {
    /// #     fn intercept<'a>(&'a self, _: &'a RpcInfo, call: UnaryCall, next: ClientUnaryNext<'a>) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> {
    /// #         next.run(call)
    /// #     }
    /// # }
    /// let options = psrpc::RequestOptions::default().unary_interceptor(Trace);
    /// assert_eq!(options.unary_interceptors.len(), 1);
    /// ```
    #[must_use]
    pub fn unary_interceptor(mut self, interceptor: impl ClientUnaryInterceptor) -> Self {
        self.unary_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Single calls and stream opens: a sticky session. Every call with the
    /// same `key` goes to the same server while that server lives; when it
    /// leaves, only its keys move; keys spread evenly over the live servers.
    ///
    /// The server is chosen by rendezvous hashing
    /// ([`sticky_server`](crate::discovery::sticky_server)) over the live,
    /// non-draining servers of the method on its topics, as the client's
    /// [`ClientOptions::registry`] knows them, and the call is delivered by
    /// server-id routing (the selection accepts that server's claim only).
    /// It fails `invalid_argument` without a registry, on multi calls and on
    /// single-server methods (no claim exchange to route by), and
    /// `unavailable` when no live server serves the method.
    ///
    /// Decision (queue methods): a unary queue method's request reaches one
    /// server the bus picks, so no claim can route it. A sticky call of a
    /// queue method is therefore sent the way an affinity call is: on the
    /// method's non-queue request channel, which psrpc-rs servers of a queue
    /// method subscribe as well when discovery is on; Go psrpc servers do
    /// not subscribe it, never see the request, and are never chosen (the
    /// registry does not list them). Stream opens reach every server anyway.
    ///
    /// ```no_run
    /// # use psrpc::{MethodInfo, MethodKind, Selection, RequestOptions};
    /// # static GET: MethodInfo = MethodInfo::new("Get", MethodKind::Unary(Selection::Affinity { topics: false }));
    /// # async fn f(client: psrpc::RpcClient) -> Result<(), psrpc::Error> {
    /// // the client was created with ClientOptions::registry
    /// let options = RequestOptions::default().sticky("cart-1234");
    /// let reply = client.request_single::<(), ()>(&GET, vec![], &(), options).await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn sticky(mut self, key: impl Into<String>) -> Self {
        self.sticky = Some(key.into());
        self
    }
}

/// Options of one stream send.
///
/// ```
/// use std::time::Duration;
/// use psrpc_core::options::StreamOptions;
///
/// let options = StreamOptions::default().timeout(Duration::from_secs(10));
/// assert_eq!(options.timeout, Some(Duration::from_secs(10)));
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct StreamOptions {
    /// How long to wait for the peer's ack (default: the stream's timeout).
    pub timeout: Option<Duration>,
}

impl StreamOptions {
    /// Sets the ack timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc::StreamOptions::default().timeout(Duration::from_secs(10));
    /// assert_eq!(options.timeout, Some(Duration::from_secs(10)));
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures_util::future::BoxFuture;

    use super::*;
    use crate::info::{Delivery, RpcInfo, Selection};
    use crate::interceptor::{ClientUnaryNext, Reply, UnaryCall};

    struct PassThrough;

    impl ClientUnaryInterceptor for PassThrough {
        fn intercept<'a>(
            &'a self,
            _info: &'a RpcInfo,
            call: UnaryCall,
            next: ClientUnaryNext<'a>,
        ) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> {
            next.run(call)
        }
    }

    const QUEUE: Selection = Selection::Queue { topics: false };
    static SINGLE: MethodInfo = MethodInfo::new("Single", MethodKind::Unary(QUEUE));
    static AFFINE: MethodInfo = MethodInfo::new("Affine", MethodKind::Unary(Selection::Affinity { topics: false }));
    static SHARD: MethodInfo = MethodInfo::new("Shard", MethodKind::Unary(Selection::SingleServer));
    static MULTI: MethodInfo = MethodInfo::new("Multi", MethodKind::Multi { topics: false });
    static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(QUEUE));
    static OWNED_CHAT: MethodInfo = MethodInfo::new("OwnedChat", MethodKind::Stream(Selection::SingleServer));
    static FEED: MethodInfo =
        MethodInfo::new("Feed", MethodKind::Subscription { delivery: Delivery::Every, topics: false });

    fn rejected(call: Call, method: &MethodInfo, options: Option<&RequestOptions>) -> String {
        let err = call.admit(method, WireMode::default(), options).expect_err("rejected");
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        err.message().to_owned()
    }

    #[test]
    fn each_call_takes_only_its_kind_of_method() {
        let calls = [(Call::Single, &SINGLE), (Call::Multi, &MULTI), (Call::Stream, &CHAT), (Call::Subscribe, &FEED)];
        for (call, own) in calls {
            assert!(call.admit(own, WireMode::default(), None).is_ok(), "{call:?}");
            for (_, other) in calls.iter().filter(|(c, _)| *c != call) {
                let message = rejected(call, other, None);
                assert!(message.contains(call.name()) && message.contains(other.name.as_ref()), "{message}");
            }
        }
        assert_eq!(
            rejected(Call::Single, &MULTI, None),
            "`request_single` cannot call `Multi`, a multi method: use `request_multi`"
        );
        assert!(
            Call::Single.admit(&SHARD, WireMode::default(), None).is_ok()
                && Call::Stream.admit(&OWNED_CHAT, WireMode::default(), None).is_ok()
        );
    }

    #[test]
    fn native_unary_queue_calls_take_no_claim_options() {
        let selection = RequestOptions::default().selection(SelectionOptions::default());
        let sticky = RequestOptions::default().sticky("room-1");
        for options in [&selection, &sticky] {
            let err = Call::Single.admit(&SINGLE, WireMode::Native, Some(options)).expect_err("no claim");
            assert!(err.message().contains("no claim exchange"), "{}", err.message());
            assert!(Call::Single.admit(&SINGLE, WireMode::GoCompatible, Some(options)).is_ok());
            assert!(Call::Single.admit(&AFFINE, WireMode::Native, Some(options)).is_ok());
        }
    }

    #[test]
    fn fields_a_call_does_not_use_are_rejected() {
        let selection = RequestOptions::default().selection(SelectionOptions::default());
        let count = RequestOptions::default().expected_responses(2);
        let servers = RequestOptions::default().expected_servers(["SRV_a"]);
        let interceptor = RequestOptions::default().unary_interceptor(PassThrough);
        let cases: [(Call, &MethodInfo, &RequestOptions, &str); 9] = [
            (Call::Single, &SINGLE, &count, "expected_responses"),
            (Call::Single, &SINGLE, &servers, "expected_servers"),
            (Call::Single, &SHARD, &selection, "selection"),
            (Call::Multi, &MULTI, &selection, "selection"),
            (Call::Multi, &MULTI, &interceptor, "unary_interceptors"),
            (Call::Stream, &CHAT, &count, "expected_responses"),
            (Call::Stream, &CHAT, &servers, "expected_servers"),
            (Call::Stream, &CHAT, &interceptor, "unary_interceptors"),
            (Call::Stream, &OWNED_CHAT, &selection, "selection"),
        ];
        for (call, method, options, field) in cases {
            let message = rejected(call, method, Some(options));
            let expected = format!("RequestOptions::{field} is not used by `{}` of `{}`", call.name(), method.name);
            assert!(message.starts_with(&expected), "{message}");
        }
    }

    #[test]
    fn sticky_needs_a_claim_exchange() {
        let sticky = RequestOptions::default().sticky("k");
        assert!(rejected(Call::Multi, &MULTI, Some(&sticky)).starts_with("RequestOptions::sticky is not used"));
        assert!(rejected(Call::Single, &SHARD, Some(&sticky)).contains("no claim exchange"));
        assert!(rejected(Call::Stream, &OWNED_CHAT, Some(&sticky)).contains("no claim exchange"));
        for (call, method) in [(Call::Single, &SINGLE), (Call::Single, &AFFINE), (Call::Stream, &CHAT)] {
            assert!(call.admit(method, WireMode::default(), Some(&sticky)).is_ok(), "{}", method.name);
        }
    }

    #[test]
    fn fields_a_call_uses_are_accepted() {
        let base = RequestOptions::default().timeout(Duration::from_secs(1)).metadata("k", "v");
        let single = base.clone().selection(SelectionOptions::default()).unary_interceptor(PassThrough);
        let multi = base.clone().expected_responses(2).expected_servers(["SRV_a"]);
        let stream = base.clone().selection(SelectionOptions::default());
        assert!(Call::Single.admit(&SINGLE, WireMode::default(), Some(&single)).is_ok());
        assert!(Call::Single.admit(&SHARD, WireMode::default(), Some(&base)).is_ok());
        assert!(Call::Multi.admit(&MULTI, WireMode::default(), Some(&multi)).is_ok());
        assert!(Call::Stream.admit(&CHAT, WireMode::default(), Some(&stream)).is_ok());
        assert!(Call::Stream.admit(&OWNED_CHAT, WireMode::default(), Some(&base)).is_ok());
    }

    #[test]
    fn server_id_routing_needs_an_affinity_method() {
        let only = RequestOptions::default().selection(SelectionOptions::default().only_servers(["SRV_a"]));
        assert!(rejected(Call::Single, &SINGLE, Some(&only)).starts_with("server-id routing needs an affinity method"));
        assert!(Call::Single.admit(&AFFINE, WireMode::default(), Some(&only)).is_ok());
        assert!(Call::Stream.admit(&CHAT, WireMode::default(), Some(&only)).is_ok(), "every server sees a stream open");
    }

    #[test]
    fn setters_only_assign_and_engines_read_normalized_values() {
        let client = ClientOptions::default().channel_capacity(0);
        assert_eq!(client.channel_capacity, 0, "the setter stores the value as given");
        assert_eq!(client.normalized().channel_capacity, 1);
        let server = ServerOptions::default()
            .channel_capacity(0)
            .stream_keepalive(StreamKeepalive::new(Duration::ZERO, Duration::ZERO));
        let server = server.normalized();
        assert_eq!(server.channel_capacity, 1);
        assert_eq!(server.stream_keepalive, StreamKeepalive::new(MIN_KEEPALIVE_PERIOD, MIN_KEEPALIVE_PERIOD));
        assert_eq!(StreamKeepalive::disabled().normalized().interval, None);
    }
}
