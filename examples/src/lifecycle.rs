//! What every long-running example needs: stopping on a signal, and a
//! publisher that outlives broker outages.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

/// The signal that asked the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (what `kill`, systemd and Kubernetes send).
    Terminate,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// Starts listening for SIGINT and SIGTERM; the returned future resolves with
/// the first of them to arrive.
///
/// The handlers are installed by this call, not when the future is first
/// polled, so a signal that arrives while the caller is still setting up is
/// not lost. From then on neither signal ends the process by itself: the
/// caller owns the shutdown (drain servers, close clients, exit 0). On
/// platforms without Unix signals only Ctrl-C is watched.
///
/// ```no_run
/// # async fn demo() -> anyhow::Result<()> {
/// let stop = psrpc_examples::shutdown_signal()?;
/// // ... start servers and clients ...
/// let signal = stop.await;
/// println!("{signal}: draining");
/// // ... server.shutdown().await; client.close().await ...
/// # Ok(()) }
/// ```
#[cfg(unix)]
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = Signal> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => Signal::Interrupt,
            _ = terminate.recv() => Signal::Terminate,
        }
    })
}

/// Starts listening for Ctrl-C (the only stop signal on this platform).
#[cfg(not(unix))]
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = Signal> + Send + 'static> {
    Ok(async {
        // Without a handler the process ends on Ctrl-C anyway.
        let _ = tokio::signal::ctrl_c().await;
        Signal::Interrupt
    })
}

/// [`shutdown_signal`], announced: the returned future prints
/// `SIGTERM: draining` (or `SIGINT: …`) when the signal arrives, then
/// resolves, for examples whose only answer to a signal is to drain.
///
/// ```no_run
/// # async fn demo(server: psrpc::RpcServer) -> anyhow::Result<()> {
/// let stop = psrpc_examples::draining_signal()?;
/// // ... start servers and clients ...
/// stop.await; // prints "SIGTERM: draining"
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub fn draining_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    let stop = shutdown_signal()?;
    Ok(async {
        let signal = stop.await;
        println!("{signal}: draining");
    })
}

/// How long [`publish_every`] waits after a failed round before the next.
pub const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Calls `publish(round)` every `period` (rounds numbered from 0) until `stop`
/// resolves.
///
/// A failed round never ends the loop: while the bus is down (a broker
/// restart, a network cut) publishes fail, and a publisher that gave up would
/// leave its subscribers starving once the bus is back. The first failure of
/// an outage is logged to stderr, the rounds after it wait [`RETRY_PAUSE`] (so
/// an outage neither spins nor floods the log), and the first success after
/// it is logged with the number of failed rounds. Rounds that fall behind
/// (a slow publish) are delayed, not bunched up. `stop` is checked between
/// and during rounds: a publish in progress is abandoned.
///
/// ```no_run
/// use std::time::Duration;
/// use psrpc_examples::my_service::{MyServiceServer, MyUpdate};
/// use psrpc_examples::my_service_app::Region;
///
/// # async fn demo(server: MyServiceServer<Region>) -> anyhow::Result<()> {
/// let stop = psrpc_examples::shutdown_signal()?;
/// psrpc_examples::publish_every(
///     Duration::from_millis(200),
///     |round| {
///         let server = &server;
///         async move { server.publish_update_state(&MyUpdate { text: format!("update {round}") }).await }
///     },
///     async {
///         stop.await;
///     },
/// )
/// .await;
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub async fn publish_every<F, Fut, E>(period: Duration, mut publish: F, stop: impl Future<Output = ()>)
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    let rounds = async {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failed = 0u64;
        for round in 0u64.. {
            tick.tick().await;
            match publish(round).await {
                Ok(()) if failed > 0 => {
                    eprintln!("publishing again after {failed} failed round(s)");
                    failed = 0;
                }
                Ok(()) => {}
                Err(e) => {
                    if failed == 0 {
                        eprintln!("publish failed: {e}; retrying every {RETRY_PAUSE:?}");
                    }
                    failed += 1;
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    };
    tokio::select! {
        () = rounds => {}
        () = stop => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::time::Instant;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn publishing_goes_on_through_failures_with_a_pause_and_ends_on_stop() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&calls);
        let start = Instant::now();
        let period = Duration::from_millis(200);
        publish_every(
            period,
            move |round| {
                log.lock().expect("log").push((round, start.elapsed()));
                // Rounds 2, 3 and 4 fail, as during a broker outage.
                async move { if (2..5).contains(&round) { Err("unavailable") } else { Ok(()) } }
            },
            tokio::time::sleep(Duration::from_secs(6)),
        )
        .await;
        assert_eq!(start.elapsed(), Duration::from_secs(6), "stop ends the loop");
        let calls = calls.lock().expect("log").clone();
        let rounds: Vec<u64> = calls.iter().map(|(round, _)| *round).collect();
        assert!(rounds.len() > 8, "rounds after the failures: {rounds:?}");
        assert_eq!(rounds, (0..rounds.len() as u64).collect::<Vec<_>>());
        for pair in calls.windows(2) {
            let ((round, at), (_, next)) = (pair[0], pair[1]);
            let gap = next - at;
            if (2..5).contains(&round) {
                assert_eq!(gap, RETRY_PAUSE, "round {round} failed: next after the pause");
            } else {
                assert_eq!(gap, period, "round {round} succeeded: next after one period");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_publish_in_progress_is_abandoned_on_stop() {
        let started = Instant::now();
        publish_every(
            Duration::from_millis(10),
            |_| std::future::pending::<Result<(), &str>>(),
            tokio::time::sleep(Duration::from_secs(1)),
        )
        .await;
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }
}
