//! One NATS subscription per subject, routing frames by `Msg.channel`.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt as _;
use parking_lot::Mutex;
use psrpc_core::bus::{BusError, Delivery, SubscriptionSender};
use psrpc_core::frame;
use tokio::task::JoinHandle;

/// Queue group of every psrpc queue subscription (Go psrpc's).
pub(crate) const QUEUE_GROUP: &str = "bus";

/// Routes the frames of one subject to local subscribers by Local name.
#[derive(Debug)]
pub(crate) struct Router {
    queue: bool,
    routes: Arc<Mutex<HashMap<Arc<str>, Members>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Members {
    senders: Vec<SubscriptionSender>,
    next: usize,
}

impl Router {
    /// Subscribes `subject` and starts routing.
    pub(crate) async fn start(
        client: &async_nats::Client,
        subject: Arc<str>,
        queue: bool,
    ) -> Result<Arc<Self>, BusError> {
        let subscriber = if queue {
            client.queue_subscribe(subject.to_string(), QUEUE_GROUP.to_owned()).await
        } else {
            client.subscribe(subject.to_string()).await
        }
        .map_err(|e| BusError::Unavailable(e.to_string()))?;
        let routes: Arc<Mutex<HashMap<Arc<str>, Members>>> = Arc::default();
        let task = tokio::spawn(route(subscriber, Arc::clone(&routes), queue, subject));
        Ok(Arc::new(Router { queue, routes, task: Mutex::new(Some(task)) }))
    }

    pub(crate) fn queue(&self) -> bool {
        self.queue
    }

    pub(crate) fn join(&self, local: Arc<str>, sender: SubscriptionSender) {
        self.routes.lock().entry(local).or_default().senders.push(sender);
    }

    /// Removes closed subscribers of `local`; true if the router has none left.
    pub(crate) fn leave(&self, local: &str) -> bool {
        let mut routes = self.routes.lock();
        if let Some(members) = routes.get_mut(local) {
            members.senders.retain(|s| !s.is_closed());
            if members.senders.is_empty() {
                routes.remove(local);
            }
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

async fn route(
    mut subscriber: async_nats::Subscriber,
    routes: Arc<Mutex<HashMap<Arc<str>, Members>>>,
    queue: bool,
    subject: Arc<str>,
) {
    while let Some(message) = subscriber.next().await {
        let local = match frame::decode_local_channel(&message.payload) {
            Ok(local) => local,
            Err(e) => {
                tracing::debug!(%subject, error = %e, "psrpc nats: skipping malformed frame");
                continue;
            }
        };
        let mut routes = routes.lock();
        let Some(members) = routes.get_mut(local.as_str()) else {
            tracing::trace!(%subject, %local, "psrpc nats: no subscriber for channel");
            continue;
        };
        if queue {
            deliver_to_one(members, message.payload);
        } else {
            members.senders.retain(|s| s.try_deliver(message.payload.clone()) != Delivery::Closed);
        }
    }
}

/// Round robin over live members; a closed member is removed and the next one tried.
fn deliver_to_one(members: &mut Members, payload: bytes::Bytes) {
    while !members.senders.is_empty() {
        let index = members.next % members.senders.len();
        members.next = index + 1;
        if members.senders[index].try_deliver(payload.clone()) != Delivery::Closed {
            return;
        }
        members.senders.remove(index);
        // The next member has moved into `index`: it is the one to try now.
        members.next = index;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use psrpc_core::bus::Subscription;

    use super::{Members, deliver_to_one};

    #[tokio::test]
    async fn round_robin_skips_and_forgets_dropped_subscribers() {
        let mut members = Members::default();
        let mut subs = Vec::new();
        for _ in 0..3 {
            let (sender, sub) = Subscription::new(8, || {});
            members.senders.push(sender);
            subs.push(sub);
        }
        drop(subs.remove(1));
        for n in 0..4u8 {
            deliver_to_one(&mut members, Bytes::from(vec![n]));
        }
        assert_eq!(members.senders.len(), 2, "the dropped subscriber is forgotten");
        assert_eq!(subs[0].buffered(), 2, "the first subscriber takes every other frame");
        assert_eq!(subs[1].buffered(), 2, "so does the last one");
        let mut got = Vec::new();
        for sub in &mut subs {
            while sub.buffered() > 0 {
                got.push(sub.recv().await.expect("open").expect("frame")[0]);
            }
        }
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2, 3], "every frame delivered exactly once");
    }
}
