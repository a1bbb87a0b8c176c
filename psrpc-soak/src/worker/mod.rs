//! The worker processes the orchestrator spawns: servers and clients of the
//! soak's service, each reporting what it does as events on standard
//! output (see `events`).
//!
//! A worker connects (retrying every 200 ms while the broker is down, as a
//! restarted process may find it), reports `ready`, and works until its
//! standard input closes (the orchestrator is gone: the worker exits at
//! once) or it gets `SIGTERM` (a server drains first).

pub(crate) mod client;
pub(crate) mod memory;
pub(crate) mod server;

use std::sync::Arc;
use std::time::Duration;

use psrpc::{SharedBus, StreamKeepalive};
use tokio::io::AsyncReadExt as _;

/// What every worker is told on its command line.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct WorkerArgs {
    /// The bus URL.
    #[arg(long)]
    pub(crate) bus: String,
    /// This worker's id (`s<slot>.<generation>` for a server,
    /// `c<slot>.<generation>` for a client).
    #[arg(long)]
    pub(crate) id: String,
}

/// The call timeout clients use: every call's deadline.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The stream keepalive both ends use: short, so a vanished peer is noticed
/// within the soak (the orchestrator waits twice the expiry for handlers to end).
pub(crate) fn keepalive() -> StreamKeepalive {
    StreamKeepalive::new(Duration::from_secs(1), KEEPALIVE_EXPIRY)
}

/// The stream keepalive expiry (see [`keepalive`]).
pub(crate) const KEEPALIVE_EXPIRY: Duration = Duration::from_secs(3);

/// How long a worker waits between attempts to connect.
const RETRY: Duration = Duration::from_millis(200);

/// A new connection to the bus at `url`, by the library's URL forms:
/// `nats://` (several comma-separated for a cluster) goes to the NATS bus,
/// anything else (`redis://`, `redis+sentinel://`, `redis+cluster://`) to
/// the Redis bus, which parses its own forms.
pub(crate) async fn connect(url: &str) -> Result<SharedBus, psrpc::BusError> {
    Ok(if url.starts_with("nats://") {
        Arc::new(psrpc::nats::NatsBus::connect(url, Default::default()).await?)
    } else {
        Arc::new(psrpc::redis::RedisBus::connect(url, Default::default()).await?)
    })
}

/// Runs `attempt` until it succeeds, [`RETRY`] apart.
pub(crate) async fn retry<T, E, F>(mut attempt: impl FnMut() -> F) -> T
where
    F: std::future::Future<Output = Result<T, E>>,
{
    loop {
        if let Ok(value) = attempt().await {
            return value;
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Resolves when standard input closes: the orchestrator is gone.
pub(crate) async fn orphaned() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while stdin.read(&mut buf).await.is_ok_and(|n| n > 0) {}
}

/// Resolves on `SIGTERM`.
pub(crate) async fn terminated() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    term.recv().await;
    Ok(())
}
