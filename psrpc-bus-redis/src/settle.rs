//! Bounded waits for Redis's answer, and asking whether a command took
//! effect when its answer never came.
//!
//! A command whose reply is late (the response timeout passed) or lost
//! (the connection broke after it was sent) may or may not have run. Most
//! commands leave it there and fail: the caller learns Redis did not
//! answer. A command whose effect a read can tell (the queue lock, see the
//! `queue` module) is followed by that read instead ([`settle`]), with a
//! backoff, until Redis answers one of the asks or [`CHECK_WITHIN`] has
//! passed.
//!
//! Decision: the command itself is never sent again. On a live connection
//! a read sent after it is answered after it ran (Redis answers one
//! connection in order), so the read tells its outcome as well as a
//! repeat would. After a broken connection a repeat could reach a
//! different Redis (one restarted empty, or a replica a failover promoted)
//! that never saw what others did before the break, and take a lock another
//! member holds on the old one: a frame handled twice. A read cannot.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long after its first ask [`settle`] may check whether that ask took
/// effect: within the queue lock's 5 s lifetime, so a lock the first ask
/// took is still there to be seen.
pub(crate) const CHECK_WITHIN: Duration = Duration::from_millis(4500);

/// What one ask of [`settle`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    /// The command; it gets the whole response timeout.
    First,
    /// A question whether the command took effect (changing nothing),
    /// until [`CHECK_WITHIN`] after the first ask.
    Check,
}

/// The pause after the first ask that got no answer; it doubles after each
/// further one, up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(20);

/// The longest pause between two asks.
const LONGEST_PAUSE: Duration = Duration::from_millis(500);

/// Why a command on Redis did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Redis refused it, or the connection failed.
    Redis(redis::RedisError),
    /// No answer came within this long.
    NoAnswer(Duration),
}

/// Whether Redis refuses `e`'s command for good (an ACL, scripting disabled
/// or unknown, a malformed command), so asking again cannot help.
pub(crate) fn refused(e: &redis::RedisError) -> bool {
    use redis::ServerErrorKind::{NoPerm, ResponseError};
    matches!(e.kind(), redis::ErrorKind::Server(NoPerm | ResponseError))
}

/// Runs `command`, failing with [`Failure::NoAnswer`] if it takes longer
/// than `limit`. The limit counts from the first poll, so a caller that
/// waits for its turn before polling does not spend the limit waiting.
pub(crate) async fn within<T>(
    limit: Duration,
    command: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, command).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Failure::Redis(e)),
        Err(_) => Err(Failure::NoAnswer(limit)),
    }
}

/// Runs `ask(Ask::First)`, then, while Redis has answered none of them,
/// `ask(Ask::Check)` (see [`Ask`]). The first ask may take `timeout`, each
/// check `timeout` cut to what is left until [`CHECK_WITHIN`]; one that
/// fails without an answer (no reply in time, a broken connection, a node
/// busy, failing over or loading) is followed by a check after a pause of
/// 20 ms, doubling up to 500 ms. Ends with the first answer, with a refusal
/// (see [`refused`]), or, once no check fits within [`CHECK_WITHIN`], with
/// the last failure ([`Failure::NoAnswer`] if Redis did not reply).
pub(crate) async fn settle<T, F, Fut>(timeout: Duration, mut ask: F) -> Result<T, Failure>
where
    F: FnMut(Ask) -> Fut,
    Fut: Future<Output = redis::RedisResult<T>>,
{
    let first = Instant::now();
    let check_until = first + CHECK_WITHIN;
    let mut pause = FIRST_PAUSE;
    let mut next = Ask::First;
    loop {
        let limit = match next {
            Ask::First => timeout,
            Ask::Check => timeout.min(check_until.saturating_duration_since(Instant::now())),
        };
        let failure = match within(limit, ask(next)).await {
            Ok(answer) => return Ok(answer),
            Err(Failure::Redis(e)) if refused(&e) => return Err(Failure::Redis(e)),
            Err(failure) => failure,
        };
        let at = Instant::now() + pause;
        if at >= check_until {
            return Err(match failure {
                Failure::NoAnswer(_) => Failure::NoAnswer(at.saturating_duration_since(first)),
                redis => redis,
            });
        }
        next = Ask::Check;
        tracing::debug!(failure = ?failure, "psrpc redis: no answer yet; asking whether it took effect");
        tokio::time::sleep_until(at).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn dropped() -> redis::RedisError {
        std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset").into()
    }

    fn no_permission() -> redis::RedisError {
        redis::RedisError::from((redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm), "NOPERM"))
    }

    #[tokio::test(start_paused = true)]
    async fn late_and_lost_replies_are_checked_until_an_answer_comes() {
        let asks = AtomicUsize::new(0);
        let answer = settle(Duration::from_millis(100), |ask| {
            let n = asks.fetch_add(1, Ordering::Relaxed);
            async move {
                match n {
                    // A reply later than the timeout, then a broken connection.
                    0 => std::future::pending().await,
                    1 => Err(dropped()),
                    _ => Ok((n, ask)),
                }
            }
        })
        .await;
        assert_eq!(answer.expect("answered"), (2, Ask::Check), "the command is sent once, then only checked");
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_ask_gets_the_whole_timeout_and_the_checks_what_is_left() {
        let started = Instant::now();
        let asks = std::sync::Mutex::new(Vec::new());
        let answer = settle(Duration::from_secs(3), |ask| {
            asks.lock().expect("asks").push((ask, started.elapsed()));
            async move {
                match ask {
                    Ask::First => std::future::pending().await,
                    _ => Ok(ask),
                }
            }
        })
        .await;
        assert_eq!(answer.expect("answered"), Ask::Check);
        let asks = asks.into_inner().expect("asks");
        assert_eq!(asks[0], (Ask::First, Duration::ZERO));
        assert_eq!(asks.len(), 2);
        assert!(asks[1].1 >= Duration::from_secs(3), "the first ask had its whole timeout: {asks:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_ends_at_once() {
        let asks = AtomicUsize::new(0);
        let answer: Result<(), _> = settle(Duration::from_millis(100), |_| {
            asks.fetch_add(1, Ordering::Relaxed);
            async { Err(no_permission()) }
        })
        .await;
        assert!(matches!(answer, Err(Failure::Redis(e)) if refused(&e)));
        assert_eq!(asks.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn silence_ends_within_the_check_window() {
        let started = Instant::now();
        let asks = std::sync::Mutex::new(Vec::new());
        let answer: Result<(), _> = settle(Duration::from_secs(1), |ask| {
            asks.lock().expect("asks").push((ask, started.elapsed()));
            std::future::pending()
        })
        .await;
        assert!(matches!(answer, Err(Failure::NoAnswer(_))));
        assert!(started.elapsed() <= CHECK_WITHIN, "gave up after {:?}", started.elapsed());
        let asks = asks.into_inner().expect("asks");
        assert_eq!(asks.iter().filter(|(ask, _)| *ask == Ask::First).count(), 1, "sent once: {asks:?}");
        assert!(asks.iter().skip(1).all(|(ask, at)| *ask == Ask::Check && *at < CHECK_WITHIN), "{asks:?}");
        assert!(asks.len() >= 2, "checked: {asks:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_connection_failure_is_reported() {
        let answer: Result<(), _> = settle(Duration::from_millis(100), |_| async { Err(dropped()) }).await;
        assert!(matches!(answer, Err(Failure::Redis(e)) if e.is_connection_dropped()));
    }

    #[tokio::test(start_paused = true)]
    async fn within_counts_from_the_first_poll() {
        let command = within(Duration::from_millis(100), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(())
        });
        // A wait for a turn before the command runs is not counted.
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(command.await.is_ok());
    }
}
