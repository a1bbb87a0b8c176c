//! The server engine's shared state: what a server's handlers and tasks
//! hold, how they run work, and the hook through which the layers above the
//! engine (discovery) follow the server without the engine knowing them.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

use super::inflight::Work;
use super::local::LocalHandler;
use super::registry::{self, Registry};
use super::reply_channels::ReplyChannelCache;
use crate::error::Error;
use crate::info::{MethodInfo, RpcInfo};
use crate::options::ServerOptions;
use crate::outbound;
use crate::transport::bus::{SharedBus, Subscription};
use crate::transport::channel::Channel;
use crate::transport::envelope::Response;
use crate::transport::frame::Envelope;
use crate::transport::id;

/// What a server goes through once it stops serving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// Shutting down: no new requests, in-flight ones finish.
    Draining,
    /// Stopped; nothing is served any more.
    Gone,
}

/// What the engine tells the layer that follows a server (discovery): its
/// registrations and its state. The engine calls it and never depends on
/// what implements it, so discovery sits above the engine.
pub(crate) trait ServerHook: Send + Sync + std::fmt::Debug {
    /// A registration of `method` on `topics` (registry key `key`) begins;
    /// it counts as registered while the registry holds `key`.
    fn registering(&self, key: &str, method: &MethodInfo, topics: &[String]);
    /// The method under `key` was deregistered.
    fn deregistered(&self, key: &str);
    /// The server moved to `state`.
    fn state_changed(&self, state: ServerState);
    /// A channel on which callers address this server's handler of `info`
    /// directly, besides its request channel (sticky calls), if any.
    fn direct_channel(&self, info: &RpcInfo) -> Option<Channel>;
}

/// The state of one server that its handlers and tasks share.
#[derive(Debug)]
pub(crate) struct ServerInner {
    pub(crate) service: Arc<str>,
    pub(crate) id: Arc<str>,
    pub(crate) bus: SharedBus,
    pub(crate) options: ServerOptions,
    pub(crate) registry: Registry,
    /// Flips to `true` on [`kill`](ServerInner::kill): nothing more is registered
    /// (the handlers' work is cancelled through their in-flight counts).
    pub(crate) killed: watch::Sender<bool>,
    /// Response and claim channels by client id.
    pub(crate) reply_channels: ReplyChannelCache,
    /// What the layers above the engine (discovery) learn of this server.
    pub(crate) hook: Arc<dyn ServerHook>,
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
    pub(crate) claims: Option<Subscription>,
}

impl ServerInner {
    /// The state of a new server of `service` on `bus`, followed by `hook`.
    pub(crate) fn new(
        service: Arc<str>,
        bus: SharedBus,
        options: ServerOptions,
        hook: Arc<dyn ServerHook>,
    ) -> Arc<Self> {
        let id = options.server_id.clone().unwrap_or_else(id::new_server_id);
        let (killed, _) = watch::channel(false);
        Arc::new(ServerInner {
            service,
            id: id.into(),
            bus,
            options,
            registry: Registry::default(),
            reply_channels: ReplyChannelCache::default(),
            killed,
            hook,
        })
    }

    /// Stops serving `method` on `topics`, letting in-flight calls finish
    /// for up to the drain timeout.
    pub(crate) async fn deregister(&self, method: &str, topics: &[String]) {
        let key = registry::key(method, topics);
        self.hook.deregistered(&key);
        if let Some(handler) = self.registry.remove(&key) {
            handler.drain(self.options.drain_timeout).await;
            self.registry.left(&handler);
        }
    }

    /// Stops at once: nothing more is registered, in-flight work is
    /// cancelled, every handler is stopped.
    pub(crate) async fn kill(&self) {
        self.killed.send_replace(true);
        self.hook.state_changed(ServerState::Gone);
        let handlers = self.registry.take_all();
        futures_util::future::join_all(handlers.iter().map(|h| h.stop())).await;
        for handler in &handlers {
            self.registry.left(handler);
        }
    }

    /// Checks that `method` on `topics` can be registered and subscribes its
    /// claim responses when it claims.
    pub(crate) async fn prepare(&self, method: &MethodInfo, topics: Vec<String>) -> Result<Prepared, Error> {
        self.ensure_running()?;
        let key = registry::key(&method.name, &topics);
        self.registry.ensure_free(&key)?;
        self.hook.registering(&key, method, &topics);
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

    /// Publishes `response` to the request `request_id`, with this server's
    /// id as its `server_id`.
    pub(crate) async fn publish_response(
        &self,
        channel: &Channel,
        request_id: &str,
        response: &Response,
    ) -> Result<(), Error> {
        outbound::publish_with_ids(&*self.bus, channel, (request_id, &self.id), response).await
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
    pub(crate) async fn shutdown(&self) {
        self.hook.state_changed(ServerState::Draining);
        let handlers = self.registry.take_all();
        let limit = self.options.drain_timeout;
        futures_util::future::join_all(handlers.iter().map(|h| h.drain(limit))).await;
        for handler in &handlers {
            self.registry.left(handler);
        }
        self.hook.state_changed(ServerState::Gone);
    }

    /// Stops every handler without waiting (no runtime to wait on).
    pub(crate) fn stop_now(&self) {
        self.killed.send_replace(true);
        self.hook.state_changed(ServerState::Gone);
        for handler in self.registry.take_all() {
            handler.stop_now();
            self.registry.left(&handler);
        }
    }

    /// The in-process runner of `method` on `topics`, while registered.
    pub(crate) fn local_handler(&self, method: &str, topics: &[String]) -> Option<LocalHandler> {
        self.registry.local(&registry::key(method, topics))
    }

    pub(crate) fn ensure_running(&self) -> Result<(), Error> {
        if *self.killed.borrow() { Err(Error::server_closed()) } else { Ok(()) }
    }
}
