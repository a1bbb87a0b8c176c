//! Request metadata: string pairs sent with requests and stream opens.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Metadata sent with a request (`Request.metadata`, `StreamOpen.metadata`);
/// handlers read it with [`RequestContext::metadata`](crate::context::RequestContext::metadata).
///
/// ```
/// let mut metadata = psrpc::Metadata::new();
/// metadata.insert("tenant".into(), "acme".into());
/// // A call sends entries given one at a time with `RequestOptions::metadata`.
/// let options = metadata.into_iter().fold(psrpc::RequestOptions::default(), |o, (k, v)| o.metadata(k, v));
/// assert!(format!("{options:?}").contains(r#""tenant": "acme""#));
/// ```
pub type Metadata = HashMap<String, String>;

/// Wall-clock time as Unix epoch nanoseconds (the wire's time format).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use psrpc_core::metadata::unix_nanos;
/// assert_eq!(unix_nanos(UNIX_EPOCH + Duration::from_secs(2)), 2_000_000_000);
/// ```
pub fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Unix epoch nanoseconds as wall-clock time (negative values clamp to the epoch).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use psrpc_core::metadata::from_unix_nanos;
/// assert_eq!(from_unix_nanos(1_500_000_000), UNIX_EPOCH + Duration::from_millis(1500));
/// assert_eq!(from_unix_nanos(-1), UNIX_EPOCH);
/// ```
pub fn from_unix_nanos(nanos: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// Time left until the wire time `expiry` (zero if past).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use psrpc_core::metadata::{unix_nanos, until};
/// let expiry = unix_nanos(SystemTime::now() + Duration::from_secs(60));
/// assert!(until(expiry) > Duration::from_secs(50));
/// assert_eq!(until(0), Duration::ZERO);
/// ```
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
