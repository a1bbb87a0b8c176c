//! Request metadata: string pairs sent with requests and stream opens.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Metadata sent with a request (`Request.metadata`, `StreamOpen.metadata`).
pub type Metadata = HashMap<String, String>;

/// Wall-clock time as Unix epoch nanoseconds (the wire's time format).
pub fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Unix epoch nanoseconds as wall-clock time (negative values clamp to the epoch).
pub fn from_unix_nanos(nanos: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// Time left until the wire time `expiry` (zero if past).
pub fn until(expiry: i64) -> Duration {
    from_unix_nanos(expiry).duration_since(SystemTime::now()).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_round_trip_and_clamp() {
        let t = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(from_unix_nanos(unix_nanos(t)), t);
        assert_eq!(from_unix_nanos(-5), UNIX_EPOCH);
        assert_eq!(until(0), Duration::ZERO);
        assert!(until(unix_nanos(SystemTime::now() + Duration::from_secs(60))) > Duration::from_secs(50));
    }
}
