//! The bus's publishing task: frames published at about the same time go
//! to the NATS connection together, so it writes them in one system call.
//!
//! Decision: `publish` queues the frame here (waiting only when the queue
//! is full) instead of handing it to the NATS client itself. The client
//! writes whatever is queued when its connection task runs, and tokio runs
//! a task woken by the running one next (its LIFO slot): handlers that each
//! publish one response from a task of their own would otherwise make the
//! connection write one frame per `writev`. This task first lets the other
//! ready tasks run (one `yield_now`), then hands every queued frame to the
//! client in one go. Frames keep the order in which `publish` queued them.

use async_nats::Subject;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use psrpc_protocol::bus::{BusError, Published};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

/// How many frames may wait for the publishing task before `publish` waits.
const CAPACITY: usize = 1024;

/// The most frames handed to the client between two yields.
const BATCH: usize = 256;

/// How long a dropped bus's last frames may take to reach the server.
const DROP_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// What the publishing task is asked to do.
#[derive(Debug)]
enum Outgoing {
    /// Publish `frame` on `subject`.
    Frame(Subject, Bytes),
    /// Report once every frame queued before this one went to the client.
    Drained(oneshot::Sender<()>),
}

/// The queue of the bus's publishing task; the task ends when it is dropped.
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Outgoing>,
}

impl Outbox {
    /// Starts the publishing task for `client`.
    pub(crate) fn start(client: async_nats::Client) -> Self {
        let (tx, rx) = mpsc::channel(CAPACITY);
        tokio::spawn(run(client, rx));
        Outbox { tx }
    }

    /// Queues `frame` for `subject`, waiting only when the queue is full;
    /// fails `closed` when the task is gone (the runtime is shutting down).
    /// A frame queued at once costs no allocation (see [`Published`]).
    pub(crate) fn publish(&self, subject: Subject, frame: Bytes) -> BoxFuture<'_, Result<(), BusError>> {
        match self.tx.try_send(Outgoing::Frame(subject, frame)) {
            Ok(()) => Box::pin(Published),
            Err(TrySendError::Full(item)) => {
                Box::pin(async move { self.tx.send(item).await.map_err(|_| BusError::closed()) })
            }
            Err(TrySendError::Closed(_)) => Box::pin(std::future::ready(Err(BusError::closed()))),
        }
    }

    /// Waits until every frame queued so far went to the client.
    pub(crate) async fn drained(&self) {
        let (done, drained) = oneshot::channel();
        if self.tx.send(Outgoing::Drained(done)).await.is_ok() {
            let _ = drained.await;
        }
    }
}

async fn run(client: async_nats::Client, mut queue: mpsc::Receiver<Outgoing>) {
    while let Some(first) = queue.recv().await {
        // The tasks ready to publish too queue their frames meanwhile.
        tokio::task::yield_now().await;
        let mut next = Some(first);
        let mut handed = 0;
        while let Some(item) = next {
            match item {
                Outgoing::Frame(subject, frame) => {
                    if let Err(e) = client.publish(subject, frame).await {
                        tracing::debug!(error = %e, "psrpc nats: publish after the connection closed");
                    }
                }
                Outgoing::Drained(done) => {
                    let _ = done.send(());
                }
            }
            handed += 1;
            next = if handed < BATCH { queue.try_recv().ok() } else { None };
        }
    }
    // The bus was dropped. The connection ends with the client's last
    // handle, this one: first write what the client still buffers, so a
    // frame whose `publish` returned is not lost with the bus.
    let _ = tokio::time::timeout(DROP_FLUSH, client.flush()).await;
}
