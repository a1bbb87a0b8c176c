//! How soon the bus tries again after losing its server.
//!
//! async-nats on its own waits 2^(n−1) ms before its n-th attempt, up to
//! 4 s: a broker that was down for a few seconds is back long before the
//! client looks again, and calls resumed up to 4 s after it accepted
//! connections. The bus's schedule keeps the gap between attempts at most
//! [`MAX_RECONNECT_DELAY`], jittered so that a fleet does not come back in
//! step.

use std::time::Duration;

use rand::Rng as _;

/// The longest the bus waits between two attempts to reconnect.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// The first wait that is not zero; each later one doubles it.
const FIRST_RECONNECT_DELAY: Duration = Duration::from_millis(50);

/// The wait before the `attempts`-th attempt to reconnect (counted from 1
/// since the connection was lost): none for the first, then 50 ms doubling
/// up to [`MAX_RECONNECT_DELAY`], each drawn uniformly from its upper half
/// (a doubled 100 ms is 50–100 ms). A server that accepts connections again
/// is reached within 500 ms; a fleet of `n` clients makes about `2n`
/// attempts a second against a server that stays down.
///
/// [`NatsBus::connect`](crate::NatsBus::connect) gives this schedule to
/// async-nats (replacing the `reconnect_delay_callback` of the options it
/// is given); a connection made by hand can take it too:
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let options = async_nats::ConnectOptions::new().reconnect_delay_callback(psrpc_bus_nats::reconnect_delay);
/// let bus = psrpc_bus_nats::NatsBus::from_client(options.connect("nats://127.0.0.1:4222").await?).await?;
/// # let _ = bus; Ok(()) }
/// ```
pub fn reconnect_delay(attempts: usize) -> Duration {
    let ceiling = ceiling(attempts);
    if ceiling.is_zero() {
        return ceiling;
    }
    rand::rng().random_range(ceiling / 2..=ceiling)
}

/// The longest wait before the `attempts`-th attempt.
fn ceiling(attempts: usize) -> Duration {
    match attempts {
        0 | 1 => Duration::ZERO,
        n => {
            let doublings = u32::try_from(n - 2).unwrap_or(u32::MAX).min(16);
            FIRST_RECONNECT_DELAY.saturating_mul(1 << doublings).min(MAX_RECONNECT_DELAY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_attempt_is_at_once_and_the_gap_never_exceeds_the_maximum() {
        assert_eq!(reconnect_delay(0), Duration::ZERO);
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        let ceilings: Vec<u64> = (2..8).map(|n| ceiling(n).as_millis() as u64).collect();
        assert_eq!(ceilings, [50, 100, 200, 400, 500, 500]);
        assert_eq!(ceiling(usize::MAX), MAX_RECONNECT_DELAY);
        for attempts in 2..200 {
            let delay = reconnect_delay(attempts);
            let top = ceiling(attempts);
            assert!(delay >= top / 2 && delay <= top, "attempt {attempts}: {delay:?} outside {top:?}");
        }
    }

    #[test]
    fn delays_are_jittered() {
        let draws: std::collections::HashSet<Duration> = (0..64).map(|_| reconnect_delay(20)).collect();
        assert!(draws.len() > 1, "64 draws were all {draws:?}");
    }
}
