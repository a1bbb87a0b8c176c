//! The client engine: one [`RpcClient`] per service per process.
//!
//! A client subscribes to its three channels (responses, claims, stream
//! frames) once, and one dispatcher task routes every received envelope to
//! the call waiting for it by request or stream id. Calls wait on their own
//! futures: no task is spawned per call.

mod dispatch;
mod first_claim;
mod multi;
mod routes;
mod select;
mod single;
mod stream;
mod subscription;
mod targets;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

pub use multi::{MultiResponses, Response};
pub use subscription::TypedSubscription;

use crate::error::Error;
use crate::info::{MethodInfo, RpcInfo};
use crate::options::{ClientOptions, RequestOptions, SelectionOptions};
use crate::outbound;
use crate::transport::bus::SharedBus;
use crate::transport::channel::{self, Channel};
use crate::transport::frame::Envelope;
use crate::transport::id;
use routes::Routes;

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

#[derive(Debug)]
pub(crate) struct ClientInner {
    pub(crate) service: Arc<str>,
    pub(crate) id: String,
    pub(crate) bus: SharedBus,
    pub(crate) options: ClientOptions,
    pub(crate) routes: Arc<Routes>,
    pub(crate) closed: AtomicBool,
    /// Flips to `true` once; the dispatcher and streams watch it.
    pub(crate) shutdown: watch::Sender<bool>,
    /// Call descriptions and channels by method and topics.
    pub(crate) targets: targets::CallTargets,
}

impl RpcClient {
    /// Creates a client of `service` on `bus` and subscribes its channels.
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
            targets: targets::CallTargets::new(wire_mode),
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
    /// # use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestOptions, RpcClient, Selection, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Hello { #[prost(string, tag = "1")] name: String }
    /// static GREET: MethodInfo = MethodInfo::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Greeter", bus, ClientOptions::default()).await?;
    /// client.close().await;
    /// let err = client
    ///     .request_single::<Hello, Hello>(&GREET, vec![], &Hello::default(), RequestOptions::default())
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

    pub(crate) fn inner(&self) -> &Arc<ClientInner> {
        &self.inner
    }
}

impl ClientInner {
    pub(crate) fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.shutdown.send_replace(true);
            self.routes.clear();
        }
    }

    pub(crate) fn ensure_open(&self) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) { Err(Error::client_closed()) } else { Ok(()) }
    }

    pub(crate) fn rpc_info(&self, method: &MethodInfo, topics: Vec<String>) -> RpcInfo {
        RpcInfo::new(Arc::clone(&self.service), method, topics)
    }

    /// Encodes `message` for `channel` (once) and publishes it, giving up
    /// with `deadline_exceeded` at the call's `deadline`: a publish that waits
    /// on the transport counts against the call's time like everything else.
    pub(crate) async fn publish<E: Envelope>(
        &self,
        channel: &Channel,
        message: &E,
        deadline: tokio::time::Instant,
    ) -> Result<(), Error> {
        tokio::time::timeout_at(deadline, outbound::publish(&*self.bus, channel, message))
            .await
            .map_err(|_| Error::request_timed_out())?
    }

    /// The timeout of a call: the request's, else the client's, kept within the
    /// caller's deadline (the request's, else the calling task's).
    pub(crate) fn timeout(&self, options: &RequestOptions) -> std::time::Duration {
        crate::deadline::within(options.timeout.unwrap_or(self.options.timeout), options.deadline)
    }

    /// The selection of a call: the request's, else the method's default.
    pub(crate) fn selection(&self, method: &MethodInfo, options: &RequestOptions) -> SelectionOptions {
        options.selection.clone().unwrap_or_else(|| {
            if method.affinity_enabled() {
                SelectionOptions::best_affinity(self.options.selection_timeout)
            } else {
                SelectionOptions::first_available(self.options.selection_timeout)
            }
        })
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}
