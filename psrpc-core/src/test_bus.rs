//! A bus for unit tests: records what is published, or refuses every publish.

use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;

use crate::transport::bus::{BusError, MessageBus, Subscription};
use crate::transport::channel::Channel;

/// Records what is published, or refuses every publish; subscribing fails.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) published: Mutex<Vec<Bytes>>,
    pub(crate) refuse: bool,
}

impl MessageBus for Recorder {
    fn publish<'a>(&'a self, _: &'a Channel, frame: Bytes) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            if self.refuse {
                return Err(BusError::unavailable("refused"));
            }
            self.published.lock().push(frame);
            Ok(())
        })
    }

    fn subscribe<'a>(&'a self, _: &'a Channel, _: usize) -> BoxFuture<'a, Result<Subscription, BusError>> {
        Box::pin(async { Err(BusError::closed()) })
    }

    fn subscribe_queue<'a>(&'a self, _: &'a Channel, _: usize) -> BoxFuture<'a, Result<Subscription, BusError>> {
        Box::pin(async { Err(BusError::closed()) })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
