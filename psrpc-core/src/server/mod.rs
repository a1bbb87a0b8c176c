//! The server engine: handlers registered per method (and topic), each a
//! task reading its subscriptions; one task per request or stream.

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

use crate::bus::SharedBus;
use crate::channel::Channel;
use crate::error::Error;
use crate::frame::{self, Envelope};
use crate::id;
use crate::info::{MethodInfo, RpcInfo};
use crate::options::ServerOptions;
use crate::outbound;
use registry::Registry;

/// A server of one service on a bus. Cheap to clone; clones share state.
#[derive(Clone, Debug)]
pub struct RpcServer {
    inner: Arc<ServerInner>,
}

#[derive(Debug)]
pub(crate) struct ServerInner {
    pub(crate) service: Arc<str>,
    pub(crate) id: Arc<str>,
    pub(crate) bus: SharedBus,
    pub(crate) options: ServerOptions,
    pub(crate) registry: Registry,
    /// Flips to `true` on [`RpcServer::kill`]: in-flight work stops at once.
    pub(crate) killed: watch::Sender<bool>,
    /// Response and claim channels by client id.
    pub(crate) reply_channels: reply_channels::ReplyChannelCache,
}

impl RpcServer {
    /// Creates a server of `service` on `bus`. Methods are served once registered.
    pub fn new(service: impl Into<Arc<str>>, bus: SharedBus, options: ServerOptions) -> Self {
        let options = options.normalized();
        let id = options.server_id.clone().unwrap_or_else(id::new_server_id);
        let (killed, _) = watch::channel(false);
        RpcServer {
            inner: Arc::new(ServerInner {
                service: service.into(),
                id: id.into(),
                bus,
                options,
                registry: Registry::default(),
                reply_channels: Default::default(),
                killed,
            }),
        }
    }

    /// The server id (`SRV_…`), sent in claims and responses.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// Stops serving `method` on `topics`, letting in-flight calls finish.
    pub async fn deregister(&self, method: &str, topics: &[String]) {
        if let Some(handler) = self.inner.registry.remove(&registry::key(method, topics)) {
            handler.drain().await;
        }
    }

    /// Publishes `message` to the subscribers of a subscription method.
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
        let info = RpcInfo::new(Arc::clone(&self.inner.service), method, topics);
        let channel = info.request_channel(method.queue());
        let bus = &*self.inner.bus;
        let frame = encode(outbound::local_name(bus, &channel));
        outbound::publish_frame(bus, &channel, frame).await
    }

    /// Stops taking new requests and streams, waits for in-flight handlers
    /// and streams to finish, then unsubscribes everything.
    pub async fn shutdown(&self) {
        let handlers = self.inner.registry.take_all();
        futures_util::future::join_all(handlers.iter().map(|h| h.drain())).await;
    }

    /// Stops at once: in-flight handlers are dropped, streams are closed with
    /// `unavailable` (EOF), everything is unsubscribed.
    pub async fn kill(&self) {
        self.inner.killed.send_replace(true);
        let handlers = self.inner.registry.take_all();
        futures_util::future::join_all(handlers.iter().map(|h| h.stop())).await;
    }

    /// Number of requests and streams being handled.
    pub fn in_flight(&self) -> usize {
        self.inner.registry.in_flight()
    }

    pub(crate) fn inner(&self) -> &Arc<ServerInner> {
        &self.inner
    }
}

/// What every handler registration starts with.
pub(crate) struct Prepared {
    /// The registry key of the method on its topics.
    pub(crate) key: String,
    /// The method on its topics.
    pub(crate) info: RpcInfo,
    /// The claim-response subscription, for methods that claim.
    pub(crate) claims: Option<crate::bus::Subscription>,
}

impl ServerInner {
    /// Checks that `method` on `topics` can be registered and subscribes its
    /// claim responses when it claims.
    pub(crate) async fn prepare(&self, method: &MethodInfo, topics: Vec<String>) -> Result<Prepared, Error> {
        self.ensure_running()?;
        let key = registry::key(&method.name, &topics);
        self.registry.ensure_free(&key)?;
        let info = RpcInfo::new(Arc::clone(&self.service), method, topics);
        let claims = match method.require_claim() {
            true => Some(self.bus.subscribe(&info.claim_response_channel(), self.options.channel_capacity).await?),
            false => None,
        };
        Ok(Prepared { key, info, claims })
    }

    pub(crate) async fn publish<E: Envelope>(&self, channel: &Channel, message: &E) -> Result<(), Error> {
        outbound::publish(&*self.bus, channel, message).await
    }

    /// Runs `work` as in-flight work of `handler`: counted for draining, and
    /// dropped at once if the server is killed.
    ///
    /// Decision: the work starts on the calling task (the one that delivered
    /// the request, see `Subscription::run_inline`) and moves to a task of its
    /// own at its first wait. A handler that answers without waiting costs no
    /// task and no wake-up; one that computes long before its first `.await`
    /// holds up the frames behind it on that subscription, so heavy handlers
    /// should yield or use `spawn_blocking` (as on any async runtime).
    pub(crate) fn spawn_work(&self, handler: &registry::Handler, work: impl Future<Output = ()> + Send + 'static) {
        let tracked = handler.in_flight.start();
        let mut killed = self.killed.subscribe();
        crate::here::run_here_first(async move {
            let _tracked = tracked;
            tokio::select! {
                () = crate::signal::raised(&mut killed) => {}
                () = work => {}
            }
        });
    }

    pub(crate) fn ensure_running(&self) -> Result<(), Error> {
        if *self.killed.borrow() { Err(Error::server_closed()) } else { Ok(()) }
    }
}
