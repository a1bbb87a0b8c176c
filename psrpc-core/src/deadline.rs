//! Deadline arithmetic that never panics.
//!
//! Timeouts come from users (`Duration::MAX` is a natural "no timeout") and
//! from the wire; adding them to a clock reading must saturate, not overflow.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::metadata::unix_nanos;

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
}
