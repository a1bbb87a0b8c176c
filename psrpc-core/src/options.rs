//! Client, server, request, selection and stream options.
//!
//! Defaults follow Go psrpc: 3 s request timeout, 1 s server selection
//! timeout, 200 ms short-circuit for affinity methods, buffers of 100 frames.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::interceptor::{
    ClientMultiInterceptor, ClientUnaryInterceptor, RequestHook, ResponseHook, ServerUnaryInterceptor,
    StreamInterceptor,
};
use crate::metadata::Metadata;
use crate::observe::SharedObserver;

/// Default request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default server selection (affinity) timeout.
pub const DEFAULT_SELECTION_TIMEOUT: Duration = Duration::from_secs(1);
/// Default short-circuit after the first claim, for affinity methods.
pub const DEFAULT_SHORT_CIRCUIT: Duration = Duration::from_millis(200);
/// Default stream keepalive interval between psrpc-rs peers.
pub const DEFAULT_STREAM_KEEPALIVE: Duration = Duration::from_secs(5);

/// Options of an [`RpcClient`](crate::client::RpcClient).
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The client id (default: a new `CLI_…` id).
    pub client_id: Option<String>,
    /// Request timeout.
    pub timeout: Duration,
    /// How long to wait for servers to claim a request.
    pub selection_timeout: Duration,
    /// Buffer size of the client's subscriptions, in frames.
    pub channel_capacity: usize,
    /// Stream keepalive settings for streams opened by this client.
    pub stream_keepalive: StreamKeepalive,
    /// Unary interceptors, outermost first.
    pub unary_interceptors: Vec<Arc<dyn ClientUnaryInterceptor>>,
    /// Multi-RPC interceptors, first registered sees events first.
    pub multi_interceptors: Vec<Arc<dyn ClientMultiInterceptor>>,
    /// Stream interceptors, first registered sees events first.
    pub stream_interceptors: Vec<Arc<dyn StreamInterceptor>>,
    /// Called as each request is made.
    pub request_hooks: Vec<RequestHook>,
    /// Called with each response (every response of a multi-RPC).
    pub response_hooks: Vec<ResponseHook>,
    /// Receives a report of every call (see [`observe`](crate::observe)).
    pub observer: Option<SharedObserver>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            client_id: None,
            timeout: DEFAULT_TIMEOUT,
            selection_timeout: DEFAULT_SELECTION_TIMEOUT,
            channel_capacity: crate::bus::DEFAULT_CHANNEL_CAPACITY,
            stream_keepalive: StreamKeepalive::default(),
            unary_interceptors: Vec::new(),
            multi_interceptors: Vec::new(),
            stream_interceptors: Vec::new(),
            request_hooks: Vec::new(),
            response_hooks: Vec::new(),
            observer: None,
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
            .finish()
    }
}

impl ClientOptions {
    /// Sets the client id.
    #[must_use]
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Sets the request timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the server selection timeout.
    #[must_use]
    pub fn selection_timeout(mut self, timeout: Duration) -> Self {
        self.selection_timeout = timeout;
        self
    }

    /// Sets the subscription buffer size.
    #[must_use]
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = capacity.max(1);
        self
    }

    /// Sets the stream keepalive settings.
    #[must_use]
    pub fn stream_keepalive(mut self, keepalive: StreamKeepalive) -> Self {
        self.stream_keepalive = keepalive;
        self
    }

    /// Adds a unary interceptor (runs after those added before it).
    #[must_use]
    pub fn unary_interceptor(mut self, interceptor: impl ClientUnaryInterceptor) -> Self {
        self.unary_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds a multi-RPC interceptor.
    #[must_use]
    pub fn multi_interceptor(mut self, interceptor: impl ClientMultiInterceptor) -> Self {
        self.multi_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds a stream interceptor.
    #[must_use]
    pub fn stream_interceptor(mut self, interceptor: impl StreamInterceptor) -> Self {
        self.stream_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds a request hook.
    #[must_use]
    pub fn request_hook(mut self, hook: RequestHook) -> Self {
        self.request_hooks.push(hook);
        self
    }

    /// Adds a response hook.
    #[must_use]
    pub fn response_hook(mut self, hook: ResponseHook) -> Self {
        self.response_hooks.push(hook);
        self
    }

    /// Sets the observer that receives a report of every call.
    #[must_use]
    pub fn observer(mut self, observer: SharedObserver) -> Self {
        self.observer = Some(observer);
        self
    }
}

/// Options of an [`RpcServer`](crate::server::RpcServer).
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The server id (default: a new `SRV_…` id).
    pub server_id: Option<String>,
    /// Timeout of stream sends (how long to wait for the peer's ack).
    pub timeout: Duration,
    /// Buffer size of the server's subscriptions, in frames.
    pub channel_capacity: usize,
    /// Stream keepalive settings for streams accepted by this server.
    pub stream_keepalive: StreamKeepalive,
    /// Unary interceptors, outermost first.
    pub unary_interceptors: Vec<Arc<dyn ServerUnaryInterceptor>>,
    /// Stream interceptors, first registered sees events first.
    pub stream_interceptors: Vec<Arc<dyn StreamInterceptor>>,
    /// Receives a report of every request, claim and stream (see [`observe`](crate::observe)).
    pub observer: Option<SharedObserver>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            server_id: None,
            timeout: DEFAULT_TIMEOUT,
            channel_capacity: crate::bus::DEFAULT_CHANNEL_CAPACITY,
            stream_keepalive: StreamKeepalive::default(),
            unary_interceptors: Vec::new(),
            stream_interceptors: Vec::new(),
            observer: None,
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
            .field("unary_interceptors", &self.unary_interceptors.len())
            .field("stream_interceptors", &self.stream_interceptors.len())
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl ServerOptions {
    /// Sets the server id.
    #[must_use]
    pub fn server_id(mut self, id: impl Into<String>) -> Self {
        self.server_id = Some(id.into());
        self
    }

    /// Sets the stream send timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the subscription buffer size.
    #[must_use]
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = capacity.max(1);
        self
    }

    /// Sets the stream keepalive settings.
    #[must_use]
    pub fn stream_keepalive(mut self, keepalive: StreamKeepalive) -> Self {
        self.stream_keepalive = keepalive;
        self
    }

    /// Adds a unary interceptor (runs inside those added before it).
    #[must_use]
    pub fn unary_interceptor(mut self, interceptor: impl ServerUnaryInterceptor) -> Self {
        self.unary_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds a stream interceptor.
    #[must_use]
    pub fn stream_interceptor(mut self, interceptor: impl StreamInterceptor) -> Self {
        self.stream_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Sets the observer that receives a report of every request, claim and stream.
    #[must_use]
    pub fn observer(mut self, observer: SharedObserver) -> Self {
        self.observer = Some(observer);
        self
    }
}

/// Liveness of streams between psrpc-rs peers.
///
/// Each end sends a keepalive frame (a `Stream` envelope with no body, which
/// Go psrpc peers ignore) every `interval`. Once a peer has been seen sending
/// keepalives, the stream is closed with `unavailable` when nothing arrives
/// from it for `expiry`: a vanished peer frees the stream's state. Peers that
/// never send keepalives (Go psrpc) are never expired this way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamKeepalive {
    /// Interval between keepalive frames; `None` disables sending them.
    pub interval: Option<Duration>,
    /// Silence after which a keepalive-speaking peer is considered gone.
    pub expiry: Duration,
}

impl Default for StreamKeepalive {
    fn default() -> Self {
        StreamKeepalive { interval: Some(DEFAULT_STREAM_KEEPALIVE), expiry: DEFAULT_STREAM_KEEPALIVE * 3 }
    }
}

impl StreamKeepalive {
    /// Keepalives every `interval`, expiry after `expiry` of silence.
    pub fn new(interval: Duration, expiry: Duration) -> Self {
        StreamKeepalive { interval: Some(interval), expiry }
    }

    /// No keepalives sent (peers are not expired by this side's frames).
    pub fn disabled() -> Self {
        StreamKeepalive { interval: None, ..StreamKeepalive::default() }
    }
}

/// A server's claim of a request, as seen by the selection function.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// The claiming server.
    pub server_id: String,
    /// Its affinity for the request.
    pub affinity: f32,
}

/// A custom server selection over the claims received before the deadline.
pub type SelectionFn = Arc<dyn Fn(&[Claim]) -> Result<String, Error> + Send + Sync>;

/// How the client picks the server among those that claimed a request.
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
    /// Custom selection over all qualifying claims, run at the deadline.
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
    pub fn first_available(timeout: Duration) -> Self {
        SelectionOptions { accept_first_available: true, affinity_timeout: timeout, ..Default::default() }
    }

    /// Go's defaults for affinity methods: the best claim within 200 ms of the first.
    pub fn best_affinity(timeout: Duration) -> Self {
        SelectionOptions {
            affinity_timeout: timeout,
            short_circuit_timeout: Some(DEFAULT_SHORT_CIRCUIT),
            ..Default::default()
        }
    }

    /// Sets the minimum affinity.
    #[must_use]
    pub fn minimum_affinity(mut self, affinity: f32) -> Self {
        self.minimum_affinity = affinity;
        self
    }

    /// Sets the maximum affinity.
    #[must_use]
    pub fn maximum_affinity(mut self, affinity: f32) -> Self {
        self.maximum_affinity = affinity;
        self
    }

    /// Selects the first qualifying claim.
    #[must_use]
    pub fn accept_first_available(mut self, accept: bool) -> Self {
        self.accept_first_available = accept;
        self
    }

    /// Sets the selection deadline.
    #[must_use]
    pub fn affinity_timeout(mut self, timeout: Duration) -> Self {
        self.affinity_timeout = timeout;
        self
    }

    /// Sets the short-circuit deadline after the first qualifying claim.
    #[must_use]
    pub fn short_circuit_timeout(mut self, timeout: Duration) -> Self {
        self.short_circuit_timeout = Some(timeout);
        self
    }

    /// Sets a custom selection function.
    #[must_use]
    pub fn selection_fn(mut self, f: impl Fn(&[Claim]) -> Result<String, Error> + Send + Sync + 'static) -> Self {
        self.selection_fn = Some(Arc::new(f));
        self
    }

    /// Accepts claims only from `servers`; with
    /// [`accept_first_available`](Self::accept_first_available) the call goes
    /// to the first of them that claims it.
    #[must_use]
    pub fn only_servers(mut self, servers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.only_servers = Some(Arc::new(servers.into_iter().map(Into::into).collect()));
        self
    }
}

/// Options of one call.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RequestOptions {
    /// Overrides the client's request timeout.
    pub timeout: Option<Duration>,
    /// Overrides the method's default server selection.
    pub selection: Option<SelectionOptions>,
    /// Metadata sent with the request (or stream open).
    pub metadata: Metadata,
    /// Multi-RPC: end as soon as this many servers answered.
    pub expected_responses: Option<usize>,
    /// Multi-RPC: end as soon as all these servers answered.
    pub expected_servers: Option<HashSet<String>>,
    /// Unary interceptors for this call, after the client's.
    pub unary_interceptors: Vec<Arc<dyn ClientUnaryInterceptor>>,
}

impl fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestOptions")
            .field("timeout", &self.timeout)
            .field("selection", &self.selection)
            .field("metadata", &self.metadata)
            .field("expected_responses", &self.expected_responses)
            .field("expected_servers", &self.expected_servers)
            .field("unary_interceptors", &self.unary_interceptors.len())
            .finish()
    }
}

impl RequestOptions {
    /// Sets the timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the server selection.
    #[must_use]
    pub fn selection(mut self, selection: SelectionOptions) -> Self {
        self.selection = Some(selection);
        self
    }

    /// Adds one metadata entry.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Multi-RPC: ends once `count` servers answered.
    #[must_use]
    pub fn expected_responses(mut self, count: usize) -> Self {
        self.expected_responses = Some(count);
        self
    }

    /// Multi-RPC: ends once every server in `servers` answered.
    #[must_use]
    pub fn expected_servers(mut self, servers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.expected_servers = Some(servers.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a unary interceptor for this call.
    #[must_use]
    pub fn unary_interceptor(mut self, interceptor: impl ClientUnaryInterceptor) -> Self {
        self.unary_interceptors.push(Arc::new(interceptor));
        self
    }
}

/// Options of one stream send.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct StreamOptions {
    /// How long to wait for the peer's ack (default: the stream's timeout).
    pub timeout: Option<Duration>,
}

impl StreamOptions {
    /// Sets the ack timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}
