//! Deadlines: the caller's deadline that calls inherit, and arithmetic that
//! never panics.
//!
//! A call's request expires at the earlier of `now + timeout` and the
//! caller's deadline, as in Go psrpc: the deadline set in
//! [`RequestOptions::deadline`](crate::options::RequestOptions::deadline), or
//! else the one of the task making the call ([`current`]). Handlers run
//! inside their request's deadline, so calls made while handling a request
//! inherit what is left of its budget and never outlive it. Code of your own
//! can set a deadline for everything it calls with [`scope`].
//!
//! Timeouts come from users (`Duration::MAX` is a natural "no timeout") and
//! from the wire; adding them to a clock reading saturates, never overflows.
//!
//! ```
//! use std::time::Duration;
//! use tokio::time::Instant;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let deadline = Instant::now() + Duration::from_secs(1);
//! psrpc::deadline::scope(deadline, async move {
//!     // Every call made here expires by `deadline` at the latest.
//!     assert_eq!(psrpc::deadline::current(), Some(deadline));
//! })
//! .await;
//! assert_eq!(psrpc::deadline::current(), None);
//! # }
//! ```

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::metadata::unix_nanos;

tokio::task_local! {
    static CURRENT: Instant;
}

/// The deadline of the running task, if it runs inside [`scope`] (every
/// handler does, with its request's deadline).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(psrpc::deadline::current(), None); // outside any scope or handler
/// # }
/// ```
pub fn current() -> Option<Instant> {
    CURRENT.try_with(|deadline| *deadline).ok()
}

/// Runs `work` with `deadline` as the deadline of every call it makes; a
/// scope inside another keeps the earlier of the two deadlines.
///
/// ```
/// use std::time::Duration;
/// use tokio::time::Instant;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let soon = Instant::now() + Duration::from_millis(100);
/// let later = soon + Duration::from_secs(10);
/// let inner = psrpc::deadline::scope(soon, psrpc::deadline::scope(later, async { psrpc::deadline::current() }));
/// assert_eq!(inner.await, Some(soon), "an inner scope never extends the outer one");
/// # }
/// ```
pub async fn scope<F: Future>(deadline: Instant, work: F) -> F::Output {
    let deadline = current().map_or(deadline, |outer| outer.min(deadline));
    CURRENT.scope(deadline, work).await
}

/// The timeout a call may use: `timeout`, shortened to what is left before
/// `deadline` (the caller's, explicit or inherited).
pub(crate) fn within(timeout: Duration, deadline: Option<Instant>) -> Duration {
    match deadline.or_else(current) {
        Some(deadline) => timeout.min(deadline.saturating_duration_since(Instant::now())),
        None => timeout,
    }
}

/// How far a saturated deadline lies: far beyond any call, near enough for
/// every platform's clock to represent.
const FAR: Duration = Duration::from_secs(60 * 60 * 24 * 365 * 30);

/// The instant `timeout` after now, saturating.
pub(crate) fn after(timeout: Duration) -> Instant {
    after_from(Instant::now(), timeout)
}

/// The instant `timeout` after `start`, saturating.
pub(crate) fn after_from(start: Instant, timeout: Duration) -> Instant {
    start.checked_add(timeout).or_else(|| start.checked_add(FAR)).unwrap_or(start)
}

/// The wire expiry (Unix nanoseconds) `timeout` after `now`, saturating at
/// the largest representable time.
pub(crate) fn expiry(now: SystemTime, timeout: Duration) -> i64 {
    now.checked_add(timeout).map_or(i64::MAX, unix_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn huge_timeouts_saturate() {
        let now = Instant::now();
        assert!(after(Duration::MAX) >= now + FAR);
        assert_eq!(after_from(now, Duration::from_secs(3)), now + Duration::from_secs(3));
        assert_eq!(expiry(SystemTime::now(), Duration::MAX), i64::MAX);
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        assert_eq!(expiry(t, Duration::from_secs(5)), 15_000_000_000);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_keep_within_the_callers_deadline() {
        let three = Duration::from_secs(3);
        assert_eq!(within(three, None), three, "no deadline anywhere");
        let soon = Instant::now() + Duration::from_secs(1);
        assert_eq!(within(three, Some(soon)), Duration::from_secs(1));
        assert_eq!(within(Duration::from_millis(10), Some(soon)), Duration::from_millis(10));
        let inherited = scope(soon, async { within(three, None) }).await;
        assert_eq!(inherited, Duration::from_secs(1));
        let explicit_wins = scope(soon, async { within(three, Some(soon + three)) }).await;
        assert_eq!(explicit_wins, three, "an explicit deadline replaces the inherited one");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(within(three, Some(soon)), Duration::ZERO, "past deadlines leave nothing");
    }
}
