//! One NATS subscription per subject, routing frames by `Msg.channel`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt as _;
use parking_lot::Mutex;
use psrpc_protocol::bus::{BusError, SubscriptionSender};
use psrpc_protocol::frame;
use psrpc_protocol::members::ChannelMembers;
use tokio::task::JoinHandle;

/// The local subscribers of a subject, by Local name.
type Routes = Mutex<HashMap<Arc<str>, Arc<ChannelMembers>>>;

/// Routes the frames of one subject to local subscribers by Local name.
///
/// Dropping the router (or [`stop`](Router::stop)) ends its task, which
/// drops its NATS subscription: the client unsubscribes and forgets it, so
/// nothing of it is sent again on a reconnect.
#[derive(Debug)]
pub(crate) struct Router {
    queue: bool,
    routes: Arc<Routes>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Router {
    /// A router for `queue` (queue group) or plain subscriptions, not yet
    /// subscribed: [`join`](Self::join) its first subscriber, then
    /// [`start`](Self::start) it, so that no frame NATS hands this process
    /// before `subscribe` returns finds no route (for a queue subject NATS
    /// chose this process: such a frame would be lost for everyone).
    pub(crate) fn new(queue: bool) -> Arc<Self> {
        Arc::new(Router { queue, routes: Arc::default(), task: Mutex::new(None) })
    }

    /// Subscribes `subject` (in queue group `queue_group` if the router
    /// routes a queue) and starts routing. `live` counts the routers whose
    /// task (and subscription) is running.
    pub(crate) async fn start(
        &self,
        client: &async_nats::Client,
        subject: Arc<str>,
        queue_group: &str,
        live: &Arc<AtomicUsize>,
    ) -> Result<(), BusError> {
        let subscriber = if self.queue {
            client.queue_subscribe(subject.to_string(), queue_group.to_owned()).await
        } else {
            client.subscribe(subject.to_string()).await
        }
        .map_err(BusError::unavailable)?;
        let running = Running::new(live);
        let task = tokio::spawn(route(subscriber, Arc::clone(&self.routes), self.queue, subject, running));
        *self.task.lock() = Some(task);
        Ok(())
    }

    pub(crate) fn queue(&self) -> bool {
        self.queue
    }

    pub(crate) fn join(&self, local: Arc<str>, sender: SubscriptionSender) {
        self.routes.lock().entry(local).or_default().join(sender);
    }

    /// Removes closed subscribers of `local`; true if the router has none left.
    pub(crate) fn leave(&self, local: &str) -> bool {
        let mut routes = self.routes.lock();
        if routes.get(local).is_some_and(|members| members.forget_closed()) {
            routes.remove(local);
        }
        routes.is_empty()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.routes.lock().is_empty()
    }

    /// Unsubscribes from NATS; every local subscription of this subject ends.
    pub(crate) fn stop(&self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
        self.routes.lock().clear();
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().take() {
            task.abort();
        }
    }
}

/// Counts a running route task in the bus's live-router count while it exists.
struct Running(Arc<AtomicUsize>);

impl Running {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::AcqRel);
        Running(Arc::clone(live))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn route(
    mut subscriber: async_nats::Subscriber,
    routes: Arc<Routes>,
    queue: bool,
    subject: Arc<str>,
    _running: Running,
) {
    while let Some(message) = subscriber.next().await {
        let local = match frame::decode_local_channel(&message.payload) {
            Ok(local) => local,
            Err(e) => {
                tracing::debug!(%subject, error = %e, "psrpc nats: skipping malformed frame");
                continue;
            }
        };
        let Some(members) = routes.lock().get(&*local).cloned() else {
            tracing::trace!(%subject, %local, "psrpc nats: no subscriber for channel");
            continue;
        };
        // Delivered outside the routes lock (subscribers may take frames inline).
        if queue {
            members.deliver_to_one(&message.payload);
        } else {
            members.deliver_to_all(&message.payload);
        }
    }
}
