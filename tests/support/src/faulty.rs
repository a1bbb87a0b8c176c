//! A bus wrapper whose connection can be cut, to play a process that dies
//! without a word, or stalled, to play a half-dead connection; it counts
//! the frames it publishes, to check what a call costs on the wire.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use psrpc_core::SharedBus;
use psrpc_core::transport::bus::{BusError, MessageBus, Subscription};
use psrpc_core::transport::channel::Channel;
use psrpc_core::transport::frame_limit::FrameLimit;

/// Delegates to a bus until [`cut`](CuttableBus::cut); afterwards every
/// publish is silently lost, as if the process had vanished. After
/// [`stall`](CuttableBus::stall) every publish waits forever instead, as on
/// a connection that went quiet without closing.
/// [`published`](CuttableBus::published) counts the frames handed to the
/// wrapped bus.
#[derive(Debug)]
pub struct CuttableBus {
    inner: SharedBus,
    cut: AtomicBool,
    stalled: AtomicBool,
    published: AtomicUsize,
}

impl CuttableBus {
    /// Wraps `inner`.
    pub fn new(inner: SharedBus) -> Arc<Self> {
        Arc::new(CuttableBus {
            inner,
            cut: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            published: AtomicUsize::new(0),
        })
    }

    /// From now on, nothing this bus publishes arrives anywhere.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// From now on, every publish on this bus waits forever.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// How many frames (publishes and claim publishes) went to the wrapped
    /// bus so far.
    pub fn published(&self) -> usize {
        self.published.load(Ordering::SeqCst)
    }
}

impl MessageBus for CuttableBus {
    fn publish<'a>(&'a self, channel: &'a Channel, frame: Bytes) -> BoxFuture<'a, Result<(), BusError>> {
        if self.stalled.load(Ordering::SeqCst) {
            return Box::pin(std::future::pending());
        }
        if self.cut.load(Ordering::SeqCst) {
            return Box::pin(async { Ok(()) });
        }
        self.published.fetch_add(1, Ordering::SeqCst);
        self.inner.publish(channel, frame)
    }

    fn subscribe<'a>(&'a self, channel: &'a Channel, capacity: usize) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.inner.subscribe(channel, capacity)
    }

    fn subscribe_queue<'a>(
        &'a self,
        channel: &'a Channel,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.inner.subscribe_queue(channel, capacity)
    }

    fn subscribe_queue_claimed<'a>(
        &'a self,
        channel: &'a Channel,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.inner.subscribe_queue_claimed(channel, capacity)
    }

    fn publish_claim<'a>(
        &'a self,
        queued: &'a Bytes,
        channel: &'a Channel,
        frame: Bytes,
    ) -> BoxFuture<'a, Result<bool, BusError>> {
        if self.cut.load(Ordering::SeqCst) {
            return Box::pin(async { Ok(true) });
        }
        self.published.fetch_add(1, Ordering::SeqCst);
        self.inner.publish_claim(queued, channel, frame)
    }

    fn frames_carry_local_channel(&self) -> bool {
        self.inner.frames_carry_local_channel()
    }

    fn max_frame_size(&self) -> usize {
        self.inner.max_frame_size()
    }

    fn frame_limit(&self, channel: &Channel) -> FrameLimit {
        self.inner.frame_limit(channel)
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.inner.close()
    }
}
