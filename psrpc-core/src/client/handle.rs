//! [`RpcClient`], the handle users hold over the client's state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use super::dispatch;
use super::engine::ClientInner;
use super::multi::{self, MultiResponses};
use super::routes::Routes;
use super::subscription::{self, TypedSubscription};
use super::targets::CallTargets;
use crate::error::Error;
use crate::info::{Describes, Topics};
use crate::options::{ClientOptions, RequestOptions};
use crate::payload::Payload;
use crate::transport::bus::SharedBus;
use crate::transport::channel;
use crate::transport::id;

/// A client of one service on a bus. Cheap to clone; clones share state.
///
/// ```
/// # use std::sync::Arc;
/// use psrpc::{ClientOptions, RpcClient, SharedBus};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let client = RpcClient::new("Greeter", bus, ClientOptions::default()).await?;
/// let handle = client.clone(); // clones share one client
/// assert_eq!(handle.id(), client.id());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RpcClient {
    inner: Arc<ClientInner>,
}

impl RpcClient {
    /// Creates a client of `service` on `bus` and subscribes its channels.
    ///
    /// Async and fallible, unlike [`RpcServer::new`](crate::server::RpcServer::new):
    /// the client's reply channels (responses, claims, stream frames) are
    /// subscribed before any call can be made, and a subscription can fail.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, RpcClient, SharedBus};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Greeter", bus, ClientOptions::default()).await?;
    /// assert_eq!(client.service(), "Greeter");
    /// # Ok(()) }
    /// ```
    pub async fn new(service: impl Into<Arc<str>>, bus: SharedBus, options: ClientOptions) -> Result<Self, Error> {
        let service = service.into();
        let id = options.client_id.clone().unwrap_or_else(id::new_client_id);
        let (capacity, wire_mode) = (options.channel_capacity, options.wire_mode);
        let responses = bus.subscribe(&channel::response_channel(&service, &id), capacity).await?;
        let claims = bus.subscribe(&channel::claim_request_channel(&service, &id), capacity).await?;
        let streams = bus.subscribe(&channel::stream_client_channel(&service, &id), capacity).await?;
        let (shutdown, _) = watch::channel(false);
        let inner = Arc::new(ClientInner {
            service,
            id,
            bus,
            options,
            routes: Arc::new(Routes::default()),
            closed: AtomicBool::new(false),
            shutdown,
            targets: CallTargets::new(wire_mode),
        });
        tokio::spawn(dispatch::run(Arc::downgrade(&inner), inner.shutdown.subscribe(), responses, claims, streams));
        Ok(RpcClient { inner })
    }

    /// The client id (`CLI_…`), or the one set in [`ClientOptions::client_id`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{ClientOptions, RpcClient, SharedBus};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Greeter", bus.clone(), ClientOptions::default()).await?;
    /// assert!(client.id().starts_with("CLI_"));
    /// let named = RpcClient::new("Greeter", bus, ClientOptions::default().client_id("CLI_frontend")).await?;
    /// assert_eq!(named.id(), "CLI_frontend");
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The service name.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{ClientOptions, RpcClient, SharedBus};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Greeter", bus, ClientOptions::default()).await?;
    /// assert_eq!(client.service(), "Greeter");
    /// # Ok(()) }
    /// ```
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// Whether [`close`](Self::close) was called (or the bus closed).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{ClientOptions, RpcClient, SharedBus};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Greeter", bus, ClientOptions::default()).await?;
    /// assert!(!client.is_closed());
    /// client.close().await;
    /// assert!(client.is_closed());
    /// # Ok(()) }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Closes the client: every pending call ends with `canceled`
    /// ([`Error::client_closed`]), its subscriptions are dropped, and later
    /// calls fail at once.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{ClientOptions, Method, MethodKind, RequestOptions, RpcClient, Selection, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Hello { #[prost(string, tag = "1")] name: String }
    /// static GREET: Method<Hello, Hello> = Method::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Greeter", bus, ClientOptions::default()).await?;
    /// client.close().await;
    /// let err = client
    ///     .request_single(&GREET, (), &Hello::default(), RequestOptions::default())
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err, psrpc::Error::client_closed());
    /// # Ok(()) }
    /// ```
    pub async fn close(&self) {
        self.inner.close();
    }

    /// Number of routes held by pending calls (0 when idle: nothing leaks).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{ClientOptions, RpcClient, SharedBus};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Greeter", bus, ClientOptions::default()).await?;
    /// assert_eq!(client.pending_routes(), 0);
    /// # Ok(()) }
    /// ```
    pub fn pending_routes(&self) -> usize {
        self.inner.routes.len()
    }

    /// Calls a multi method: every server answers. The returned stream ends at
    /// the timeout, or as soon as the expected responders (a count or a set of
    /// server ids in `options`) have all answered.
    ///
    /// `method` must be a multi method, and `options` may set only the
    /// fields multi calls use (see [`RequestOptions`]); otherwise the call
    /// fails `invalid_argument` before anything is published.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Method, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Load { #[prost(uint32, tag = "1")] percent: u32 }
    /// static LOAD: Method<Load, Load> = Method::new("Load", MethodKind::Multi { topics: false });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let mut servers = Vec::new();
    /// for percent in [10, 70] {
    ///     let server = RpcServer::new("Nodes", bus.clone(), ServerOptions::default());
    ///     let load = move |_: RequestContext, _: Load| async move { Ok(Load { percent }) };
    ///     server.register_unary(&LOAD, (), load, None).await?;
    ///     servers.push(server);
    /// }
    /// let client = RpcClient::new("Nodes", bus, ClientOptions::default()).await?;
    /// let options = RequestOptions::default().expected_responses(2); // done once both answered
    /// let responses = client.request_multi(&LOAD, (), &Load::default(), options).await?;
    /// let mut loads: Vec<u32> = responses.collect_all().await.into_iter().map(|r| r.result.unwrap().percent).collect();
    /// loads.sort();
    /// assert_eq!(loads, [10, 70]);
    /// # Ok(()) }
    /// ```
    pub async fn request_multi<Req: Payload, Resp: Payload>(
        &self,
        method: &impl Describes<Req, Resp>,
        topics: impl Into<Topics>,
        request: &Req,
        options: RequestOptions,
    ) -> Result<MultiResponses<Resp>, Error> {
        let (method, topics) = (method.method_info(), topics.into().into_vec());
        multi::request(&self.inner, method, topics, request, options).await
    }

    /// Subscribes to a subscription method: every subscriber receives each
    /// message for [`Delivery::Every`](crate::info::Delivery::Every)
    /// methods; otherwise subscribers form a queue and one of them receives
    /// each message. Any other kind of method fails `invalid_argument`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Delivery, Method, MethodKind, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Tick { #[prost(uint32, tag = "1")] n: u32 }
    /// # impl prost::Name for Tick { const NAME: &'static str = "Tick"; const PACKAGE: &'static str = "demo"; }
    /// static TICKS: Method<Tick, Tick> = Method::new("Ticks", MethodKind::Subscription { delivery: Delivery::Every, topics: false });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Clock", bus.clone(), ClientOptions::default()).await?;
    /// let server = RpcServer::new("Clock", bus, ServerOptions::default());
    /// let mut ticks = client.subscribe(&TICKS, ()).await?;
    /// server.publish(&TICKS, (), &Tick { n: 1 }).await?;
    /// assert_eq!(ticks.recv().await, Some(Tick { n: 1 }));
    /// # Ok(()) }
    /// ```
    pub async fn subscribe<M: Payload>(
        &self,
        method: &impl Describes<M, M>,
        topics: impl Into<Topics>,
    ) -> Result<TypedSubscription<M>, Error> {
        let (method, topics) = (method.method_info(), topics.into().into_vec());
        subscription::subscribe(&self.inner, method, topics, subscription::Share::Join).await
    }

    /// Watches a subscription method without taking part: receives every
    /// message, also of [`Delivery::Queue`](crate::info::Delivery::Queue)
    /// methods, whose queue subscribers still receive each message as if
    /// the observer were not there (a plain subscription, never a queue
    /// member). For tools that inspect a live service (`psrpc sub`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Delivery, Method, MethodKind, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Job { #[prost(uint32, tag = "1")] n: u32 }
    /// # impl prost::Name for Job { const NAME: &'static str = "Job"; const PACKAGE: &'static str = "demo"; }
    /// static JOBS: Method<Job, Job> = Method::new("Jobs", MethodKind::Subscription { delivery: Delivery::Queue, topics: false });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let worker = RpcClient::new("Work", bus.clone(), ClientOptions::default()).await?;
    /// let watcher = RpcClient::new("Work", bus.clone(), ClientOptions::default()).await?;
    /// let mut jobs = worker.subscribe(&JOBS, ()).await?;
    /// let mut seen = watcher.observe(&JOBS, ()).await?;
    /// RpcServer::new("Work", bus, ServerOptions::default()).publish(&JOBS, (), &Job { n: 1 }).await?;
    /// assert_eq!(jobs.recv().await, Some(Job { n: 1 })); // the queue member still gets it
    /// assert_eq!(seen.recv().await, Some(Job { n: 1 }));
    /// # Ok(()) }
    /// ```
    pub async fn observe<M: Payload>(
        &self,
        method: &impl Describes<M, M>,
        topics: impl Into<Topics>,
    ) -> Result<TypedSubscription<M>, Error> {
        let (method, topics) = (method.method_info(), topics.into().into_vec());
        subscription::subscribe(&self.inner, method, topics, subscription::Share::Observe).await
    }

    pub(crate) fn inner(&self) -> &Arc<ClientInner> {
        &self.inner
    }
}
