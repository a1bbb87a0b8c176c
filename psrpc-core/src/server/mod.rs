//! The server engine: handlers registered per method (and topic), each a
//! loop over its subscriptions; user code (affinity functions, interceptors,
//! handlers) runs on a task of its own per request or stream, never on the
//! task that delivered the frame.

mod claim;
mod inflight;
mod registry;
mod reply_channels;
mod stream;
mod typed;
mod unary;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

pub use typed::{AffinityFn, StreamAffinityFn};

use crate::discovery::wire::State;
use crate::error::Error;
use crate::info::{MethodInfo, MethodKind, RpcInfo};
use crate::options::ServerOptions;
use crate::outbound;
use crate::transport::bus::SharedBus;
use crate::transport::channel::Channel;
use crate::transport::frame::{self, Envelope};
use crate::transport::id;
use inflight::Work;
use registry::Registry;

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

#[derive(Debug)]
pub(crate) struct ServerInner {
    pub(crate) service: Arc<str>,
    pub(crate) id: Arc<str>,
    pub(crate) bus: SharedBus,
    pub(crate) options: ServerOptions,
    pub(crate) registry: Registry,
    /// Flips to `true` on [`RpcServer::kill`]: nothing more is registered
    /// (the handlers' work is cancelled through their in-flight counts).
    pub(crate) killed: watch::Sender<bool>,
    /// Response and claim channels by client id.
    pub(crate) reply_channels: reply_channels::ReplyChannelCache,
    /// What discovery reports about this server.
    pub(crate) presence: crate::discovery::responder::Presence,
}

impl RpcServer {
    /// Creates a server of `service` on `bus`. Methods are served once registered.
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
    pub fn new(service: impl Into<Arc<str>>, bus: SharedBus, options: ServerOptions) -> Self {
        let mut options = options.normalized();
        let presence = crate::discovery::responder::Presence::new(&mut options);
        let id = options.server_id.clone().unwrap_or_else(id::new_server_id);
        let (killed, _) = watch::channel(false);
        let inner = Arc::new(ServerInner {
            service: service.into(),
            id: id.into(),
            bus,
            options,
            registry: Registry::default(),
            reply_channels: Default::default(),
            killed,
            presence,
        });
        crate::discovery::responder::spawn(&inner);
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
    /// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Hello { #[prost(string, tag = "1")] name: String }
    /// static GREET: MethodInfo = MethodInfo::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Greeter", bus.clone(), ServerOptions::default());
    /// server.register_unary(&GREET, vec![], |_: RequestContext, req: Hello| async move { Ok(req) }, None).await?;
    /// server.deregister("Greet", &[]).await;
    ///
    /// let patience = ClientOptions::default().selection_timeout(std::time::Duration::from_millis(100));
    /// let client = RpcClient::new("Greeter", bus, patience).await?;
    /// let err = client.request_single::<Hello, Hello>(&GREET, vec![], &Hello::default(), RequestOptions::default()).await.unwrap_err();
    /// assert_eq!(err.code(), psrpc::ErrorCode::Unavailable, "nobody serves it any more");
    /// # Ok(()) }
    /// ```
    pub async fn deregister(&self, method: &str, topics: &[String]) {
        let key = registry::key(method, topics);
        self.inner().presence.forget(&key);
        let inner = self.inner();
        if let Some(handler) = inner.registry.remove(&key) {
            handler.drain(inner.options.drain_timeout).await;
            inner.registry.left(&handler);
        }
    }

    /// Publishes `message` to the subscribers of a subscription method.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Delivery, MethodInfo, MethodKind, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Tick { #[prost(uint32, tag = "1")] n: u32 }
    /// # impl prost::Name for Tick { const NAME: &'static str = "Tick"; const PACKAGE: &'static str = "demo"; }
    /// static TICKS: MethodInfo = MethodInfo::new("Ticks", MethodKind::Subscription { delivery: Delivery::Every, topics: true });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Clock", bus.clone(), ClientOptions::default()).await?;
    /// let server = RpcServer::new("Clock", bus, ServerOptions::default());
    /// let mut room_a = client.subscribe::<Tick>(&TICKS, vec!["a".into()]).await?;
    /// server.publish(&TICKS, vec!["a".into()], &Tick { n: 1 }).await?;
    /// assert_eq!(room_a.recv().await, Some(Tick { n: 1 }));
    /// # Ok(()) }
    /// ```
    pub async fn publish<M: prost::Message + prost::Name>(
        &self,
        method: &MethodInfo,
        topics: Vec<String>,
        message: &M,
    ) -> Result<(), Error> {
        self.publish_with(method, topics, |local| frame::encode_frame(&frame::type_url_of::<M>(), message, local)).await
    }

    /// Publishes an already encoded message of type `type_url`
    /// (`type.googleapis.com/pkg.Name`) to the subscribers of a subscription
    /// method: for bridges that forward payloads without knowing their types.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Delivery, MethodInfo, MethodKind, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Tick { #[prost(uint32, tag = "1")] n: u32 }
    /// # impl prost::Name for Tick { const NAME: &'static str = "Tick"; const PACKAGE: &'static str = "demo"; }
    /// static TICKS: MethodInfo = MethodInfo::new("Ticks", MethodKind::Subscription { delivery: Delivery::Every, topics: true });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Clock", bus.clone(), ClientOptions::default()).await?;
    /// let server = RpcServer::new("Clock", bus, ServerOptions::default());
    /// use prost::Message as _;
    /// let mut room_a = client.subscribe::<Tick>(&TICKS, vec!["a".into()]).await?;
    /// let payload = Tick { n: 5 }.encode_to_vec(); // bytes from elsewhere
    /// server.publish_raw(&TICKS, vec!["a".into()], "type.googleapis.com/demo.Tick", &payload).await?;
    /// assert_eq!(room_a.recv().await, Some(Tick { n: 5 }));
    /// # Ok(()) }
    /// ```
    pub async fn publish_raw(
        &self,
        method: &MethodInfo,
        topics: Vec<String>,
        type_url: &str,
        payload: &[u8],
    ) -> Result<(), Error> {
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
        outbound::publish_frame(bus, &channel, frame).await
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
    /// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Hello { #[prost(string, tag = "1")] name: String }
    /// static GREET: MethodInfo = MethodInfo::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Greeter", bus.clone(), ServerOptions::default());
    /// server.register_unary(&GREET, vec![], |_: RequestContext, req: Hello| async move { Ok(req) }, None).await?;
    /// let patience = ClientOptions::default().selection_timeout(std::time::Duration::from_millis(100));
    /// let client = RpcClient::new("Greeter", bus, patience).await?;
    /// client.request_single::<Hello, Hello>(&GREET, vec![], &Hello::default(), RequestOptions::default()).await?;
    ///
    /// server.shutdown().await;
    /// let err = client.request_single::<Hello, Hello>(&GREET, vec![], &Hello::default(), RequestOptions::default()).await.unwrap_err();
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
    /// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Hello { #[prost(string, tag = "1")] name: String }
    /// static GREET: MethodInfo = MethodInfo::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Greeter", bus.clone(), ServerOptions::default());
    /// let never = |_: RequestContext, _: Hello| std::future::pending::<Result<Hello, psrpc::Error>>();
    /// server.register_unary(&GREET, vec![], never, None).await?;
    /// let client = RpcClient::new("Greeter", bus, ClientOptions::default()).await?;
    /// let options = RequestOptions::default().timeout(std::time::Duration::from_millis(500));
    /// let call = tokio::spawn(async move {
    ///     client.request_single::<Hello, Hello>(&GREET, vec![], &Hello::default(), options).await
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
        let inner = self.inner();
        inner.killed.send_replace(true);
        inner.presence.set(State::Gone);
        let handlers = inner.registry.take_all();
        futures_util::future::join_all(handlers.iter().map(|h| h.stop())).await;
        for handler in &handlers {
            inner.registry.left(handler);
        }
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

/// `work`, counted in flight by `tracked` until it ends, and ended at once
/// when it is cancelled.
fn in_flight(
    tracked: Work,
    work: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let mut cancelled = tracked.cancelled();
    async move {
        let _tracked = tracked;
        tokio::select! {
            () = crate::signal::raised(&mut cancelled) => {}
            () = work => {}
        }
    }
}

/// What every handler registration starts with.
pub(crate) struct Prepared {
    /// The registry key of the method on its topics.
    pub(crate) key: String,
    /// The method on its topics.
    pub(crate) info: RpcInfo,
    /// The claim-response subscription, for methods that claim.
    pub(crate) claims: Option<crate::transport::bus::Subscription>,
}

impl ServerInner {
    /// Checks that `method` on `topics` can be registered and subscribes its
    /// claim responses when it claims.
    pub(crate) async fn prepare(&self, method: &MethodInfo, topics: Vec<String>) -> Result<Prepared, Error> {
        self.ensure_running()?;
        let key = registry::key(&method.name, &topics);
        self.registry.ensure_free(&key)?;
        self.presence.record(&key, method, &topics);
        let info = RpcInfo::new(Arc::clone(&self.service), method, topics);
        let claims = match self.options.wire_mode.require_claim(method) {
            true => Some(self.bus.subscribe(&info.claim_response_channel(), self.options.channel_capacity).await?),
            false => None,
        };
        Ok(Prepared { key, info, claims })
    }

    pub(crate) async fn publish<E: Envelope>(&self, channel: &Channel, message: &E) -> Result<(), Error> {
        outbound::publish(&*self.bus, channel, message).await
    }

    /// Runs `work` — anything that calls user code: affinity functions,
    /// interceptors, handlers — on a task of its own, as in-flight work
    /// (`tracked`, from [`Handler::admit`](registry::Handler::admit) or the
    /// handler's in-flight count): counted for draining, and dropped at once
    /// when it is cancelled (the server killed, or its drain timed out).
    ///
    /// Decision: user code never runs on the task that delivered the frame
    /// (a broker connection's reader, the in-process publisher, a stream
    /// method's frame loop), so a handler that computes or blocks before its
    /// first `.await` cannot hold up other calls on the same connection. The
    /// price is one task per request. Panics are caught where the work calls
    /// user code (see `user_code`), so none unwinds through this task either.
    pub(crate) fn spawn_work(&self, tracked: Work, work: impl Future<Output = ()> + Send + 'static) {
        // Boxed first: the work's state (a whole handler call) is copied
        // once, not again by every move on the way into the task.
        tokio::spawn(in_flight(tracked, Box::pin(work)));
    }

    /// Runs `work` on a task of its own, as in-flight work (`tracked`), as
    /// [`spawn_work`](Self::spawn_work) does, but lets it end by itself when
    /// it is cancelled: a stream first tells its peer it closed. `work` must
    /// watch [`Work::cancelled`] (through its handler's in-flight count) and
    /// end soon after.
    pub(crate) fn spawn_closing_work(&self, tracked: Work, work: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(async move {
            let _tracked = tracked;
            work.await;
        });
    }

    /// Runs `work` — framework work that calls no user code, such as a claim
    /// for a request without an affinity function — on the calling task up
    /// to its first wait (then on a task of its own), as in-flight work
    /// (`tracked`). A claim that goes out at once costs no task and no wake-up.
    pub(crate) fn start_here(&self, tracked: Work, work: impl Future<Output = ()> + Send + 'static) {
        crate::here::run_here_first(in_flight(tracked, work));
    }

    /// Stops taking work, waits for in-flight handlers and streams (up to
    /// the drain timeout, then cancels them and waits for them to end),
    /// then unsubscribes everything.
    async fn shutdown(&self) {
        self.presence.set(State::Draining);
        let handlers = self.registry.take_all();
        let limit = self.options.drain_timeout;
        futures_util::future::join_all(handlers.iter().map(|h| h.drain(limit))).await;
        for handler in &handlers {
            self.registry.left(handler);
        }
        self.presence.set(State::Gone);
    }

    /// Stops every handler without waiting (no runtime to wait on).
    fn stop_now(&self) {
        self.killed.send_replace(true);
        self.presence.set(State::Gone);
        for handler in self.registry.take_all() {
            handler.stop_now();
            self.registry.left(&handler);
        }
    }

    /// The in-process runner of `method` on `topics`, while registered.
    pub(crate) fn local_handler(&self, method: &str, topics: &[String]) -> Option<crate::local_first::LocalHandler> {
        self.registry.local(&registry::key(method, topics))
    }

    pub(crate) fn ensure_running(&self) -> Result<(), Error> {
        if *self.killed.borrow() { Err(Error::server_closed()) } else { Ok(()) }
    }
}
