//! Local subscribers by channel, the reader task, and subscription changes.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use psrpc_protocol::bus::{BusError, Subscription};
use psrpc_protocol::members::ChannelMembers;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::endpoint::{Endpoint, Placed};
use crate::link::{Link, Ping};
use crate::queue::QueueLocks;
use crate::writer::Publisher;

/// How a local subscriber takes the frames of its channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Membership {
    /// Every frame.
    Plain,
    /// Frames this process wins with the queue lock, in turns.
    Queue,
    /// Every frame, in turns; the queue lock is taken when the claim is
    /// published (`queue::publish_claim`).
    ClaimedQueue,
}

/// The local subscribers of one Redis channel (shared, so frames are
/// delivered outside the channels lock).
#[derive(Default, Clone)]
struct Channel {
    plain: Arc<ChannelMembers>,
    queue: Arc<ChannelMembers>,
    claimed_queue: Arc<ChannelMembers>,
}

impl Channel {
    fn members(&self, membership: Membership) -> &ChannelMembers {
        match membership {
            Membership::Plain => &self.plain,
            Membership::Queue => &self.queue,
            Membership::ClaimedQueue => &self.claimed_queue,
        }
    }

    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queue.is_empty() && self.claimed_queue.is_empty()
    }

    /// Forgets closed subscribers; true if none is left.
    fn forget_closed(&self) -> bool {
        self.plain.forget_closed() & self.queue.forget_closed() & self.claimed_queue.forget_closed()
    }
}

/// The subscriptions of one bus.
pub(crate) struct Subscribers {
    channels: Mutex<HashMap<Arc<str>, Channel>>,
    /// The subscriber connection; its lock serializes SUBSCRIBE/UNSUBSCRIBE,
    /// so the server's view follows ours.
    changing: tokio::sync::Mutex<Placed>,
    /// Where connections go.
    endpoint: Arc<Endpoint>,
    reader: Mutex<Option<JoinHandle<()>>>,
    /// The subscriber connection's state.
    link: Arc<Link>,
    /// The publisher connection's state (queue locks go there).
    publisher: Arc<Link>,
    /// The bus's publishes: a queue lock waits for its turn there before
    /// its timeout starts.
    publishes: Arc<Publisher>,
    /// The queue locks that pick the frames of queue subscribers.
    locks: Arc<QueueLocks>,
    /// How long a subscribe may take.
    timeout: Duration,
}

impl Subscribers {
    /// Starts reading `pushes` (those of `subscriber`); queue frames are
    /// taken with `locks`, on the publisher connection whose state is
    /// `publisher`.
    pub(crate) fn start(
        subscriber: Placed,
        endpoint: Arc<Endpoint>,
        pushes: mpsc::UnboundedReceiver<PushInfo>,
        publisher: Arc<Link>,
        publishes: Arc<Publisher>,
        locks: Arc<QueueLocks>,
        timeout: Duration,
    ) -> Arc<Self> {
        let subscribers = Arc::new(Subscribers {
            channels: Mutex::new(HashMap::new()),
            changing: tokio::sync::Mutex::new(subscriber),
            endpoint,
            reader: Mutex::new(None),
            link: Link::new("subscriber"),
            publisher,
            publishes,
            locks,
            timeout,
        });
        let task = tokio::spawn(read(Arc::downgrade(&subscribers), pushes));
        *subscribers.reader.lock() = Some(task);
        subscribers
    }

    /// Adds a local subscriber; the first one of a channel subscribes it
    /// (confirmed by Redis). Fails at once while the subscriber connection is
    /// down, and after the bus's timeout if Redis does not confirm; a failed
    /// `SUBSCRIBE` is undone, so it is not sent again on a reconnect.
    pub(crate) async fn join(
        self: &Arc<Self>,
        name: &Arc<str>,
        capacity: usize,
        membership: Membership,
    ) -> Result<Subscription, BusError> {
        if self.link.is_down() {
            return Err(BusError::unavailable("the subscriber connection to Redis is down"));
        }
        let subscribed = tokio::time::timeout(self.timeout, async {
            let mut placed = self.changing.lock().await;
            let known = self.channels.lock().contains_key(name);
            if !known {
                placed.conn.subscribe(&[&**name], self.endpoint.sharded()).await?;
            }
            Ok::<_, redis::RedisError>(placed)
        })
        .await;
        let _conn = match subscribed {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                self.link.check(&e, || self.ping());
                self.undo_subscribe(Arc::clone(name));
                return Err(crate::refused(e, "subscribe to", name));
            }
            Err(_) => {
                self.undo_subscribe(Arc::clone(name));
                return Err(BusError::unavailable(format!("SUBSCRIBE not confirmed within {:?}", self.timeout)));
            }
        };
        let weak = Arc::downgrade(self);
        let key = Arc::clone(name);
        let (sender, subscription) = Subscription::new(capacity, move || {
            if let Some(subscribers) = weak.upgrade() {
                subscribers.leave(key);
            }
        });
        let mut channels = self.channels.lock();
        channels.entry(Arc::clone(name)).or_default().members(membership).join(sender);
        Ok(subscription)
    }

    /// Unsubscribes `name` unless a local subscriber has it (after a
    /// `SUBSCRIBE` that failed or timed out, which Redis may still apply).
    fn undo_subscribe(self: &Arc<Self>, name: Arc<str>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let this = Arc::clone(self);
        runtime.spawn(async move {
            let mut placed = this.changing.lock().await;
            if !this.channels.lock().contains_key(&name)
                && let Err(e) = placed.conn.unsubscribe(&[&*name], this.endpoint.sharded()).await
            {
                tracing::debug!(channel = %name, error = %e, "psrpc redis: undoing a failed subscribe failed");
            }
        });
    }

    /// A `PING` on the subscriber connection, for its [`Link`], after
    /// moving it to a new master (and resubscribing there) if there is one.
    fn ping(self: &Arc<Self>) -> Ping {
        let weak = Arc::downgrade(self);
        Box::new(move || {
            let this = weak.upgrade()?;
            Some(Box::pin(async move {
                let mut placed = this.changing.lock().await;
                if let Some(now) = this.endpoint.moved_from(&placed.node).await? {
                    let mut moved = this.endpoint.subscriber_at(&now).await?;
                    let names: Vec<Arc<str>> = this.channels.lock().keys().cloned().collect();
                    if !names.is_empty() {
                        let names: Vec<&str> = names.iter().map(|n| &**n).collect();
                        moved.conn.subscribe(&names, false).await?;
                    }
                    tracing::info!(from = %placed.node, to = %moved.node, channels = names.len(), "psrpc redis: subscriber follows the master");
                    *placed = moved;
                }
                if placed.conn.is_cluster() {
                    // A cluster connection moves its subscriptions to a
                    // slot's new master only when it refreshes its slot map,
                    // which an idle subscriber connection has no reason to
                    // do: subscribing every channel again (one command per
                    // channel, each routed by its slot; a no-op where the
                    // subscription is in place) makes it, and fails until
                    // every slot has a live master.
                    let names: Vec<Arc<str>> = this.channels.lock().keys().cloned().collect();
                    let sharded = this.endpoint.sharded();
                    for name in &names {
                        placed.conn.subscribe(&[&**name], sharded).await?;
                    }
                }
                placed.conn.ping().await
            }))
        })
    }

    /// Counts the subscriber connection lost if it is not on `master`
    /// (`host:port`, the master the Sentinels just named), so its link's
    /// revive moves it there and resubscribes every channel.
    pub(crate) async fn follow_master(self: &Arc<Self>, master: &str) {
        let elsewhere = self.changing.lock().await.node != master;
        if elsewhere {
            self.link.lost(self.ping());
        }
    }

    /// Forgets closed subscribers of `name`; unsubscribes when none is left.
    fn leave(self: Arc<Self>, name: Arc<str>) {
        let empty = {
            let mut channels = self.channels.lock();
            let Some(channel) = channels.get_mut(&name) else { return };
            channel.forget_closed()
        };
        if !empty {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            let mut placed = self.changing.lock().await;
            // Re-check under the lock: a new subscriber may have joined meanwhile.
            let still_empty = {
                let mut channels = self.channels.lock();
                let empty = channels.get(&name).is_some_and(Channel::is_empty);
                if empty {
                    channels.remove(&name);
                }
                empty
            };
            if still_empty && let Err(e) = placed.conn.unsubscribe(&[&*name], self.endpoint.sharded()).await {
                tracing::warn!(channel = %name, error = %e, "psrpc redis: unsubscribe failed");
            }
        });
    }

    /// Subscribes `name` again (by its slot) if it still has local
    /// subscribers: after a resharding moved its slot, Redis ended the
    /// shard-channel subscription (our own unsubscribes remove the channel
    /// first, so they are not undone here).
    fn resubscribe_moved(self: &Arc<Self>, name: &str) {
        let Some(name) = self.channels.lock().get_key_value(name).map(|(k, _)| Arc::clone(k)) else { return };
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + this.timeout * 10;
            let mut delay = Duration::from_millis(50);
            loop {
                let mut placed = this.changing.lock().await;
                if !this.channels.lock().contains_key(&name) {
                    return;
                }
                match placed.conn.subscribe(&[&*name], this.endpoint.sharded()).await {
                    Ok(()) => return tracing::info!(channel = %name, "psrpc redis: resubscribed after its slot moved"),
                    Err(e) if tokio::time::Instant::now() > deadline => {
                        return tracing::warn!(channel = %name, error = %e, "psrpc redis: resubscribing a moved channel failed");
                    }
                    Err(e) => {
                        tracing::debug!(channel = %name, error = %e, "psrpc redis: resubscribing a moved channel")
                    }
                }
                drop(placed);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        });
    }

    /// Ends every subscription and stops reading.
    pub(crate) async fn close(&self) {
        let names: Vec<Arc<str>> = self.channels.lock().drain().map(|(name, _)| name).collect();
        if let Some(reader) = self.reader.lock().take() {
            reader.abort();
        }
        let mut placed = self.changing.lock().await;
        let sharded = self.endpoint.sharded();
        for name in names {
            let _ = placed.conn.unsubscribe(&[&*name], sharded).await;
        }
    }

    /// Delivers a frame published on `name`.
    fn dispatch(self: &Arc<Self>, name: &str, frame: Bytes) {
        let Some(channel) = self.channels.lock().get(name).cloned() else { return };
        channel.plain.deliver_to_all(&frame);
        channel.claimed_queue.deliver_to_one(&frame);
        if !channel.queue.is_empty() && !self.publisher.is_down() {
            // The cross-process lock takes a round trip: never on the reader
            // task. While the publisher connection is down the frame is left
            // to other processes; once it was lost after the frame arrived,
            // the lock is only read (see `queue`).
            let (publishes, locks) = (Arc::clone(&self.publishes), Arc::clone(&self.locks));
            let seen = self.publisher.losses();
            tokio::spawn(async move {
                let _turn = publishes.turn().await;
                if locks.take(&frame, seen).await {
                    channel.queue.deliver_to_one(&frame);
                }
            });
        }
    }
}

/// The reader task: one pass over each push, never waiting on a subscriber.
async fn read(subscribers: Weak<Subscribers>, mut pushes: mpsc::UnboundedReceiver<PushInfo>) {
    while let Some(push) = pushes.recv().await {
        let Some(subscribers) = subscribers.upgrade() else { return };
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                let mut data = push.data.into_iter();
                if let (Some(channel), Some(payload), None) = (data.next(), data.next(), data.next())
                    && let (Some(channel), Some(payload)) = (into_bytes(channel), into_bytes(payload))
                {
                    match std::str::from_utf8(&channel) {
                        Ok(name) => subscribers.dispatch(name, payload),
                        Err(_) => tracing::debug!("psrpc redis: message on a non-UTF-8 channel"),
                    }
                }
            }
            // Redis drops shard-channel subscriptions whose slot moved to
            // another node; ours are subscribed again there.
            PushKind::SUnsubscribe => {
                if let Some(name) = push.data.into_iter().next().and_then(into_bytes)
                    && let Ok(name) = std::str::from_utf8(&name)
                {
                    subscribers.resubscribe_moved(name);
                }
            }
            // The connection manager reconnects (and resubscribes every
            // channel) on the next command: the link's revive task sends it.
            PushKind::Disconnection => subscribers.link.lost(subscribers.ping()),
            _ => {}
        }
    }
}

/// The bytes of a push element, without copying them.
fn into_bytes(value: Value) -> Option<Bytes> {
    match value {
        Value::BulkString(b) => Some(Bytes::from(b)),
        Value::SimpleString(s) => Some(Bytes::from(s)),
        _ => None,
    }
}
