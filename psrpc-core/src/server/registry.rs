//! The server's registered handlers and their lifecycle.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::inflight::{InFlight, Work};
use crate::error::{Error, ErrorCode};
use crate::transport::bus::{BusError, Subscription};

/// Phases of a handler's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Taking new requests.
    Running,
    /// No new requests; in-flight ones finish (claims and stream frames still flow).
    Draining,
    /// Everything unsubscribed.
    Stopped,
}

/// The next phase a handler loop must act on; a dropped handler means `Stopped`.
pub(crate) async fn next_phase(phase: &mut watch::Receiver<Phase>) -> Phase {
    match phase.changed().await {
        Ok(()) => *phase.borrow(),
        Err(_) => Phase::Stopped,
    }
}

/// The next frame of an optional subscription (pending forever when absent).
pub(crate) async fn next_frame(sub: &mut Option<Subscription>) -> Option<Result<Bytes, BusError>> {
    match sub {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// One registered method (on one topic).
#[derive(Debug)]
pub(crate) struct Handler {
    phase: watch::Sender<Phase>,
    /// Cleared as draining starts: new requests and streams are turned away
    /// (see [`admit`](Handler::admit)).
    accepting: AtomicBool,
    pub(crate) in_flight: Arc<InFlight>,
    /// The handler loop; it owns the subscriptions.
    task: Mutex<Option<JoinHandle<()>>>,
    /// Runs a request in process (unary methods; local-first calls).
    local: Mutex<Option<super::local::LocalHandler>>,
}

impl Handler {
    pub(crate) fn new() -> (Arc<Self>, watch::Receiver<Phase>) {
        let (phase, rx) = watch::channel(Phase::Running);
        let handler = Handler {
            phase,
            accepting: AtomicBool::new(true),
            in_flight: Arc::default(),
            task: Mutex::new(None),
            local: Mutex::new(None),
        };
        (Arc::new(handler), rx)
    }

    /// Records the handler loop, so stopping can wait for its subscriptions to go.
    pub(crate) fn set_task(&self, task: JoinHandle<()>) {
        *self.task.lock() = Some(task);
    }

    /// Sets how a request runs in process (local-first calls).
    pub(crate) fn set_local(&self, local: super::local::LocalHandler) {
        *self.local.lock() = Some(local);
    }

    /// Starts a new request or stream as in-flight work, unless the handler
    /// is draining or stopped (then the frame is dropped, as if it had come
    /// after the unsubscribe).
    ///
    /// The work is counted before the check, and draining clears the flag
    /// before it waits for the count to reach zero (both sequentially
    /// consistent): a request either sees the flag cleared or is waited for,
    /// never admitted after the wait.
    pub(crate) fn admit(&self) -> Option<Work> {
        let work = self.in_flight.start();
        self.accepting.load(Ordering::SeqCst).then_some(work)
    }

    /// Stops intake, waits up to `limit` for in-flight work, cancels what
    /// is left and waits for it to end (a stream tells its peer first), then
    /// unsubscribes.
    pub(crate) async fn drain(&self, limit: Duration) {
        self.accepting.store(false, Ordering::SeqCst);
        self.phase.send_replace(Phase::Draining);
        if tokio::time::timeout(limit, self.in_flight.wait_idle()).await.is_err() {
            tracing::warn!(left = self.in_flight.count(), "psrpc server: drain timed out, cancelling what is left");
            self.in_flight.cancel();
            self.in_flight.wait_idle().await;
        }
        self.stop().await;
    }

    /// Unsubscribes at once; resolves when the subscriptions are gone.
    pub(crate) async fn stop(&self) {
        self.stop_now();
        let task = self.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Cancels in-flight work and tells the handler loop to unsubscribe and
    /// end, without waiting for either.
    pub(crate) fn stop_now(&self) {
        self.accepting.store(false, Ordering::SeqCst);
        self.in_flight.cancel();
        self.phase.send_replace(Phase::Stopped);
    }
}

/// Handlers by method and topic.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    handlers: Mutex<HashMap<String, Arc<Handler>>>,
    /// Handlers taken out (deregistered, or their server stopping) whose
    /// drain has not finished: their work is still in flight.
    leaving: Mutex<Vec<Arc<Handler>>>,
    /// Bumped whenever a handler is added or removed (discovery announces it).
    changes: watch::Sender<u64>,
}

fn already_registered(key: &str) -> Error {
    Error::new(ErrorCode::AlreadyExists, format!("handler for {key} already registered"))
}

/// The registry key of `method` on `topics`.
pub(crate) fn key(method: &str, topics: &[String]) -> String {
    let mut key = method.to_owned();
    for t in topics {
        key.push('|');
        key.push_str(t);
    }
    key
}

impl Registry {
    /// Registers `handler` under `key`, unless one is there already.
    pub(crate) fn insert(&self, key: String, handler: Arc<Handler>) -> Result<(), Error> {
        let mut handlers = self.handlers.lock();
        if handlers.contains_key(&key) {
            return Err(already_registered(&key));
        }
        handlers.insert(key, handler);
        drop(handlers);
        self.changed();
        Ok(())
    }

    /// Fails if a handler is registered under `key`.
    pub(crate) fn ensure_free(&self, key: &str) -> Result<(), Error> {
        if self.handlers.lock().contains_key(key) { Err(already_registered(key)) } else { Ok(()) }
    }

    /// Takes the handler under `key` out; it counts as leaving until
    /// [`left`](Self::left).
    pub(crate) fn remove(&self, key: &str) -> Option<Arc<Handler>> {
        let removed = self.handlers.lock().remove(key);
        self.leaving.lock().extend(removed.clone());
        self.changed();
        removed
    }

    /// Takes every handler out; they count as leaving until
    /// [`left`](Self::left). Returns every leaving handler, those taken out
    /// before included.
    pub(crate) fn take_all(&self) -> Vec<Arc<Handler>> {
        let mut leaving = self.leaving.lock();
        leaving.extend(self.handlers.lock().drain().map(|(_, h)| h));
        let all = leaving.clone();
        drop(leaving);
        self.changed();
        all
    }

    /// `handler` has stopped: it no longer counts as leaving.
    pub(crate) fn left(&self, handler: &Arc<Handler>) {
        self.leaving.lock().retain(|h| !Arc::ptr_eq(h, handler));
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Notified whenever a handler is added or removed.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The in-process runner of the handler under `key`, if it has one.
    pub(crate) fn local(&self, key: &str) -> Option<super::local::LocalHandler> {
        self.handlers.lock().get(key).and_then(|h| h.local.lock().clone())
    }

    /// Whether a handler is registered under `key`.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.handlers.lock().contains_key(key)
    }

    /// Requests and streams in flight for `method`, on all its topics.
    pub(crate) fn in_flight_of(&self, method: &str) -> usize {
        let handlers = self.handlers.lock();
        let of_method =
            |key: &str| key.strip_prefix(method).is_some_and(|rest| rest.is_empty() || rest.starts_with('|'));
        handlers.iter().filter(|(key, _)| of_method(key)).map(|(_, h)| h.in_flight.count()).sum()
    }

    /// Requests and streams in flight, those of leaving handlers included.
    pub(crate) fn in_flight(&self) -> usize {
        let registered: usize = self.handlers.lock().values().map(|h| h.in_flight.count()).sum();
        registered + self.leaving.lock().iter().map(|h| h.in_flight.count()).sum::<usize>()
    }
}
