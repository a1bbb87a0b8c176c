//! What the bus knows about one of its connections, so calls fail at once
//! while it is down instead of waiting on the reconnect.
//!
//! A connection is marked down when redis-rs reports it lost (a
//! `Disconnection` push) or a command on it fails with a connection error.
//! A revive task then drives the reconnect with `PING`s, with a backoff of
//! 50 ms doubling up to [`MAX_REVIVE_DELAY`], and marks the connection up
//! once one succeeds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;

/// The longest time between two `PING`s of a connection that is down: a
/// server that accepts connections again is used within this much (a
/// `PING` is cheap for Redis, even from a large fleet).
const MAX_REVIVE_DELAY: Duration = Duration::from_millis(250);

/// A `PING` on the connection, or `None` once the bus is gone.
pub(crate) type Ping = Box<dyn Fn() -> Option<BoxFuture<'static, redis::RedisResult<()>>> + Send + Sync>;

/// The state of one connection.
#[derive(Debug)]
pub(crate) struct Link {
    name: &'static str,
    down: AtomicBool,
    reviving: AtomicBool,
    /// How often the connection was lost (see [`Link::losses`]).
    losses: AtomicU64,
}

impl Link {
    /// A connection that is up; `name` is for logs.
    pub(crate) fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Link {
            name,
            down: AtomicBool::new(false),
            reviving: AtomicBool::new(false),
            losses: AtomicU64::new(0),
        })
    }

    /// How often the connection was lost so far. Whatever the bus saw of
    /// Redis before a loss may be gone after it: the server restarted
    /// empty, or a failover put another in its place.
    pub(crate) fn losses(&self) -> u64 {
        self.losses.load(Ordering::Acquire)
    }

    /// Whether the connection is known to be down.
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Counts a loss of the connection and marks it down (see
    /// [`mark_down`](Self::mark_down)).
    pub(crate) fn lost(self: &Arc<Self>, ping: Ping) {
        self.losses.fetch_add(1, Ordering::AcqRel);
        self.mark_down(ping);
    }

    /// Marks the connection down and, unless a revive task runs already,
    /// starts one that retries `ping` until it succeeds.
    fn mark_down(self: &Arc<Self>, ping: Ping) {
        self.down.store(true, Ordering::Release);
        if self.reviving.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(connection = self.name, "psrpc redis: connection lost; reconnecting");
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(Arc::clone(self).revive(ping));
    }

    /// Marks the connection down after `error` if it is a connection
    /// failure, or the node is no master any more (a failover demoted it);
    /// both count as a loss. A reply that did not come within the response
    /// timeout marks it down too, but is no loss: Redis is slow, and the
    /// connection and what Redis holds are the same.
    pub(crate) fn check(self: &Arc<Self>, error: &redis::RedisError, ping: impl FnOnce() -> Ping) {
        use redis::ServerErrorKind::{MasterDown, ReadOnly};
        let demoted = matches!(error.kind(), redis::ErrorKind::Server(ReadOnly | MasterDown));
        if error.is_timeout() {
            self.mark_down(ping());
        } else if error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal() || demoted {
            self.lost(ping());
        }
    }

    async fn revive(self: Arc<Self>, ping: Ping) {
        let mut delay = Duration::from_millis(50);
        loop {
            let Some(attempt) = ping() else { return };
            match attempt.await {
                Ok(()) => {
                    self.reviving.store(false, Ordering::Release);
                    self.down.store(false, Ordering::Release);
                    return tracing::info!(connection = self.name, "psrpc redis: connection restored");
                }
                Err(e) => tracing::debug!(connection = self.name, error = %e, "psrpc redis: still reconnecting"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_REVIVE_DELAY);
        }
    }
}
