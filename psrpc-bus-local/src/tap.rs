//! Taps of the in-process bus: each tap names a service by the prefix of
//! its Legacy channel names (`Svc|`), and every publish on a channel with
//! that prefix hands the frame to the tap as well, without waiting (a full
//! tap loses the frame and is told; the publisher never waits on a tap).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;
use psrpc_protocol::bus::DeliveryOutcome;
use psrpc_protocol::channel::sanitize;
use psrpc_protocol::namespace::Namespace;
use psrpc_protocol::tap::{TapFrame, TapSender, TapSubscription};

/// The taps of one bus. `any` spares publishes on a bus that was never
/// tapped the lock.
#[derive(Debug, Default)]
pub(crate) struct Taps {
    any: AtomicBool,
    taps: RwLock<Vec<Tap>>,
}

#[derive(Debug)]
struct Tap {
    /// `Svc|`, sanitised as Legacy names are.
    prefix: String,
    /// The namespace of the bus (view) that made the tap: it sees that
    /// namespace's frames only.
    namespace: Option<Namespace>,
    sender: TapSender,
}

impl Taps {
    /// A new tap of `service`'s channels (forgetting taps that were dropped).
    pub(crate) fn add(&self, service: &str, namespace: Option<Namespace>, capacity: usize) -> TapSubscription {
        let (sender, subscription) = TapSubscription::new(capacity);
        let mut taps = self.taps.write();
        taps.retain(|tap| !tap.sender.is_closed());
        taps.push(Tap { prefix: format!("{}|", sanitize(service)), namespace, sender });
        self.any.store(true, Ordering::Release);
        subscription
    }

    /// Hands a frame published in `namespace` on `channel` (a Legacy name)
    /// to the taps of its service in that namespace.
    pub(crate) fn deliver(&self, namespace: Option<&Namespace>, channel: &Arc<str>, frame: &Bytes) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let taps = self.taps.read();
        for tap in taps.iter().filter(|tap| tap.namespace.as_ref() == namespace && channel.starts_with(&tap.prefix)) {
            let tapped = TapFrame { channel: Arc::clone(channel), frame: frame.clone() };
            if tap.sender.try_deliver(tapped) == DeliveryOutcome::Dropped {
                tracing::debug!(%channel, "psrpc local: slow tap, frame dropped");
            }
        }
    }

    /// Ends every tap.
    pub(crate) fn clear(&self) {
        self.taps.write().clear();
    }
}
