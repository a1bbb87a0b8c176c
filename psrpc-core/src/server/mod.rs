//! The server: [`RpcServer`], the handle users hold, over the server
//! engine: handlers registered per method (and topic), each a loop over its
//! subscriptions; user code (affinity functions, interceptors, handlers)
//! runs on a task of its own per request or stream, never on the task that
//! delivered the frame.
//!
//! Decision: discovery and local-first routing sit above the engine. The
//! engine (`engine`, `unary`, `stream`, `claim`, `registry`, `local`) never
//! names them: it reports registrations and state changes through its
//! `ServerHook`, and offers each unary handler as a `LocalHandler`.
//! Creating a server ([`RpcServer::new`]) is where the layers meet: it
//! attaches discovery's presence as the hook, starts its responder, and
//! lists the server for local-first calls.

mod claim;
pub(crate) mod engine;
mod inflight;
pub(crate) mod local;
mod registry;
mod reply_channels;
mod stream;
mod typed;
mod unary;

use std::future::Future;
use std::sync::Arc;

pub use typed::{AffinityFn, StreamAffinityFn};

use crate::context::RequestContext;
use crate::discovery::responder::Presence;
use crate::error::Error;
use crate::info::{Describes, MethodInfo, MethodKind, RpcInfo, Topics};
use crate::options::ServerOptions;
use crate::outbound;
use crate::payload::Payload;
use crate::stream::ServerStream;
use crate::transport::bus::SharedBus;
use crate::transport::frame;
use engine::ServerInner;
use typed::{TypedStream, TypedUnary};

/// A server of one service on a bus. Cheap to clone; clones share state.
///
/// Dropping the last handle shuts the server down in the background as
/// [`shutdown`](RpcServer::shutdown) does: intake stops at once, in-flight
/// handlers and streams finish, then every subscription is dropped. Outside
/// a tokio runtime it stops at once, as [`kill`](RpcServer::kill) does.
///
/// ```
/// # use std::sync::Arc;
/// # use psrpc::{RpcServer, ServerOptions, SharedBus};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let server = RpcServer::new("Greeter", bus, ServerOptions::default());
/// let handle = server.clone(); // clones share one server
/// assert_eq!(handle.id(), server.id());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RpcServer {
    owner: Arc<Owner>,
}

/// The user's handles share one owner; the engine's tasks hold the inner
/// state only, so dropping the last handle is seen (no reference cycle).
#[derive(Debug)]
struct Owner {
    inner: Arc<ServerInner>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let inner = Arc::clone(&self.inner);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { inner.shutdown().await });
            }
            Err(_) => inner.stop_now(),
        }
    }
}

impl RpcServer {
    /// Creates a server of `service` on `bus`. Methods are served once registered.
    ///
    /// Sync and infallible, unlike [`RpcClient::new`](crate::client::RpcClient::new):
    /// a server subscribes nothing until a method is registered (the
    /// `register_*` calls are async and report subscription failures).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{RpcServer, ServerOptions, SharedBus};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Greeter", bus, ServerOptions::default().server_id("SRV_one"));
    /// assert_eq!(server.id(), "SRV_one");
    /// # Ok(()) }
    /// ```
    pub fn new(service: impl Into<Arc<str>>, bus: SharedBus, mut options: ServerOptions) -> Self {
        let presence = Arc::new(Presence::new(&mut options));
        let inner = ServerInner::new(service.into(), bus, options, Arc::clone(&presence) as _);
        crate::discovery::responder::spawn(&inner, &presence);
        crate::local_first::enlist(&inner);
        RpcServer { owner: Arc::new(Owner { inner }) }
    }

    /// The server id (`SRV_…`), sent in claims and responses.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{RpcServer, ServerOptions, SharedBus};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Greeter", bus, ServerOptions::default());
    /// assert!(server.id().starts_with("SRV_"));
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> &str {
        &self.inner().id
    }

    /// The service name.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{RpcServer, ServerOptions, SharedBus};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Greeter", bus, ServerOptions::default());
    /// assert_eq!(server.service(), "Greeter");
    /// # Ok(()) }
    /// ```
    pub fn service(&self) -> &str {
        &self.inner().service
    }

    /// Stops serving `method` on `topics`, letting in-flight calls finish
    /// for up to [`drain_timeout`](ServerOptions#structfield.drain_timeout),
    /// as [`shutdown`](Self::shutdown) does.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Method, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Hello { #[prost(string, tag = "1")] name: String }
    /// static GREET: Method<Hello, Hello> = Method::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Greeter", bus.clone(), ServerOptions::default());
    /// server.register_unary(&GREET, (), |_: RequestContext, req: Hello| async move { Ok(req) }, None).await?;
    /// server.deregister("Greet", &[]).await;
    ///
    /// let patience = ClientOptions::default().selection_timeout(std::time::Duration::from_millis(100));
    /// let client = RpcClient::new("Greeter", bus, patience).await?;
    /// let err = client.request_single(&GREET, (), &Hello::default(), RequestOptions::default()).await.unwrap_err();
    /// assert_eq!(err.code(), psrpc::ErrorCode::Unavailable, "nobody serves it any more");
    /// # Ok(()) }
    /// ```
    pub async fn deregister(&self, method: &str, topics: &[String]) {
        self.inner().deregister(method, topics).await;
    }

    /// Publishes `message` to the subscribers of a subscription method.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Delivery, Method, MethodKind, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Tick { #[prost(uint32, tag = "1")] n: u32 }
    /// # impl prost::Name for Tick { const NAME: &'static str = "Tick"; const PACKAGE: &'static str = "demo"; }
    /// static TICKS: Method<Tick, Tick> = Method::new("Ticks", MethodKind::Subscription { delivery: Delivery::Every, topics: true });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Clock", bus.clone(), ClientOptions::default()).await?;
    /// let server = RpcServer::new("Clock", bus, ServerOptions::default());
    /// let mut room_a = client.subscribe(&TICKS, "a").await?;
    /// server.publish(&TICKS, "a", &Tick { n: 1 }).await?;
    /// assert_eq!(room_a.recv().await, Some(Tick { n: 1 }));
    /// # Ok(()) }
    /// ```
    pub async fn publish<M: prost::Message + prost::Name>(
        &self,
        method: &impl Describes<M, M>,
        topics: impl Into<Topics>,
        message: &M,
    ) -> Result<(), Error> {
        let (method, topics) = (method.method_info(), topics.into().into_vec());
        self.publish_with(method, topics, |local| frame::encode_frame(&frame::type_url_of::<M>(), message, local)).await
    }

    /// Publishes an already encoded message of type `type_url`
    /// (`type.googleapis.com/pkg.Name`) to the subscribers of a subscription
    /// method: for bridges that forward payloads without knowing their types.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Delivery, Method, MethodKind, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Tick { #[prost(uint32, tag = "1")] n: u32 }
    /// # impl prost::Name for Tick { const NAME: &'static str = "Tick"; const PACKAGE: &'static str = "demo"; }
    /// static TICKS: Method<Tick, Tick> = Method::new("Ticks", MethodKind::Subscription { delivery: Delivery::Every, topics: true });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Clock", bus.clone(), ClientOptions::default()).await?;
    /// let server = RpcServer::new("Clock", bus, ServerOptions::default());
    /// use prost::Message as _;
    /// let mut room_a = client.subscribe(&TICKS, "a").await?;
    /// let payload = Tick { n: 5 }.encode_to_vec(); // bytes from elsewhere
    /// server.publish_raw(&TICKS, "a", "type.googleapis.com/demo.Tick", &payload).await?;
    /// assert_eq!(room_a.recv().await, Some(Tick { n: 5 }));
    /// # Ok(()) }
    /// ```
    pub async fn publish_raw(
        &self,
        method: &MethodInfo,
        topics: impl Into<Topics>,
        type_url: &str,
        payload: &[u8],
    ) -> Result<(), Error> {
        let topics = topics.into().into_vec();
        self.publish_with(method, topics, |local| frame::encode_raw_frame(type_url, payload, local)).await
    }

    /// Publishes the frame `encode` builds for the routing key it is given.
    async fn publish_with(
        &self,
        method: &MethodInfo,
        topics: Vec<String>,
        encode: impl FnOnce(&str) -> bytes::Bytes,
    ) -> Result<(), Error> {
        Serve::Publish.admit(method)?;
        let info = RpcInfo::new(Arc::clone(&self.inner().service), method, topics);
        let channel = self.inner().options.wire_mode.request_channel(&info, method);
        let bus = &*self.inner().bus;
        let frame = encode(outbound::local_name(bus, &channel));
        outbound::publish_frame(bus, "subscription message", &channel, frame).await
    }

    /// Stops taking new requests and streams, waits for in-flight handlers
    /// and streams to finish, then unsubscribes everything.
    ///
    /// The wait is bounded by
    /// [`drain_timeout`](ServerOptions#structfield.drain_timeout) (default
    /// [`DEFAULT_DRAIN_TIMEOUT`](crate::options::DEFAULT_DRAIN_TIMEOUT),
    /// 20 s): what is still running then (a handler that never ends, a
    /// stream whose peer went quiet) is cancelled as [`kill`](Self::kill)
    /// cancels it, except that `shutdown` also waits until each stream has
    /// told its peer it closed (`unavailable`, "EOF"; each close bounded by
    /// the stream send timeout). [`in_flight`](Self::in_flight) is 0 once it
    /// returns.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Method, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Hello { #[prost(string, tag = "1")] name: String }
    /// static GREET: Method<Hello, Hello> = Method::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Greeter", bus.clone(), ServerOptions::default());
    /// server.register_unary(&GREET, (), |_: RequestContext, req: Hello| async move { Ok(req) }, None).await?;
    /// let patience = ClientOptions::default().selection_timeout(std::time::Duration::from_millis(100));
    /// let client = RpcClient::new("Greeter", bus, patience).await?;
    /// client.request_single(&GREET, (), &Hello::default(), RequestOptions::default()).await?;
    ///
    /// server.shutdown().await;
    /// let err = client.request_single(&GREET, (), &Hello::default(), RequestOptions::default()).await.unwrap_err();
    /// assert_eq!(err.code(), psrpc::ErrorCode::Unavailable, "no longer served");
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self) {
        self.inner().shutdown().await;
    }

    /// Stops at once: in-flight handlers are dropped, streams are closed with
    /// `unavailable` (EOF), everything is unsubscribed.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Method, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Hello { #[prost(string, tag = "1")] name: String }
    /// static GREET: Method<Hello, Hello> = Method::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Greeter", bus.clone(), ServerOptions::default());
    /// let never = |_: RequestContext, _: Hello| std::future::pending::<Result<Hello, psrpc::Error>>();
    /// server.register_unary(&GREET, (), never, None).await?;
    /// let client = RpcClient::new("Greeter", bus, ClientOptions::default()).await?;
    /// let options = RequestOptions::default().timeout(std::time::Duration::from_millis(500));
    /// let call = tokio::spawn(async move {
    ///     client.request_single(&GREET, (), &Hello::default(), options).await
    /// });
    /// while server.in_flight() == 0 {
    ///     tokio::task::yield_now().await;
    /// }
    /// server.kill().await; // the handler is dropped mid-call
    /// assert_eq!(server.in_flight(), 0);
    /// assert!(call.await.unwrap().is_err());
    /// # Ok(()) }
    /// ```
    pub async fn kill(&self) {
        self.inner().kill().await;
    }

    /// Number of requests and streams being handled, those of a drain in
    /// progress included.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{RpcServer, ServerOptions, SharedBus};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Greeter", bus, ServerOptions::default());
    /// assert_eq!(server.in_flight(), 0);
    /// # Ok(()) }
    /// ```
    pub fn in_flight(&self) -> usize {
        self.inner().registry.in_flight()
    }

    pub(crate) fn inner(&self) -> &Arc<ServerInner> {
        &self.owner.inner
    }
}

/// Registration of typed handlers.
impl RpcServer {
    /// Serves a unary method (single, affinity, multi or single-server topic)
    /// on `topics` with `handler`.
    ///
    /// The handler runs on a task of its own per request, inside the
    /// request's deadline ([`deadline`](crate::deadline)); `affinity`
    /// scores each request before the claim (a method without the claim
    /// exchange takes none: registering one fails with `invalid_argument`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{AffinityFn, ClientOptions, Method, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Job { #[prost(uint32, tag = "1")] size: u32 }
    /// static RUN: Method<Job, Job> = Method::new("Run", MethodKind::Unary(Selection::Affinity { topics: true }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Jobs", bus.clone(), ServerOptions::default());
    /// let run = |ctx: RequestContext, job: Job| async move {
    ///     assert_eq!(ctx.rpc_info().topics, ["gpu"]);
    ///     Ok(Job { size: job.size * 2 })
    /// };
    /// let affinity: AffinityFn<Job> = Arc::new(|_, job| if job.size > 100 { -1.0 } else { 1.0 });
    /// server.register_unary(&RUN, "gpu", run, Some(affinity)).await?;
    ///
    /// let client = RpcClient::new("Jobs", bus, ClientOptions::default()).await?;
    /// let reply = client.request_single(&RUN, "gpu", &Job { size: 21 }, RequestOptions::default()).await?;
    /// assert_eq!(reply.message.size, 42);
    /// # Ok(()) }
    /// ```
    pub async fn register_unary<Req, Resp, H, F>(
        &self,
        method: &impl Describes<Req, Resp>,
        topics: impl Into<Topics>,
        handler: H,
        affinity: Option<AffinityFn<Req>>,
    ) -> Result<(), Error>
    where
        Req: Payload,
        Resp: Payload,
        H: Fn(RequestContext, Req) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Resp, Error>> + Send + 'static,
    {
        let (method, topics) = (method.method_info(), topics.into().into_vec());
        Serve::Unary.admit(method)?;
        if affinity.is_some() && !self.inner().options.wire_mode.require_claim(method) {
            let message = format!(
                "an affinity function scores claims, and `{}` has no claim exchange (a single-server method, or a \
                 queue method in the native wire mode)",
                method.name
            );
            return Err(Error::new(crate::error::ErrorCode::InvalidArgument, message));
        }
        let typed = TypedUnary::new(handler, affinity);
        unary::register(self.inner(), method, topics, Arc::new(typed)).await
    }

    /// Serves a stream method on `topics` with `handler`, which runs once per
    /// accepted stream; its result closes the stream.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Method, MethodKind, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, ServerStream, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Num { #[prost(int64, tag = "1")] n: i64 }
    /// static SUM: Method<Num, Num> = Method::new("Sum", MethodKind::Stream(Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Math", bus.clone(), ServerOptions::default());
    /// // Answers each number with the running total.
    /// let sum = |mut stream: ServerStream<Num, Num>| async move {
    ///     let mut total = 0;
    ///     while let Some(Num { n }) = stream.recv().await? {
    ///         total += n;
    ///         stream.send(&Num { n: total }).await?;
    ///     }
    ///     Ok(())
    /// };
    /// server.register_stream(&SUM, (), sum, None).await?;
    ///
    /// let client = RpcClient::new("Math", bus, ClientOptions::default()).await?;
    /// let mut stream = client.open_stream(&SUM, (), RequestOptions::default()).await?;
    /// for n in [1, 2, 3] {
    ///     stream.send(&Num { n }).await?;
    /// }
    /// let totals = [stream.recv().await?, stream.recv().await?, stream.recv().await?];
    /// assert_eq!(totals.map(|t| t.unwrap().n), [1, 3, 6]);
    /// # Ok(()) }
    /// ```
    pub async fn register_stream<In, Out, H, F>(
        &self,
        method: &impl Describes<In, Out>,
        topics: impl Into<Topics>,
        handler: H,
        affinity: Option<StreamAffinityFn>,
    ) -> Result<(), Error>
    where
        In: Payload,
        Out: Payload,
        H: Fn(ServerStream<Out, In>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<(), Error>> + Send + 'static,
    {
        let (method, topics) = (method.method_info(), topics.into().into_vec());
        Serve::Stream.admit(method)?;
        let typed = TypedStream::new(handler, affinity);
        stream::register(self.inner(), method, topics, Arc::new(typed)).await
    }
}

/// The server calls, each for methods of its kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Serve {
    /// [`RpcServer::register_unary`]: unary and multi methods.
    Unary,
    /// [`RpcServer::register_stream`]: stream methods.
    Stream,
    /// [`RpcServer::publish`] and [`RpcServer::publish_raw`]: subscription methods.
    Publish,
}

impl Serve {
    fn name(self) -> &'static str {
        match self {
            Serve::Unary => "register_unary",
            Serve::Stream => "register_stream",
            Serve::Publish => "publish",
        }
    }

    /// The server call for methods of `kind`.
    fn for_kind(kind: MethodKind) -> Serve {
        match kind {
            MethodKind::Unary(_) | MethodKind::Multi { .. } => Serve::Unary,
            MethodKind::Stream(_) => Serve::Stream,
            MethodKind::Subscription { .. } => Serve::Publish,
        }
    }

    /// Fails with `invalid_argument`, before anything is subscribed or
    /// published, when `method` is not of a kind this call serves.
    pub(crate) fn admit(self, method: &MethodInfo) -> Result<(), Error> {
        let right = Serve::for_kind(method.kind);
        if right == self {
            return Ok(());
        }
        let message = format!("`{}` cannot take `{}`: use `{}`", self.name(), method.name, right.name());
        Err(Error::new(crate::error::ErrorCode::InvalidArgument, message))
    }
}
