//! [`ClientOptions`]: how an [`RpcClient`](crate::client::RpcClient) calls.

use std::sync::Arc;
use std::time::Duration;

use super::{
    DEFAULT_CANDIDATE_WINDOW, DEFAULT_CLAIM_CANDIDATES, DEFAULT_SELECTION_TIMEOUT, DEFAULT_TIMEOUT, StreamKeepalive,
    debug_fields, shared_builders,
};
use crate::discovery::Registry;
use crate::interceptor::{
    ClientMultiInterceptor, ClientUnaryInterceptor, RequestHook, ResponseHook, StreamInterceptor,
};
use crate::observe::SharedObserver;
use crate::wire_mode::WireMode;

/// Options of an [`RpcClient`](crate::client::RpcClient).
///
/// Each builder says which calls use its setting: single calls
/// ([`request_single`](crate::client::RpcClient::request_single)), multi
/// calls ([`request_multi`](crate::client::RpcClient::request_multi)),
/// streams ([`open_stream`](crate::client::RpcClient::open_stream)) and
/// subscriptions ([`subscribe`](crate::client::RpcClient::subscribe)).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use psrpc_core::options::ClientOptions;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// let options = ClientOptions::default().client_id("CLI_frontend").timeout(Duration::from_secs(5)).channel_capacity(256);
/// let bus: psrpc::SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let client = psrpc::RpcClient::new("Greeter", bus, options).await?;
/// assert_eq!(client.id(), "CLI_frontend");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientOptions {
    pub(crate) client_id: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) selection_timeout: Duration,
    pub(crate) channel_capacity: usize,
    pub(crate) stream_keepalive: StreamKeepalive,
    pub(crate) unary_interceptors: Vec<Arc<dyn ClientUnaryInterceptor>>,
    pub(crate) multi_interceptors: Vec<Arc<dyn ClientMultiInterceptor>>,
    pub(crate) stream_interceptors: Vec<Arc<dyn StreamInterceptor>>,
    pub(crate) request_hooks: Vec<RequestHook>,
    pub(crate) response_hooks: Vec<ResponseHook>,
    pub(crate) observer: Option<SharedObserver>,
    pub(crate) registry: Option<Registry>,
    pub(crate) check_registry: bool,
    pub(crate) local_first: bool,
    pub(crate) wire_mode: WireMode,
    pub(crate) claim_candidates: usize,
    pub(crate) candidate_window: Duration,
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
            claim_candidates: DEFAULT_CLAIM_CANDIDATES,
            candidate_window: DEFAULT_CANDIDATE_WINDOW,
        }
    }
}

debug_fields!(ClientOptions {
    client_id, timeout, selection_timeout, channel_capacity, stream_keepalive,
    unary_interceptors => unary_interceptors.len(),
    multi_interceptors => multi_interceptors.len(),
    stream_interceptors => stream_interceptors.len(),
    request_hooks => request_hooks.len(),
    response_hooks => response_hooks.len(),
    observer => observer.is_some(),
    registry => registry.as_ref().map(Registry::id),
    check_registry, local_first, wire_mode, claim_candidates, candidate_window,
});

shared_builders!(ClientOptions {
    timeout: "default timeout of single and multi calls and of stream opens and sends (default \
        [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT); [`RequestOptions::timeout`](super::RequestOptions::timeout) \
        overrides it per call)",
    observed: "every call",
    peers: "every server of the service",
});

impl ClientOptions {
    /// Sets the client id (default: a new `CLI_…` id).
    ///
    /// ```
    /// let options = psrpc::ClientOptions::default().client_id("CLI_frontend");
    /// assert!(format!("{options:?}").contains(r#"client_id: Some("CLI_frontend")"#));
    /// ```
    #[must_use]
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Sets how long single calls and stream opens wait for servers to claim
    /// the request (methods with the claim exchange; default
    /// [`DEFAULT_SELECTION_TIMEOUT`](super::DEFAULT_SELECTION_TIMEOUT)). A
    /// [`SelectionOptions`](super::SelectionOptions) given per call replaces it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc::ClientOptions::default().selection_timeout(Duration::from_millis(250));
    /// assert!(format!("{options:?}").contains("selection_timeout: 250ms"));
    /// ```
    #[must_use]
    pub fn selection_timeout(mut self, timeout: Duration) -> Self {
        self.selection_timeout = timeout;
        self
    }

    /// Adds a unary interceptor of single calls; those added first are
    /// outermost, and all of them run before the call's own
    /// ([`RequestOptions::unary_interceptor`](super::RequestOptions::unary_interceptor)).
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
    /// assert!(format!("{options:?}").contains("unary_interceptors: 1"));
    /// ```
    #[must_use]
    pub fn unary_interceptor(mut self, interceptor: impl ClientUnaryInterceptor) -> Self {
        self.unary_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds an interceptor of multi calls; the first added sees events
    /// first. See [`ClientMultiInterceptor`] for one that runs.
    ///
    /// ```
    /// struct Quiet; // every method has a default
    /// impl psrpc::ClientMultiInterceptor for Quiet {}
    /// let options = psrpc::ClientOptions::default().multi_interceptor(Quiet);
    /// assert!(format!("{options:?}").contains("multi_interceptors: 1"));
    /// ```
    #[must_use]
    pub fn multi_interceptor(mut self, interceptor: impl ClientMultiInterceptor) -> Self {
        self.multi_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds a hook called as each single or multi request is made.
    ///
    /// Hooks only watch: a panicking hook is logged and the call goes on
    /// with its outcome (see [`observe`](crate::observe)).
    ///
    /// Decision: hooks see requests and responses, so only single and multi
    /// calls run them (as in Go psrpc); streams are observed through
    /// [`stream_interceptor`](Self::stream_interceptor)s, and subscriptions
    /// make no requests.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let options = psrpc::ClientOptions::default()
    ///     .request_hook(Arc::new(|info, request| println!("{}: {} bytes out", info.method, request.len())));
    /// assert!(format!("{options:?}").contains("request_hooks: 1"));
    /// ```
    #[must_use]
    pub fn request_hook(mut self, hook: RequestHook) -> Self {
        self.request_hooks.push(hook);
        self
    }

    /// Adds a hook called with each response of a single call and every
    /// response of a multi call (not for streams or subscriptions, see
    /// [`request_hook`](Self::request_hook)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let options = psrpc::ClientOptions::default().response_hook(Arc::new(|info, _request, outcome| {
    ///     if let Err(e) = outcome {
    ///         eprintln!("{} failed: {e}", info.method);
    ///     }
    /// }));
    /// assert!(format!("{options:?}").contains("response_hooks: 1"));
    /// ```
    #[must_use]
    pub fn response_hook(mut self, hook: ResponseHook) -> Self {
        self.response_hooks.push(hook);
        self
    }

    /// Sets the registry of live servers the client consults (see
    /// [`discovery`](crate::discovery)). With one, a single call fails
    /// `unavailable` as soon as the server handling it stops heartbeating,
    /// and sticky calls ([`RequestOptions::sticky`](super::RequestOptions::sticky))
    /// can be made.
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

    /// Turns registry-checked calls on or off: single calls, multi calls and
    /// stream opens are checked against the [`registry`](Self::registry)
    /// before anything is published, and a method or topic no live server
    /// serves fails at once (`unimplemented` or `unavailable`, naming
    /// service, method and topics) instead of after the selection timeout.
    ///
    /// Off by default; needs a registry. Servers that send no heartbeats (Go
    /// psrpc) are invisible to the registry, so keep this off when calling
    /// them.
    ///
    /// ```
    /// let options = psrpc::ClientOptions::default().check_registry(true);
    /// assert!(format!("{options:?}").contains("check_registry: true"));
    /// ```
    #[must_use]
    pub fn check_registry(mut self, check: bool) -> Self {
        self.check_registry = check;
        self
    }

    /// Sets how many servers a claimed call asks in the native wire mode:
    /// calls of unary AFFINITY methods, from a client with a
    /// [`registry`](Self::registry), go to `d` servers drawn at random among
    /// the live native servers of the method (default
    /// [`DEFAULT_CLAIM_CANDIDATES`](super::DEFAULT_CLAIM_CANDIDATES)), so
    /// their bus messages do not grow with the fleet. `0` asks every server,
    /// as the Go-compatible mode always does. See
    /// [`candidate_window`](Self::candidate_window) for when a call asks
    /// every server after all.
    ///
    /// ```
    /// let options = psrpc::ClientOptions::default().wire_mode(psrpc::WireMode::Native).claim_candidates(3);
    /// assert!(format!("{options:?}").contains("claim_candidates: 3"));
    /// ```
    #[must_use]
    pub fn claim_candidates(mut self, d: usize) -> Self {
        self.claim_candidates = d;
        self
    }

    /// Sets how long a call that asked [`claim_candidates`](Self::claim_candidates)
    /// waits for a qualifying claim from them before it asks every server
    /// (default [`DEFAULT_CANDIDATE_WINDOW`](super::DEFAULT_CANDIDATE_WINDOW),
    /// at most half the call's selection timeout and half its time):
    /// candidates may have died
    /// since the registry last heard of them.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc::ClientOptions::default().candidate_window(Duration::from_millis(100));
    /// assert!(format!("{options:?}").contains("candidate_window: 100ms"));
    /// ```
    #[must_use]
    pub fn candidate_window(mut self, window: Duration) -> Self {
        self.candidate_window = window;
        self
    }

    /// Turns local-first routing on or off: single calls to a method that a
    /// server in this process serves on the same bus handle run in process,
    /// without a broker round trip (off by default; see
    /// [`local_first`](crate::local_first) for what this means for selection
    /// and claims).
    ///
    /// ```
    /// let options = psrpc::ClientOptions::default().local_first(true);
    /// assert!(format!("{options:?}").contains("local_first: true"));
    /// ```
    #[must_use]
    pub fn local_first(mut self, local_first: bool) -> Self {
        self.local_first = local_first;
        self
    }
}
