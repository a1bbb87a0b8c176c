//! Taps: a `PSUBSCRIBE` to `Svc|*` (the service sanitised as in Legacy
//! names, glob characters escaped) on a connection of the tap's own, so the
//! bus's subscriber connection, its channel table and its resubscriptions
//! never change for a tap. A tap takes no queue lock: it sees every frame
//! of a queue channel, and the processes of the service contend for each
//! one as before.
//!
//! On a Redis Cluster with classic pub/sub every node receives every
//! publish, so one node's connection sees them all; sharded pub/sub has no
//! pattern subscriptions, and tapping fails there with `Unsupported`. The
//! tap's connection does not reconnect: when it is lost, the tap ends; it
//! ends as well when the bus is closed.

use futures_util::StreamExt as _;
use psrpc_protocol::bus::{BusError, BusErrorKind};
use psrpc_protocol::channel::sanitize;
use psrpc_protocol::tap::{TapFrame, TapSubscription};

use crate::{RedisBus, unavailable};

impl RedisBus {
    /// Connects the tap's connection, confirms its `PSUBSCRIBE`, and
    /// forwards its messages until the tap is dropped.
    pub(crate) async fn start_tap(&self, service: &str, capacity: usize) -> Result<TapSubscription, BusError> {
        self.check_open()?;
        if self.inner.endpoint.sharded() {
            return Err(BusError::with_source(
                BusErrorKind::Unsupported,
                "sharded pub/sub has no pattern subscriptions to tap with",
            ));
        }
        // In a namespace every channel starts with `NS|`, which the tap's
        // frames leave out (so that they read as section 4's names).
        let prefix = self.namespace().map(|ns| format!("{ns}|")).unwrap_or_default();
        let pattern = format!("{prefix}{}", pattern(service));
        let timeout = self.inner.options.response_timeout;
        let subscribed = tokio::time::timeout(timeout, async {
            let node = self.inner.endpoint.subscriber_node().await?;
            let mut pubsub = redis::Client::open(node)?.get_async_pubsub().await?;
            pubsub.psubscribe(&pattern).await?;
            Ok(pubsub)
        })
        .await
        .map_err(|_| BusError::unavailable(format!("PSUBSCRIBE {pattern} not confirmed within {timeout:?}")))?;
        let pubsub: redis::aio::PubSub = subscribed.map_err(unavailable)?;
        let (sender, tap) = TapSubscription::new(capacity);
        let frames = pubsub.into_on_message().map(move |message| TapFrame {
            channel: message
                .get_channel_name()
                .strip_prefix(prefix.as_str())
                .unwrap_or(message.get_channel_name())
                .into(),
            frame: bytes::Bytes::copy_from_slice(message.get_payload_bytes()),
        });
        tokio::spawn(sender.forward(frames.take_until(self.inner.taps_end.ended())));
        Ok(tap)
    }
}

/// The glob pattern of `service`'s Legacy channel names: `Svc|*`.
///
/// Sanitising leaves only `[0-9A-Za-z_+]`, none of them special to Redis
/// globs; the escape keeps the pattern exact should that ever change.
fn pattern(service: &str) -> String {
    let mut pattern = String::new();
    for c in sanitize(service).chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str("|*");
    pattern
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pattern_is_the_sanitised_service_then_any_channel() {
        assert_eq!(super::pattern("Greeter"), "Greeter|*");
        assert_eq!(super::pattern("a*b?[c]"), "au+002abu+003fu+005bcu+005d|*");
    }
}
