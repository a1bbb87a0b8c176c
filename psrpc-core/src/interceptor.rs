//! Interceptors and hooks.
//!
//! Interceptors see calls in their wire form — the encoded payload as
//! [`Bytes`] plus options and metadata — so they are object-safe and work for
//! every message type. They chain in registration order: client-wide
//! interceptors first (outermost), then per-request ones.
//!
//! Every interceptor and hook runs behind the engines' panic boundary. A
//! panic in an interceptor fails only the call (or stream) it was handling,
//! with `internal` ("… interceptor panicked"); in a multi interceptor's
//! `on_response`, only that response. Hooks and the interceptors' `on_close`
//! only watch: a panic there is logged and the call keeps its outcome.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::context::RequestContext;
use crate::error::Error;
use crate::info::RpcInfo;
use crate::metadata::Metadata;

/// A single or multi call on its way out: the encoded request, the metadata
/// sent with it and the time it may take. Interceptors may change all
/// three (add trace context to the metadata, shorten the timeout of one
/// attempt); the other request options are fixed for the call.
///
/// ```
/// use std::time::Duration;
/// let mut call = psrpc::UnaryCall::new(bytes::Bytes::from_static(b"\x0a\x02hi"), Duration::from_secs(3));
/// call.metadata.insert("traceparent".into(), "00-…".into());
/// assert_eq!(call.timeout, Duration::from_secs(3));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UnaryCall {
    /// The encoded request.
    pub payload: Bytes,
    /// Metadata sent with the request.
    pub metadata: Metadata,
    /// How long the call may take from here: the request's timeout, already
    /// kept within the caller's deadline.
    pub timeout: Duration,
}

impl UnaryCall {
    /// A call of `payload` with no metadata that may take `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let call = psrpc::UnaryCall::new(bytes::Bytes::new(), Duration::from_secs(1));
    /// assert!(call.metadata.is_empty());
    /// ```
    pub fn new(payload: Bytes, timeout: Duration) -> Self {
        UnaryCall { payload, metadata: Metadata::new(), timeout }
    }
}

/// A unary answer: the response and the server that sent it. Interceptors
/// see it with the encoded response (`Reply<Bytes>`);
/// [`RpcClient::request_single`](crate::client::RpcClient::request_single)
/// returns it decoded.
///
/// ```
/// let reply = psrpc::Reply { message: 42u32, server_id: "SRV_a".to_string() };
/// assert_eq!((reply.message, reply.server_id.as_str()), (42, "SRV_a"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Reply<T> {
    /// The response message.
    pub message: T,
    /// The id of the server that handled the request.
    pub server_id: String,
}

/// Wraps outgoing unary calls (single and affinity RPCs).
///
/// Installed for every single call of a client
/// ([`ClientOptions::unary_interceptor`](crate::options::ClientOptions::unary_interceptor))
/// or for one call
/// ([`RequestOptions::unary_interceptor`](crate::options::RequestOptions::unary_interceptor)).
/// It runs on the calling task.
///
/// ```
/// use bytes::Bytes;
/// use futures_util::future::BoxFuture;
/// use psrpc::{ClientUnaryInterceptor, ClientUnaryNext, Error, Reply, RpcInfo, UnaryCall};
/// # use std::sync::Arc;
/// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Msg { #[prost(string, tag = "1")] text: String }
/// static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
///
/// /// Sends the caller's tenant with every request.
/// struct Tenant(&'static str);
///
/// impl ClientUnaryInterceptor for Tenant {
///     fn intercept<'a>(&'a self, _: &'a RpcInfo, mut call: UnaryCall, next: ClientUnaryNext<'a>) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> {
///         call.metadata.insert("tenant".into(), self.0.into());
///         next.run(call)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let server = RpcServer::new("Echo", bus.clone(), ServerOptions::default());
/// let handler = |ctx: RequestContext, _: Msg| async move { Ok(Msg { text: ctx.metadata()["tenant"].clone() }) };
/// server.register_unary(&ECHO, vec![], handler, None).await?;
///
/// let client = RpcClient::new("Echo", bus, ClientOptions::default().unary_interceptor(Tenant("acme"))).await?;
/// let reply = client.request_single::<Msg, Msg>(&ECHO, vec![], &Msg::default(), RequestOptions::default()).await?;
/// assert_eq!(reply.message.text, "acme");
/// # Ok(()) }
/// ```
pub trait ClientUnaryInterceptor: Send + Sync + 'static {
    /// Handles `call`, usually by passing it on with `next.run(call)`.
    fn intercept<'a>(
        &'a self,
        info: &'a RpcInfo,
        call: UnaryCall,
        next: ClientUnaryNext<'a>,
    ) -> BoxFuture<'a, Result<Reply<Bytes>, Error>>;
}

/// The rest of a client unary chain, given to
/// [`ClientUnaryInterceptor::intercept`]. It is `Copy`: an interceptor may
/// run the rest of the chain more than once (retries).
///
/// ```
/// use bytes::Bytes;
/// use futures_util::future::BoxFuture;
/// use psrpc::{ClientUnaryInterceptor, ClientUnaryNext, Error, Reply, RpcInfo, UnaryCall};
///
/// /// Logs how long each call took.
/// struct Timing;
///
/// impl ClientUnaryInterceptor for Timing {
///     fn intercept<'a>(&'a self, info: &'a RpcInfo, call: UnaryCall, next: ClientUnaryNext<'a>) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> {
///         Box::pin(async move {
///             let started = std::time::Instant::now();
///             let reply = next.run(call).await;
///             println!("{} took {:?}", info.method, started.elapsed());
///             reply
///         })
///     }
/// }
/// ```
#[derive(Clone, Copy)]
pub struct ClientUnaryNext<'a> {
    pub(crate) info: &'a RpcInfo,
    pub(crate) chain: &'a [Arc<dyn ClientUnaryInterceptor>],
    pub(crate) terminal: &'a (dyn Fn(UnaryCall) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> + Send + Sync),
}

impl std::fmt::Debug for ClientUnaryNext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientUnaryNext").field("remaining", &self.chain.len()).finish()
    }
}

impl<'a> ClientUnaryNext<'a> {
    /// Runs the remaining interceptors and then the call itself.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use futures_util::future::BoxFuture;
    /// # use psrpc::{ClientUnaryInterceptor, ClientUnaryNext, Error, ErrorCode, Reply, RpcInfo, UnaryCall};
    /// /// Refuses oversized requests before they leave the process.
    /// struct Limit(usize);
    ///
    /// impl ClientUnaryInterceptor for Limit {
    ///     fn intercept<'a>(&'a self, _: &'a RpcInfo, call: UnaryCall, next: ClientUnaryNext<'a>) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> {
    ///         if call.payload.len() > self.0 {
    ///             return Box::pin(async { Err(Error::new(ErrorCode::ResourceExhausted, "request too large")) });
    ///         }
    ///         next.run(call)
    ///     }
    /// }
    /// ```
    pub fn run(self, call: UnaryCall) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> {
        match self.chain.split_first() {
            Some((first, rest)) => first.intercept(self.info, call, ClientUnaryNext { chain: rest, ..self }),
            None => (self.terminal)(call),
        }
    }
}

/// Wraps incoming unary requests on the server, around the handler.
///
/// Installed with
/// [`ServerOptions::unary_interceptor`](crate::options::ServerOptions::unary_interceptor).
/// Interceptors run with the handler on the request's own task, inside its
/// deadline and behind the panic boundary (a panic becomes an `internal`
/// error for that call).
///
/// ```
/// use bytes::Bytes;
/// use futures_util::future::BoxFuture;
/// use psrpc::{Error, ErrorCode, ServerUnaryInterceptor, ServerUnaryNext};
/// # use std::sync::Arc;
/// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Msg { #[prost(string, tag = "1")] text: String }
/// static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
///
/// /// Refuses requests without a token.
/// struct Auth;
///
/// impl ServerUnaryInterceptor for Auth {
///     fn intercept<'a>(&'a self, ctx: &'a RequestContext, request: Bytes, next: ServerUnaryNext<'a>) -> BoxFuture<'a, Result<Bytes, Error>> {
///         if !ctx.metadata().contains_key("token") {
///             return Box::pin(async { Err(Error::new(ErrorCode::Unauthenticated, "token required")) });
///         }
///         next.run(request)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let server = RpcServer::new("Echo", bus.clone(), ServerOptions::default().unary_interceptor(Auth));
/// server.register_unary(&ECHO, vec![], |_: RequestContext, m: Msg| async move { Ok(m) }, None).await?;
///
/// let client = RpcClient::new("Echo", bus, ClientOptions::default()).await?;
/// let anonymous = client.request_single::<Msg, Msg>(&ECHO, vec![], &Msg::default(), RequestOptions::default()).await;
/// assert_eq!(anonymous.unwrap_err().code(), ErrorCode::Unauthenticated);
/// let signed = RequestOptions::default().metadata("token", "t0k3n");
/// assert!(client.request_single::<Msg, Msg>(&ECHO, vec![], &Msg::default(), signed).await.is_ok());
/// # Ok(()) }
/// ```
pub trait ServerUnaryInterceptor: Send + Sync + 'static {
    /// Handles the encoded `request`, usually with `next.run(request)`.
    fn intercept<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: Bytes,
        next: ServerUnaryNext<'a>,
    ) -> BoxFuture<'a, Result<Bytes, Error>>;
}

/// The rest of a server unary chain, given to
/// [`ServerUnaryInterceptor::intercept`].
///
/// ```
/// use bytes::Bytes;
/// use futures_util::future::BoxFuture;
/// use psrpc::{Error, RequestContext, ServerUnaryInterceptor, ServerUnaryNext};
///
/// /// Logs every failed request.
/// struct LogErrors;
///
/// impl ServerUnaryInterceptor for LogErrors {
///     fn intercept<'a>(&'a self, ctx: &'a RequestContext, request: Bytes, next: ServerUnaryNext<'a>) -> BoxFuture<'a, Result<Bytes, Error>> {
///         Box::pin(async move {
///             let outcome = next.run(request).await;
///             if let Err(e) = &outcome {
///                 eprintln!("{} from {} failed: {e}", ctx.rpc_info().method, ctx.caller_id());
///             }
///             outcome
///         })
///     }
/// }
/// ```
pub struct ServerUnaryNext<'a> {
    pub(crate) ctx: &'a RequestContext,
    pub(crate) chain: &'a [Arc<dyn ServerUnaryInterceptor>],
    pub(crate) terminal: &'a (dyn Fn(Bytes) -> BoxFuture<'a, Result<Bytes, Error>> + Send + Sync),
}

impl std::fmt::Debug for ServerUnaryNext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerUnaryNext").field("remaining", &self.chain.len()).finish()
    }
}

impl<'a> ServerUnaryNext<'a> {
    /// Runs the remaining interceptors and then the handler.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use futures_util::future::BoxFuture;
    /// # use psrpc::{Error, RequestContext, ServerUnaryInterceptor, ServerUnaryNext};
    /// struct PassThrough;
    ///
    /// impl ServerUnaryInterceptor for PassThrough {
    ///     fn intercept<'a>(&'a self, _: &'a RequestContext, request: Bytes, next: ServerUnaryNext<'a>) -> BoxFuture<'a, Result<Bytes, Error>> {
    ///         next.run(request)
    ///     }
    /// }
    /// ```
    pub fn run(self, request: Bytes) -> BoxFuture<'a, Result<Bytes, Error>> {
        match self.chain.split_first() {
            Some((first, rest)) => first.intercept(self.ctx, request, ServerUnaryNext { chain: rest, ..self }),
            None => (self.terminal)(request),
        }
    }
}

/// Observes and may veto the events of a multi-RPC.
///
/// Installed with
/// [`ClientOptions::multi_interceptor`](crate::options::ClientOptions::multi_interceptor);
/// every method has an empty default.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use psrpc::{ClientMultiInterceptor, Error, ErrorCode, RpcInfo, UnaryCall};
/// # use std::sync::Arc;
/// # use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, ServerOptions, SharedBus};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Msg { #[prost(string, tag = "1")] text: String }
/// static STATUS: MethodInfo = MethodInfo::new("Status", MethodKind::Multi { topics: false });
///
/// /// Hides the answers of servers in maintenance (ids ending `_maint`).
/// #[derive(Default)]
/// struct SkipMaintenance(AtomicUsize);
///
/// impl ClientMultiInterceptor for SkipMaintenance {
///     fn on_response(&self, _: &RpcInfo, server_id: &str, response: &mut Result<bytes::Bytes, Error>) {
///         if server_id.ends_with("_maint") {
///             self.0.fetch_add(1, Ordering::Relaxed);
///             *response = Err(Error::new(ErrorCode::Unavailable, "in maintenance"));
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// # let mut servers = Vec::new();
/// for id in ["SRV_a", "SRV_b_maint"] {
///     let server = RpcServer::new("Fleet", bus.clone(), ServerOptions::default().server_id(id));
///     server.register_unary(&STATUS, vec![], |_: RequestContext, m: Msg| async move { Ok(m) }, None).await?;
/// #   servers.push(server);
/// }
/// let skip = Arc::new(SkipMaintenance::default());
/// # struct Shared(Arc<SkipMaintenance>);
/// # impl ClientMultiInterceptor for Shared {
/// #     fn on_response(&self, i: &RpcInfo, s: &str, r: &mut Result<bytes::Bytes, Error>) { self.0.on_response(i, s, r) }
/// # }
/// let client = RpcClient::new("Fleet", bus, ClientOptions::default().multi_interceptor(Shared(skip.clone()))).await?;
/// let options = RequestOptions::default().expected_responses(2);
/// let responses = client.request_multi::<Msg, Msg>(&STATUS, vec![], &Msg::default(), options).await?.collect_all().await;
/// assert_eq!(responses.iter().filter(|r| r.result.is_ok()).count(), 1);
/// assert_eq!(skip.0.load(Ordering::Relaxed), 1);
/// # Ok(()) }
/// ```
pub trait ClientMultiInterceptor: Send + Sync + 'static {
    /// Before the request is published; an error aborts the call.
    fn on_send(&self, info: &RpcInfo, call: &mut UnaryCall) -> Result<(), Error> {
        let _ = (info, call);
        Ok(())
    }

    /// For each response, before the caller sees it (may rewrite it).
    fn on_response(&self, info: &RpcInfo, server_id: &str, response: &mut Result<Bytes, Error>) {
        let _ = (info, server_id, response);
    }

    /// When the multi-RPC ends.
    fn on_close(&self, info: &RpcInfo) {
        let _ = info;
    }
}

/// Observes and may veto the messages of a stream (both ends).
///
/// Installed with
/// [`ClientOptions::stream_interceptor`](crate::options::ClientOptions::stream_interceptor)
/// or [`ServerOptions::stream_interceptor`](crate::options::ServerOptions::stream_interceptor);
/// every method has an empty default.
///
/// ```
/// use psrpc::{Error, ErrorCode, RpcInfo, StreamInterceptor};
/// # use std::sync::Arc;
/// # use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, ServerStream, SharedBus};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Line { #[prost(string, tag = "1")] text: String }
/// static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));
///
/// /// Refuses to send messages over 1 KiB.
/// struct MaxSize;
///
/// impl StreamInterceptor for MaxSize {
///     fn on_send(&self, _: &RpcInfo, message: &bytes::Bytes) -> Result<(), Error> {
///         if message.len() > 1024 { Err(Error::new(ErrorCode::ResourceExhausted, "message too large")) } else { Ok(()) }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let server = RpcServer::new("Chat", bus.clone(), ServerOptions::default());
/// let drain = |mut stream: ServerStream<Line, Line>| async move { while stream.recv().await?.is_some() {} Ok(()) };
/// server.register_stream(&CHAT, vec![], drain, None).await?;
///
/// let client = RpcClient::new("Chat", bus, ClientOptions::default().stream_interceptor(MaxSize)).await?;
/// let stream = client.open_stream::<Line, Line>(&CHAT, vec![], RequestOptions::default()).await?;
/// stream.send(&Line { text: "hi".into() }).await?;
/// let err = stream.send(&Line { text: "x".repeat(2000) }).await.unwrap_err();
/// assert_eq!(err.code(), ErrorCode::ResourceExhausted);
/// # Ok(()) }
/// ```
pub trait StreamInterceptor: Send + Sync + 'static {
    /// Client end: before the stream's open is sent, with the metadata it
    /// carries (e.g. to add trace context); an error fails the open.
    fn on_open(&self, info: &RpcInfo, metadata: &mut Metadata) -> Result<(), Error> {
        let _ = (info, metadata);
        Ok(())
    }

    /// Before a message is sent; an error fails the send.
    fn on_send(&self, info: &RpcInfo, message: &Bytes) -> Result<(), Error> {
        let _ = (info, message);
        Ok(())
    }

    /// When a message arrives, before the receiver sees it; an error closes the stream.
    fn on_recv(&self, info: &RpcInfo, message: &Bytes) -> Result<(), Error> {
        let _ = (info, message);
        Ok(())
    }

    /// When the stream closes, with its cause.
    fn on_close(&self, info: &RpcInfo, cause: &Error) {
        let _ = (info, cause);
    }
}

/// Called as each request is made, with the encoded request (single and
/// multi calls; see [`ClientOptions::request_hook`](crate::options::ClientOptions::request_hook)).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let bytes_out = Arc::new(AtomicUsize::new(0));
/// let counter = bytes_out.clone();
/// let hook: psrpc::RequestHook = Arc::new(move |_info, request| {
///     counter.fetch_add(request.len(), Ordering::Relaxed);
/// });
/// # let info = psrpc::RpcInfo::new("S".into(), &psrpc::MethodInfo::new("M", psrpc::MethodKind::Multi { topics: false }), vec![]);
/// # hook(&info, &bytes::Bytes::from_static(b"abc"));
/// # assert_eq!(bytes_out.load(Ordering::Relaxed), 3);
/// let options = psrpc::ClientOptions::default().request_hook(hook);
/// # let _ = options;
/// ```
pub type RequestHook = Arc<dyn Fn(&RpcInfo, &Bytes) + Send + Sync>;

/// Called with each response: the encoded request and the outcome (single
/// and multi calls; see [`ClientOptions::response_hook`](crate::options::ClientOptions::response_hook)).
///
/// ```
/// use std::sync::Arc;
/// let hook: psrpc::ResponseHook = Arc::new(|info, _request, outcome| match outcome {
///     Ok(response) => println!("{}: {} bytes back", info.method, response.len()),
///     Err(e) => eprintln!("{}: {e}", info.method),
/// });
/// let options = psrpc::ClientOptions::default().response_hook(hook);
/// # let _ = options;
/// ```
pub type ResponseHook = Arc<dyn Fn(&RpcInfo, &Bytes, Result<&Bytes, &Error>) + Send + Sync>;
