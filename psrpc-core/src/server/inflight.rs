//! Counting work in flight, so shutdown can wait for it to drain, and
//! cancelling what a drain did not wait for.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

/// Counts running handlers; [`wait_idle`](InFlight::wait_idle) resolves at
/// zero. [`cancel`](InFlight::cancel) tells the work to end.
#[derive(Debug)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    idle: Notify,
    cancelled: watch::Sender<bool>,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight { count: AtomicUsize::new(0), idle: Notify::new(), cancelled: watch::channel(false).0 }
    }
}

/// One unit of work in flight; dropping it ends the work.
#[derive(Debug)]
pub(crate) struct Work(Arc<InFlight>);

impl InFlight {
    pub(crate) fn start(self: &Arc<Self>) -> Work {
        self.count.fetch_add(1, Ordering::SeqCst);
        Work(Arc::clone(self))
    }

    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Tells every piece of work, running or still to start, to end.
    pub(crate) fn cancel(&self) {
        self.cancelled.send_replace(true);
    }

    /// Raised once the work is cancelled (see [`signal::raised`](crate::signal::raised)).
    pub(crate) fn cancelled(&self) -> watch::Receiver<bool> {
        self.cancelled.subscribe()
    }

    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Work {
    /// Raised once this work is cancelled.
    pub(crate) fn cancelled(&self) -> watch::Receiver<bool> {
        self.0.cancelled()
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_until_all_work_ends() {
        let tracker = Arc::new(InFlight::default());
        tracker.wait_idle().await;
        let a = tracker.start();
        let b = tracker.start();
        let waiter = tokio::spawn({
            let t = Arc::clone(&tracker);
            async move { t.wait_idle().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        waiter.await.expect("idle");
        assert_eq!(tracker.count(), 0);
    }
}
