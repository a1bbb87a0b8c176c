//! psrpc-bus-local: the in-process message bus, the embedded default.
//!
//! Frames never leave the process and are never copied: every subscriber
//! receives the same reference-counted [`Bytes`]. Channels are keyed by their
//! Legacy name (docs/WIRE.md section 5).
//!
//! # Overflow policy
//! Each subscription has a bounded buffer (the capacity given to
//! `subscribe`). When a subscriber's buffer is full, the publisher waits for
//! room, then drops the frame *for that subscriber only* and the subscriber
//! sees a `BusError` of kind `SlowConsumer` before its next frame. One `publish` waits at
//! most [`LocalBusOptions::overflow_wait`] (default 100 ms) in total, however
//! many subscribers are full. A slow subscriber therefore never blocks
//! publishers to other channels, and delays other subscribers of its own
//! channel by at most that bound per frame.
//!
//! # Namespaces
//! A bus with a [`Namespace`] keys channels by `<ns>|Legacy`
//! ([`LocalBusOptions::namespace`]); [`LocalBus::in_namespace`] gives a view
//! of the same bus in another namespace, so tests and examples can show that
//! namespaces never see each other's frames (docs/WIRE.md section 14).
//!
//! # Frame size
//! The bus carries frames of any size by default: they are never copied.
//! [`LocalBusOptions::max_frame_size`] sets a limit, so that code tested
//! here meets the limit of the broker it will run on (NATS refuses frames
//! over `max_payload`, 1 MiB by default): larger frames are refused with
//! `resource_exhausted`, as on the broker buses.
//!
//! # Channel names
//! Names longer than [`MAX_CHANNEL_NAME_LEN`] (64 KiB, the Redis bus's
//! rule, so code tested here behaves the same on Redis) are refused with
//! [`BusErrorKind::InvalidChannel`](psrpc_protocol::bus::BusErrorKind::InvalidChannel).
//!
//! Publishing takes one read lock on the channel table and clones one `Arc`
//! snapshot of the channel's subscribers; subscribing and unsubscribing copy
//! the (short) subscriber lists instead. The clock is read only when a
//! subscriber's buffer is full.
//!
//! ```
//! # async fn demo() -> Result<(), psrpc_protocol::BusError> {
//! use psrpc_bus_local::LocalBus;
//! use psrpc_protocol::MessageBus;
//! use psrpc_protocol::channel;
//!
//! let bus = LocalBus::new();
//! let ch = channel::request_channel("Svc", "Method", &["topic"], false);
//! let mut sub = bus.subscribe(&ch, 16).await?;
//! bus.publish(&ch, bytes::Bytes::from_static(b"frame")).await?;
//! assert_eq!(sub.recv().await.expect("open")?, bytes::Bytes::from_static(b"frame"));
//! # Ok(()) }
//! ```

mod delivery;
mod tap;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::RwLock;
use psrpc_protocol::bus::{
    BusError, MAX_CHANNEL_NAME_LEN, MessageBus, Published, Subscription, SubscriptionSender, check_channel_len,
};
use psrpc_protocol::channel::Channel;
use psrpc_protocol::frame_limit::{FrameLimit, check_frame_size};
use psrpc_protocol::namespace::{Namespace, channel_redis_name, redis_name};
use psrpc_protocol::tap::TapSubscription;

use tap::Taps;

/// Options of a [`LocalBus`].
///
/// ```
/// use std::time::Duration;
/// use psrpc_bus_local::{LocalBus, LocalBusOptions};
/// let bus = LocalBus::with_options(LocalBusOptions::default().overflow_wait(Duration::from_millis(10)));
/// # let _ = bus;
/// ```
#[derive(Clone, Debug)]
pub struct LocalBusOptions {
    /// How long one `publish` may wait for room in full subscriber buffers.
    overflow_wait: Duration,
    /// The namespace of the bus's channels (none: Legacy names as they are).
    namespace: Option<Namespace>,
    /// The largest frame the bus carries (none: no limit).
    max_frame_size: Option<usize>,
}

impl Default for LocalBusOptions {
    fn default() -> Self {
        LocalBusOptions { overflow_wait: Duration::from_millis(100), namespace: None, max_frame_size: None }
    }
}

impl LocalBusOptions {
    /// Sets how long one `publish` may wait, in total, for room in full
    /// subscriber buffers before dropping the frame for them (default
    /// 100 ms; see the crate docs).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc_bus_local::LocalBusOptions::default().overflow_wait(Duration::ZERO); // never wait: drop at once
    /// assert_eq!(format!("{options:?}"), "LocalBusOptions { overflow_wait: 0ns, namespace: None, max_frame_size: None }");
    /// ```
    #[must_use]
    pub fn overflow_wait(mut self, wait: Duration) -> Self {
        self.overflow_wait = wait;
        self
    }

    /// Puts the bus's channels in `namespace`: they are keyed by
    /// `<ns>|Legacy` (default: no namespace).
    ///
    /// ```
    /// use psrpc_bus_local::{LocalBus, LocalBusOptions};
    /// let ns = "blue".parse().unwrap();
    /// let bus = LocalBus::with_options(LocalBusOptions::default().namespace(ns));
    /// assert_eq!(bus.namespace().map(|ns| ns.as_str()), Some("blue"));
    /// ```
    #[must_use]
    pub fn namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = Some(namespace);
        self
    }

    /// Refuses frames larger than `bytes` (envelope and payload) with
    /// `resource_exhausted`, as a broker bus does (default: no limit; see
    /// the crate docs).
    ///
    /// ```
    /// use psrpc_protocol::MessageBus as _;
    /// use psrpc_bus_local::{LocalBus, LocalBusOptions};
    /// let bus = LocalBus::with_options(LocalBusOptions::default().max_frame_size(1 << 20));
    /// assert_eq!(bus.max_frame_size(), 1 << 20);
    /// assert_eq!(LocalBus::new().max_frame_size(), usize::MAX);
    /// ```
    #[must_use]
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = Some(bytes);
        self
    }
}

/// The in-process bus. Clones share one bus.
///
/// Clients and servers take it as a
/// [`SharedBus`](psrpc_protocol::bus::SharedBus); through the `psrpc`
/// facade it is `psrpc::local::LocalBus`.
///
/// ```
/// use std::sync::Arc;
/// use psrpc_bus_local::LocalBus;
/// use psrpc_protocol::{MessageBus, SharedBus};
/// use psrpc_protocol::channel;
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc_protocol::BusError> {
/// let bus = LocalBus::new();
/// let shared: SharedBus = Arc::new(bus.clone()); // what clients and servers take
/// let ch = channel::response_channel("Svc", "CLI_a");
/// let mut sub = shared.subscribe(&ch, 8).await?;
/// bus.publish(&ch, "hi".into()).await?; // a clone publishes on the same bus
/// assert_eq!(sub.recv().await.expect("open")?, "hi");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct LocalBus {
    inner: Arc<Inner>,
    /// This handle's namespace (views of one bus may differ).
    namespace: Option<Namespace>,
}

#[derive(Debug, Default)]
struct Inner {
    options: LocalBusOptions,
    channels: RwLock<HashMap<Arc<str>, Arc<Subscribers>>>,
    closed: ClosedFlag,
    taps: Taps,
}

/// Whether the bus is closed, on a cache line of its own: every publish
/// reads it, and it must not share a line with the channel table's lock,
/// which every publish writes.
#[derive(Debug, Default)]
#[repr(align(128))]
struct ClosedFlag(AtomicBool);

/// The subscribers of one channel: an immutable snapshot, replaced (never
/// mutated) when a subscription joins or leaves, so a publisher takes it
/// with one `Arc` clone under the table's read lock.
#[derive(Debug, Default)]
struct Subscribers {
    plain: Box<[Member]>,
    queue: Box<[Member]>,
    /// Whose turn it is among the queue members; shared by the snapshots
    /// that replace this one.
    next_queue: Arc<AtomicUsize>,
}

#[derive(Debug, Clone)]
struct Member {
    id: u64,
    sender: SubscriptionSender,
}

impl Subscribers {
    /// This snapshot with `member` added to the plain or the queue list.
    fn with(&self, member: Member, queue: bool) -> Subscribers {
        let add = |list: &[Member]| list.iter().cloned().chain([member]).collect();
        let (plain, queue) =
            if queue { (self.plain.clone(), add(&self.queue)) } else { (add(&self.plain), self.queue.clone()) };
        Subscribers { plain, queue, next_queue: Arc::clone(&self.next_queue) }
    }

    /// This snapshot without the member `id`.
    fn without(&self, id: u64) -> Subscribers {
        let remove = |list: &[Member]| list.iter().filter(|m| m.id != id).cloned().collect();
        Subscribers { plain: remove(&self.plain), queue: remove(&self.queue), next_queue: Arc::clone(&self.next_queue) }
    }

    fn len(&self) -> usize {
        self.plain.len() + self.queue.len()
    }

    /// Takes the next turn among the queue members: the index to start
    /// from (modulo their number), or `None` without any.
    fn take_queue_turn(&self) -> Option<usize> {
        (!self.queue.is_empty()).then(|| self.next_queue.fetch_add(1, Ordering::Relaxed))
    }
}

static NEXT_MEMBER: AtomicU64 = AtomicU64::new(1);

impl LocalBus {
    /// A new, empty bus with default options.
    ///
    /// ```
    /// let bus = psrpc_bus_local::LocalBus::new();
    /// assert_eq!(bus.subscription_count(), 0);
    /// ```
    pub fn new() -> Self {
        LocalBus::default()
    }

    /// A new, empty bus with `options`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use psrpc_bus_local::{LocalBus, LocalBusOptions};
    /// let bus = LocalBus::with_options(LocalBusOptions::default().overflow_wait(Duration::from_millis(5)));
    /// assert_eq!(bus.subscription_count(), 0);
    /// ```
    pub fn with_options(options: LocalBusOptions) -> Self {
        let namespace = options.namespace.clone();
        LocalBus { inner: Arc::new(Inner { options, ..Inner::default() }), namespace }
    }

    /// The namespace of this handle's channels, if any.
    ///
    /// ```
    /// assert!(psrpc_bus_local::LocalBus::new().namespace().is_none());
    /// ```
    pub fn namespace(&self) -> Option<&Namespace> {
        self.namespace.as_ref()
    }

    /// A handle on the same bus whose channels are in `namespace` (`None`:
    /// no namespace). Handles in different namespaces never see each
    /// other's frames, as deployments in different namespaces on one broker.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc_protocol::BusError> {
    /// use psrpc_bus_local::LocalBus;
    /// use psrpc_protocol::{MessageBus, channel};
    /// let bus = LocalBus::new();
    /// let blue = bus.in_namespace(Some("blue".parse().unwrap()));
    /// let ch = channel::response_channel("Svc", "CLI_a");
    /// let mut in_blue = blue.subscribe(&ch, 4).await?;
    /// bus.publish(&ch, "outside".into()).await?; // no namespace: not blue's
    /// blue.publish(&ch, "inside".into()).await?;
    /// assert_eq!(in_blue.recv().await.expect("open")?, "inside");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn in_namespace(&self, namespace: Option<Namespace>) -> LocalBus {
        LocalBus { inner: Arc::clone(&self.inner), namespace }
    }

    /// The number of live subscriptions on this bus, over every channel: a
    /// subscription counts from `subscribe` until it is dropped (or the bus
    /// closes). Handy to check that nothing outlives its owner.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc_protocol::BusError> {
    /// use psrpc_bus_local::LocalBus;
    /// use psrpc_protocol::MessageBus;
    /// use psrpc_protocol::channel;
    ///
    /// let bus = LocalBus::new();
    /// let sub = bus.subscribe(&channel::request_channel("Svc", "M", &[] as &[&str], false), 16).await?;
    /// assert_eq!(bus.subscription_count(), 1);
    /// drop(sub);
    /// assert_eq!(bus.subscription_count(), 0);
    /// # Ok(()) }
    /// ```
    pub fn subscription_count(&self) -> usize {
        self.inner.channels.read().values().map(|s| s.len()).sum()
    }

    fn check_open(&self) -> Result<(), BusError> {
        if self.inner.closed.0.load(Ordering::Acquire) { Err(BusError::closed()) } else { Ok(()) }
    }

    /// Checks a publish of `frame` on `channel` and shows the frame to the
    /// taps: the channel's subscribers, `None` without any.
    fn subscribers_for(&self, channel: &Channel, frame: &Bytes) -> Result<Option<Arc<Subscribers>>, BusError> {
        self.check_open()?;
        let key = redis_name(self.namespace.as_ref(), &channel.legacy);
        check_channel_len(&key, MAX_CHANNEL_NAME_LEN)?;
        check_frame_size(self, "frame", channel, frame.len())?;
        self.inner.taps.deliver(self.namespace.as_ref(), &channel.legacy, frame);
        Ok(self.inner.channels.read().get(&*key).cloned())
    }

    fn join(&self, channel: &Channel, capacity: usize, queue: bool) -> Result<Subscription, BusError> {
        self.check_open()?;
        let key = channel_redis_name(self.namespace.as_ref(), channel);
        check_channel_len(&key, MAX_CHANNEL_NAME_LEN)?;
        let id = NEXT_MEMBER.fetch_add(1, Ordering::Relaxed);
        let weak = Arc::downgrade(&self.inner);
        let unsubscribe_key = Arc::clone(&key);
        let (sender, subscription) = Subscription::new(capacity, move || {
            if let Some(inner) = weak.upgrade() {
                inner.leave(&unsubscribe_key, id);
            }
        });
        let mut channels = self.inner.channels.write();
        let subscribers = channels.entry(key).or_default();
        *subscribers = Arc::new(subscribers.with(Member { id, sender }, queue));
        Ok(subscription)
    }
}

impl Inner {
    fn leave(&self, key: &Arc<str>, id: u64) {
        let mut channels = self.channels.write();
        if let Some(subscribers) = channels.get_mut(key) {
            let rest = subscribers.without(id);
            if rest.len() == 0 {
                channels.remove(key);
            } else {
                *subscribers = Arc::new(rest);
            }
        }
    }
}

impl MessageBus for LocalBus {
    fn publish<'a>(&'a self, channel: &'a Channel, frame: Bytes) -> BoxFuture<'a, Result<(), BusError>> {
        let subscribers = match self.subscribers_for(channel, &frame) {
            Ok(Some(subscribers)) => subscribers,
            Ok(None) => return Box::pin(Published),
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        // Delivered at once unless a buffer is full (see `delivery`).
        match delivery::at_once(subscribers, frame) {
            None => Box::pin(Published),
            Some(rest) => Box::pin(async move {
                rest.finish(self.inner.options.overflow_wait).await;
                Ok(())
            }),
        }
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

    /// Taps the channels whose Legacy name starts with `Svc|` (the service
    /// sanitised); see the `tap` module.
    fn tap<'a>(&'a self, service: &'a str, capacity: usize) -> BoxFuture<'a, Result<TapSubscription, BusError>> {
        Box::pin(async move {
            self.check_open()?;
            Ok(self.inner.taps.add(service, self.namespace.clone(), capacity))
        })
    }

    fn max_frame_size(&self) -> usize {
        self.inner.options.max_frame_size.unwrap_or(usize::MAX)
    }

    fn frame_limit(&self, channel: &Channel) -> FrameLimit {
        let key = redis_name(self.namespace.as_ref(), &channel.legacy);
        FrameLimit::new("the in-process bus's max_frame_size option", format!("channel {key}"))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.closed.0.store(true, Ordering::Release);
            // Dropping every sender ends every subscription stream.
            self.inner.channels.write().clear();
            self.inner.taps.clear();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psrpc_protocol::bus::BusErrorKind;
    use psrpc_protocol::channel::request_channel;
    use tokio::time::Instant;

    /// A received item with the error reduced to its kind, for comparisons.
    fn kinds(item: Option<Result<Bytes, BusError>>) -> Option<Result<Bytes, BusErrorKind>> {
        item.map(|r| r.map_err(|e| e.kind()))
    }

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
        assert_eq!(kinds(other.recv().await), Some(Ok(Bytes::from_static(b"x"))));

        assert_eq!(kinds(stalled.recv().await), Some(Err(BusErrorKind::SlowConsumer { dropped: 1 })));
        assert_eq!(kinds(stalled.recv().await), Some(Ok(Bytes::from_static(b"1"))));
    }

    #[tokio::test(start_paused = true)]
    async fn one_publish_waits_the_bound_once_however_many_subscribers_are_full() {
        let bus = LocalBus::new();
        let ch = request_channel("S", "M", &["t"], false);
        let mut first = bus.subscribe(&ch, 1).await.expect("subscribe");
        let mut second = bus.subscribe(&ch, 1).await.expect("subscribe");
        bus.publish(&ch, Bytes::from_static(b"1")).await.expect("fits");
        let mut healthy = bus.subscribe(&ch, 4).await.expect("subscribe");

        let started = Instant::now();
        bus.publish(&ch, Bytes::from_static(b"2")).await.expect("waits, then drops");
        assert_eq!(started.elapsed(), LocalBusOptions::default().overflow_wait);

        assert_eq!(kinds(healthy.recv().await), Some(Ok(Bytes::from_static(b"2"))));
        for full in [&mut first, &mut second] {
            assert_eq!(kinds(full.recv().await), Some(Err(BusErrorKind::SlowConsumer { dropped: 1 })));
            assert_eq!(kinds(full.recv().await), Some(Ok(Bytes::from_static(b"1"))));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_publish_that_meets_a_full_buffer_goes_on_from_it_in_order() {
        let bus = LocalBus::new();
        let ch = request_channel("S", "M", &["t"], false);
        let mut full = bus.subscribe(&ch, 1).await.expect("subscribe");
        let mut plain = bus.subscribe(&ch, 4).await.expect("subscribe");
        let mut queued = bus.subscribe_queue(&ch, 4).await.expect("subscribe");
        bus.publish(&ch, Bytes::from_static(b"1")).await.expect("at once");

        let started = Instant::now();
        bus.publish(&ch, Bytes::from_static(b"2")).await.expect("waits, then drops");
        assert_eq!(started.elapsed(), LocalBusOptions::default().overflow_wait);
        for member in [&mut plain, &mut queued] {
            assert_eq!(kinds(member.recv().await), Some(Ok(Bytes::from_static(b"1"))));
            assert_eq!(kinds(member.recv().await), Some(Ok(Bytes::from_static(b"2"))));
        }
        assert_eq!(kinds(full.recv().await), Some(Err(BusErrorKind::SlowConsumer { dropped: 1 })));
        assert_eq!(kinds(full.recv().await), Some(Ok(Bytes::from_static(b"1"))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_member_keeps_its_turn_until_the_bound() {
        let bus = LocalBus::new();
        let ch = request_channel("S", "M", &["t"], true);
        let mut first = bus.subscribe_queue(&ch, 1).await.expect("subscribe");
        let mut second = bus.subscribe_queue(&ch, 1).await.expect("subscribe");
        for frame in [&b"1"[..], b"2"] {
            bus.publish(&ch, Bytes::from_static(frame)).await.expect("at once");
        }

        let started = Instant::now();
        bus.publish(&ch, Bytes::from_static(b"3")).await.expect("waits, then drops");
        assert_eq!(started.elapsed(), LocalBusOptions::default().overflow_wait);
        assert_eq!(kinds(first.recv().await), Some(Err(BusErrorKind::SlowConsumer { dropped: 1 })));
        assert_eq!(kinds(first.recv().await), Some(Ok(Bytes::from_static(b"1"))));
        assert_eq!(kinds(second.recv().await), Some(Ok(Bytes::from_static(b"2"))));
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
        assert_eq!(kinds(sub.recv().await), Some(Ok(Bytes::from_static(b"1"))));
        publisher.await.expect("task").expect("publish");
        assert_eq!(kinds(sub.recv().await), Some(Ok(Bytes::from_static(b"2"))));
    }

    #[tokio::test]
    async fn channel_names_over_the_limit_are_refused_and_leave_nothing() {
        let bus = LocalBus::new();
        let long = request_channel("S", "M", &["t".repeat(MAX_CHANNEL_NAME_LEN)], false);
        let err = bus.subscribe(&long, 1).await.expect_err("refused");
        assert_eq!(err.kind(), BusErrorKind::InvalidChannel);
        let err = bus.publish(&long, Bytes::from_static(b"x")).await.expect_err("refused");
        assert_eq!(psrpc_protocol::Error::from(err).code(), psrpc_protocol::ErrorCode::InvalidArgument);
        assert!(bus.inner.channels.read().is_empty());
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

    #[tokio::test]
    async fn a_tap_sees_its_service_only_and_ends_with_the_bus() {
        let bus = LocalBus::new();
        let mut tap = bus.tap("my-svc", 8).await.expect("tap");
        let mine = request_channel("my-svc", "M", &["t"], true);
        let other = request_channel("my-svcs", "M", &["t"], true);
        let queued = bus.subscribe_queue(&mine, 8).await.expect("subscribe");
        bus.publish(&other, Bytes::from_static(b"other")).await.expect("publish");
        bus.publish(&mine, Bytes::from_static(b"mine")).await.expect("publish");
        let tapped = tap.recv().await.expect("open").expect("a frame");
        assert_eq!((&*tapped.channel, &tapped.frame[..]), ("myu+002dsvc|M|t|REQ", &b"mine"[..]));
        assert_eq!(queued.buffered(), 1, "the queue subscriber still got it");
        bus.close().await;
        assert!(tap.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_tap_sees_its_namespace_only() {
        let bus = LocalBus::new();
        let a = bus.in_namespace(Some(Namespace::new("a").unwrap()));
        let mut tap = a.tap("S", 8).await.expect("tap");
        let ch = request_channel("S", "M", &[] as &[&str], true);
        bus.publish(&ch, Bytes::from_static(b"none")).await.expect("publish");
        a.publish(&ch, Bytes::from_static(b"a")).await.expect("publish");
        let tapped = tap.recv().await.expect("open").expect("a frame");
        assert_eq!((&*tapped.channel, &tapped.frame[..]), ("S|M|REQ", &b"a"[..]));
    }

    #[tokio::test]
    async fn namespaces_key_channels_apart() {
        let bus = LocalBus::new();
        let a = bus.in_namespace(Some(Namespace::new("a").unwrap()));
        let b = LocalBus {
            inner: Arc::clone(&bus.inner),
            ..LocalBus::with_options(LocalBusOptions::default().namespace(Namespace::new("b").unwrap()))
        };
        let ch = request_channel("S", "Q", &["t"], true);
        let mut in_b = b.subscribe_queue(&ch, 8).await.expect("subscribe");
        let mut outside = bus.subscribe_queue(&ch, 8).await.expect("subscribe");
        assert!(bus.inner.channels.read().contains_key("b|S|Q|t|REQ"));
        a.publish(&ch, Bytes::from_static(b"a")).await.expect("publish");
        b.publish(&ch, Bytes::from_static(b"b")).await.expect("publish");
        bus.publish(&ch, Bytes::from_static(b"none")).await.expect("publish");
        assert_eq!(kinds(in_b.recv().await), Some(Ok(Bytes::from_static(b"b"))));
        assert_eq!(kinds(outside.recv().await), Some(Ok(Bytes::from_static(b"none"))));
        assert_eq!((in_b.buffered(), outside.buffered()), (0, 0));
    }
}
