//! One-way flags (closed, killed, stopped) shared through `watch` channels.

use tokio::sync::watch;

/// Resolves once the flag is raised (or its owner is gone).
pub(crate) async fn raised(flag: &mut watch::Receiver<bool>) {
    // The borrow guard is dropped here, before the caller awaits anything else.
    let _ = flag.wait_for(|raised| *raised).await.map(|_| ());
}
