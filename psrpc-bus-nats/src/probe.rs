//! Readiness probes: a server round trip on the bus's own connection.
//!
//! The bus subscribes a private subject once; a probe publishes a unique token
//! to it and waits for the token to come back. NATS processes one
//! connection's commands in order, so when the token arrives, every `SUB`
//! sent before it is active on the server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use parking_lot::Mutex;
use psrpc_core::transport::bus::BusError;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type Waiting = Arc<Mutex<HashMap<Bytes, oneshot::Sender<()>>>>;

/// The probe subject of one bus and the probes in flight.
#[derive(Debug)]
pub(crate) struct Probe {
    subject: String,
    waiting: Waiting,
    task: JoinHandle<()>,
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Probe {
    /// Subscribes the bus's private probe subject.
    pub(crate) async fn start(client: &async_nats::Client) -> Result<Self, BusError> {
        let subject = format!("_PSRPC.ready.{}", psrpc_core::transport::id::new_id(""));
        let mut subscriber = client.subscribe(subject.clone()).await.map_err(BusError::unavailable)?;
        let waiting: Waiting = Arc::default();
        let routes = Arc::clone(&waiting);
        let task = tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                if let Some(tx) = routes.lock().remove(&message.payload) {
                    let _ = tx.send(());
                }
            }
        });
        Ok(Probe { subject, waiting, task })
    }

    /// Resolves once the server has processed everything sent before it.
    pub(crate) async fn round_trip(&self, client: &async_nats::Client) -> Result<(), BusError> {
        let token = Bytes::from(psrpc_core::transport::id::new_id(""));
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().insert(token.clone(), tx);
        let sent = client.publish(self.subject.clone(), token.clone()).await;
        let outcome = match sent {
            Ok(()) => match tokio::time::timeout(PROBE_TIMEOUT, rx).await {
                Ok(Ok(())) => Ok(()),
                _ => Err(BusError::unavailable("subscription not confirmed by the server")),
            },
            Err(e) => Err(BusError::unavailable(e)),
        };
        self.waiting.lock().remove(&token);
        outcome
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}
