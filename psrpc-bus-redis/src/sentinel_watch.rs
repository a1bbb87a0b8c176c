//! Follows a Sentinel-named master the moment it moves.
//!
//! A bus behind Sentinels listens on every Sentinel it was given for
//! `+switch-master` (`<name> <old-ip> <old-port> <new-ip> <new-port>`).
//! When its master switches, each of its connections that is not on the new
//! master counts as lost, and the link's revive moves it there (see
//! `Endpoint::moved_from`). Without this, a connection whose node was
//! replaced but still answers (a killed master that came back before the
//! Sentinels reached it, or one they cannot reconfigure) would stay there:
//! its publishes would reach no subscriber on the new master, and queue
//! locks taken there would not exclude those taken on the new master.
//!
//! Each Sentinel has a task of its own that reconnects after 50 ms, backing
//! off to 1 s. Every time it (re)subscribes it also asks the Sentinels for
//! the master once, so a switch announced while it was disconnected is not
//! missed. The tasks end with the bus.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use tokio::task::JoinHandle;

use crate::endpoint::SentinelTarget;

/// The Sentinel channel announcing a master's new address.
const SWITCH_MASTER: &str = "+switch-master";

/// Moves the bus's connections to the master at `host:port` if they are
/// elsewhere; resolves to `false` once the bus is gone.
pub(crate) type Follow = Arc<dyn Fn(String) -> BoxFuture<'static, bool> + Send + Sync>;

/// The listening tasks of one bus; dropping it stops them.
pub(crate) struct SentinelWatch {
    tasks: Vec<JoinHandle<()>>,
}

impl SentinelWatch {
    /// Starts listening on every Sentinel of `target`.
    pub(crate) fn start(target: &SentinelTarget, timeout: Duration, follow: Follow) -> Self {
        let tasks = target
            .sentinels()
            .iter()
            .map(|sentinel| tokio::spawn(listen(sentinel.clone(), target.clone(), timeout, Arc::clone(&follow))))
            .collect();
        SentinelWatch { tasks }
    }
}

impl Drop for SentinelWatch {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

/// Listens on one Sentinel until the bus is gone.
async fn listen(sentinel: String, target: SentinelTarget, timeout: Duration, follow: Follow) {
    let mut delay = Duration::from_millis(50);
    loop {
        match tokio::time::timeout(timeout, subscribe(&target, &sentinel)).await {
            Ok(Ok(pubsub)) => {
                delay = Duration::from_millis(50);
                // A switch announced while this listener was away.
                if let Ok((host, port)) = target.master_addr(timeout).await
                    && !follow(format!("{host}:{port}")).await
                {
                    return;
                }
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let Ok(payload) = message.get_payload::<String>() else { continue };
                    if let Some(now) = switched_to(&payload, target.master()) {
                        tracing::info!(sentinel = %sentinel, master = %now, "psrpc redis: the Sentinels switched the master");
                        if !follow(now).await {
                            return;
                        }
                    }
                }
                tracing::debug!(sentinel = %sentinel, "psrpc redis: lost the Sentinel's announcements; listening again");
            }
            Ok(Err(e)) => tracing::debug!(sentinel = %sentinel, error = %e, "psrpc redis: cannot listen to a Sentinel"),
            Err(_) => tracing::debug!(sentinel = %sentinel, "psrpc redis: a Sentinel did not answer in time"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

/// A pub/sub connection to `sentinel` subscribed to [`SWITCH_MASTER`].
async fn subscribe(target: &SentinelTarget, sentinel: &str) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = target.client(sentinel)?.get_async_pubsub().await?;
    pubsub.subscribe(SWITCH_MASTER).await?;
    Ok(pubsub)
}

/// The new `host:port` a `+switch-master` payload gives for `master`, if
/// it is about `master`.
fn switched_to(payload: &str, master: &str) -> Option<String> {
    let fields: Vec<&str> = payload.split_whitespace().collect();
    match fields[..] {
        [name, _old_host, _old_port, host, port] if name == master => Some(format!("{host}:{port}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::switched_to;

    #[test]
    fn a_switch_of_our_master_names_its_new_address() {
        assert_eq!(switched_to("psrpc 127.0.0.1 7001 127.0.0.1 7002", "psrpc").as_deref(), Some("127.0.0.1:7002"));
        assert_eq!(switched_to("other 127.0.0.1 7001 127.0.0.1 7002", "psrpc"), None);
        assert_eq!(switched_to("psrpc 127.0.0.1 7001", "psrpc"), None);
        assert_eq!(switched_to("", "psrpc"), None);
    }
}
