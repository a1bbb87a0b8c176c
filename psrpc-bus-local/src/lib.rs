//! psrpc-bus-local: the in-process message bus, the embedded default.
//!
//! Frames never leave the process and are never copied: every subscriber
//! receives the same reference-counted [`Bytes`]. Channels are keyed by their
//! Legacy name (WIRE.md section 4).
//!
//! # Overflow policy
//! Each subscription has a bounded buffer (the capacity given to
//! `subscribe`). When a subscriber's buffer is full, the publisher waits at
//! most [`LocalBusOptions::overflow_wait`] (default 100 ms) for room, then drops
//! the frame *for that subscriber only* and the subscriber sees
//! `BusError::SlowConsumer` before its
//! next frame. A slow subscriber therefore never blocks publishers to other
//! channels, and delays other subscribers of its own channel by at most that
//! bound per frame.
//!
//! ```
//! # async fn demo() -> Result<(), psrpc_core::BusError> {
//! use psrpc_bus_local::LocalBus;
//! use psrpc_core::{channel, MessageBus};
//!
//! let bus = LocalBus::new();
//! let ch = channel::request_channel("Svc", "Method", &["topic"], false);
//! let mut sub = bus.subscribe(&ch, 16).await?;
//! bus.publish(&ch, bytes::Bytes::from_static(b"frame")).await?;
//! assert_eq!(sub.recv().await, Some(Ok(bytes::Bytes::from_static(b"frame"))));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::RwLock;
use psrpc_core::bus::{BusError, Delivery, MessageBus, Subscription, SubscriptionSender};
use psrpc_core::channel::Channel;

/// Options of a [`LocalBus`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LocalBusOptions {
    /// How long a publisher waits for room in a full subscriber buffer before
    /// dropping the frame for that subscriber (see the crate docs).
    pub overflow_wait: Duration,
}

impl Default for LocalBusOptions {
    fn default() -> Self {
        LocalBusOptions { overflow_wait: Duration::from_millis(100) }
    }
}

impl LocalBusOptions {
    /// Sets [`overflow_wait`](Self::overflow_wait).
    #[must_use]
    pub fn overflow_wait(mut self, wait: Duration) -> Self {
        self.overflow_wait = wait;
        self
    }
}

/// The in-process bus. Clones share one bus.
#[derive(Clone, Debug, Default)]
pub struct LocalBus {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    options: LocalBusOptions,
    channels: RwLock<HashMap<Arc<str>, Arc<Subscribers>>>,
    closed: AtomicBool,
}

/// The subscribers of one channel.
#[derive(Debug, Default)]
struct Subscribers {
    plain: RwLock<Vec<Member>>,
    queue: RwLock<Vec<Member>>,
    next_queue: AtomicUsize,
}

#[derive(Debug, Clone)]
struct Member {
    id: u64,
    sender: SubscriptionSender,
}

impl Subscribers {
    fn is_empty(&self) -> bool {
        self.plain.read().is_empty() && self.queue.read().is_empty()
    }

    /// Picks the queue member for the next frame (round robin over live members).
    fn next_queue_member(&self) -> Option<Member> {
        let members = self.queue.read();
        if members.is_empty() {
            return None;
        }
        let start = self.next_queue.fetch_add(1, Ordering::Relaxed);
        (0..members.len()).map(|i| &members[(start + i) % members.len()]).find(|m| !m.sender.is_closed()).cloned()
    }
}

static NEXT_MEMBER: AtomicUsize = AtomicUsize::new(1);

impl LocalBus {
    /// A new, empty bus with default options.
    pub fn new() -> Self {
        LocalBus::default()
    }

    /// A new, empty bus with `options`.
    pub fn with_options(options: LocalBusOptions) -> Self {
        LocalBus { inner: Arc::new(Inner { options, ..Inner::default() }) }
    }

    fn check_open(&self) -> Result<(), BusError> {
        if self.inner.closed.load(Ordering::Acquire) { Err(BusError::Closed) } else { Ok(()) }
    }

    fn join(&self, channel: &Channel, capacity: usize, queue: bool) -> Result<Subscription, BusError> {
        self.check_open()?;
        let id = NEXT_MEMBER.fetch_add(1, Ordering::Relaxed) as u64;
        let key = Arc::clone(&channel.legacy);
        let weak = Arc::downgrade(&self.inner);
        let unsubscribe_key = Arc::clone(&key);
        let (sender, subscription) = Subscription::new(capacity, move || {
            if let Some(inner) = weak.upgrade() {
                inner.leave(&unsubscribe_key, id, queue);
            }
        });
        let mut channels = self.inner.channels.write();
        let subscribers = channels.entry(key).or_default();
        let list = if queue { &subscribers.queue } else { &subscribers.plain };
        list.write().push(Member { id, sender });
        Ok(subscription)
    }
}

impl Inner {
    fn leave(&self, key: &Arc<str>, id: u64, queue: bool) {
        let mut channels = self.channels.write();
        if let Some(subscribers) = channels.get(key) {
            let list = if queue { &subscribers.queue } else { &subscribers.plain };
            list.write().retain(|m| m.id != id);
            if subscribers.is_empty() {
                channels.remove(key);
            }
        }
    }
}

impl MessageBus for LocalBus {
    fn publish<'a>(&'a self, channel: &'a Channel, frame: Bytes) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            self.check_open()?;
            let subscribers = match self.inner.channels.read().get(&channel.legacy) {
                Some(s) => Arc::clone(s),
                None => return Ok(()),
            };
            let wait = self.inner.options.overflow_wait;
            let plain: Vec<SubscriptionSender> = subscribers.plain.read().iter().map(|m| m.sender.clone()).collect();
            for sender in plain {
                deliver(&sender, frame.clone(), wait).await;
            }
            if let Some(member) = subscribers.next_queue_member() {
                deliver(&member.sender, frame, wait).await;
            }
            Ok(())
        })
    }

    fn subscribe<'a>(&'a self, channel: &'a Channel, capacity: usize) -> BoxFuture<'a, Result<Subscription, BusError>> {
        Box::pin(async move { self.join(channel, capacity, false) })
    }

    fn subscribe_queue<'a>(
        &'a self,
        channel: &'a Channel,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        Box::pin(async move { self.join(channel, capacity, true) })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.closed.store(true, Ordering::Release);
            // Dropping every sender ends every subscription stream.
            self.inner.channels.write().clear();
        })
    }
}

/// Delivers without waiting when there is room (the common case), otherwise
/// with the bounded wait of the overflow policy.
async fn deliver(sender: &SubscriptionSender, frame: Bytes, wait: Duration) -> Delivery {
    sender.deliver(frame, wait).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use psrpc_core::channel::request_channel;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_full_subscriber_delays_its_channel_by_the_bound_then_loses_the_frame() {
        let bus = LocalBus::with_options(LocalBusOptions::default().overflow_wait(Duration::from_millis(100)));
        let busy = request_channel("S", "Busy", &["t"], false);
        let calm = request_channel("S", "Calm", &["t"], false);
        let mut stalled = bus.subscribe(&busy, 1).await.expect("subscribe");
        let mut other = bus.subscribe(&calm, 1).await.expect("subscribe");

        bus.publish(&busy, Bytes::from_static(b"1")).await.expect("fits");
        let started = Instant::now();
        bus.publish(&busy, Bytes::from_static(b"2")).await.expect("waits, then drops");
        assert_eq!(started.elapsed(), Duration::from_millis(100));

        // Another channel is not delayed at all.
        let started = Instant::now();
        bus.publish(&calm, Bytes::from_static(b"x")).await.expect("publish");
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(other.recv().await, Some(Ok(Bytes::from_static(b"x"))));

        assert_eq!(stalled.recv().await, Some(Err(BusError::SlowConsumer { dropped: 1 })));
        assert_eq!(stalled.recv().await, Some(Ok(Bytes::from_static(b"1"))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_publisher_delivers_once_the_subscriber_reads() {
        let bus = LocalBus::new();
        let ch = request_channel("S", "M", &["t"], false);
        let mut sub = bus.subscribe(&ch, 1).await.expect("subscribe");
        bus.publish(&ch, Bytes::from_static(b"1")).await.expect("fits");
        let publisher = {
            let bus = bus.clone();
            let ch = ch.clone();
            tokio::spawn(async move { bus.publish(&ch, Bytes::from_static(b"2")).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(sub.recv().await, Some(Ok(Bytes::from_static(b"1"))));
        publisher.await.expect("task").expect("publish");
        assert_eq!(sub.recv().await, Some(Ok(Bytes::from_static(b"2"))));
    }

    #[tokio::test]
    async fn queue_members_take_turns_and_dropped_members_leave() {
        let bus = LocalBus::new();
        let ch = request_channel("S", "Q", &["t"], true);
        let a = bus.subscribe_queue(&ch, 8).await.expect("subscribe");
        let b = bus.subscribe_queue(&ch, 8).await.expect("subscribe");
        for _ in 0..4 {
            bus.publish(&ch, Bytes::from_static(b"f")).await.expect("publish");
        }
        assert_eq!(a.buffered(), 2);
        drop(b);
        bus.publish(&ch, Bytes::from_static(b"g")).await.expect("publish");
        assert_eq!(a.buffered(), 3);
        assert!(bus.inner.channels.read().contains_key(&ch.legacy));
        drop(a);
        assert!(bus.inner.channels.read().is_empty(), "the channel entry is removed with its last subscriber");
    }
}
