//! Local subscribers by channel, the reader task, and subscription changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use psrpc_core::bus::{BusError, Subscription};
use psrpc_core::members::ChannelMembers;
use redis::aio::ConnectionManager;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{queue, unavailable};

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
    /// Serializes SUBSCRIBE/UNSUBSCRIBE, so the server's view follows ours.
    changing: tokio::sync::Mutex<ConnectionManager>,
    claims: ConnectionManager,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl Subscribers {
    pub(crate) fn start(
        subscriber: ConnectionManager,
        claims: ConnectionManager,
        pushes: mpsc::UnboundedReceiver<PushInfo>,
    ) -> Arc<Self> {
        let subscribers = Arc::new(Subscribers {
            channels: Mutex::new(HashMap::new()),
            changing: tokio::sync::Mutex::new(subscriber),
            claims,
            reader: Mutex::new(None),
        });
        let task = tokio::spawn(read(Arc::downgrade(&subscribers), pushes));
        *subscribers.reader.lock() = Some(task);
        subscribers
    }

    /// Adds a local subscriber; the first one of a channel subscribes it (confirmed by Redis).
    pub(crate) async fn join(
        self: &Arc<Self>,
        name: &Arc<str>,
        capacity: usize,
        membership: Membership,
    ) -> Result<Subscription, BusError> {
        let mut conn = self.changing.lock().await;
        let known = self.channels.lock().contains_key(name);
        if !known {
            conn.subscribe(&**name).await.map_err(unavailable)?;
        }
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
            let mut conn = self.changing.lock().await;
            // Re-check under the lock: a new subscriber may have joined meanwhile.
            let still_empty = {
                let mut channels = self.channels.lock();
                let empty = channels.get(&name).is_some_and(Channel::is_empty);
                if empty {
                    channels.remove(&name);
                }
                empty
            };
            if still_empty && let Err(e) = conn.unsubscribe(&*name).await {
                tracing::warn!(channel = %name, error = %e, "psrpc redis: unsubscribe failed");
            }
        });
    }

    /// Ends every subscription and stops reading.
    pub(crate) async fn close(&self) {
        let names: Vec<Arc<str>> = self.channels.lock().drain().map(|(name, _)| name).collect();
        if let Some(reader) = self.reader.lock().take() {
            reader.abort();
        }
        let mut conn = self.changing.lock().await;
        for name in names {
            let _ = conn.unsubscribe(&*name).await;
        }
    }

    /// Delivers a frame published on `name`.
    fn dispatch(self: &Arc<Self>, name: &str, frame: Bytes) {
        let Some(channel) = self.channels.lock().get(name).cloned() else { return };
        channel.plain.deliver_to_all(&frame);
        channel.claimed_queue.deliver_to_one(&frame);
        if !channel.queue.is_empty() {
            // The cross-process claim takes a round trip: never on the reader task.
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let mut conn = this.claims.clone();
                if queue::claim(&mut conn, &frame).await {
                    channel.queue.deliver_to_one(&frame);
                }
            });
        }
    }
}

/// The reader task: one pass over each push, never waiting on a subscriber.
async fn read(subscribers: std::sync::Weak<Subscribers>, mut pushes: mpsc::UnboundedReceiver<PushInfo>) {
    while let Some(push) = pushes.recv().await {
        let Some(subscribers) = subscribers.upgrade() else { return };
        match push.kind {
            PushKind::Message => {
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
            PushKind::Disconnection => {
                tracing::warn!("psrpc redis: subscriber connection lost; reconnecting");
                tokio::spawn(revive(subscribers));
            }
            _ => {}
        }
    }
}

/// Drives the subscriber connection back up: the connection manager
/// reconnects (and resubscribes every channel) on the next command.
async fn revive(subscribers: Arc<Subscribers>) {
    let mut delay = Duration::from_millis(50);
    loop {
        let result: redis::RedisResult<String> = {
            let mut conn = subscribers.changing.lock().await;
            redis::cmd("PING").query_async(&mut *conn).await
        };
        match result {
            Ok(_) => return tracing::info!("psrpc redis: subscriber connection restored"),
            Err(e) => tracing::debug!(error = %e, "psrpc redis: still reconnecting"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
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
