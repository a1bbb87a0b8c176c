//! The shared state of one stream and the operations on it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::timeout_at;

use crate::deadline;
use crate::error::{Error, ErrorCode};
use crate::info::RpcInfo;
use crate::interceptor::StreamInterceptor;
use crate::metadata::unix_nanos;
use crate::observe::{Role, SharedObserver};
use crate::options::{StreamKeepalive, StreamOptions};
use crate::outbound;
use crate::transport::bus::SharedBus;
use crate::transport::channel::Channel;
use crate::transport::envelope::{self, stream::Body};
use crate::transport::id;
use crate::user_code;

/// How many of the latest messages' request ids a stream end remembers to
/// hand each message to `recv` once: a bus delivers a repeated frame soon
/// after the first, and one end sends a message only after the previous
/// one's ack or within its send timeout, so few are ever in flight.
const REMEMBERED: usize = 64;

/// What a stream end needs to know to run.
pub(crate) struct StreamSetup {
    pub(crate) stream_id: String,
    pub(crate) info: RpcInfo,
    pub(crate) bus: SharedBus,
    /// Where this end's frames go.
    pub(crate) peer_channel: Channel,
    pub(crate) send_timeout: Duration,
    pub(crate) interceptors: Vec<Arc<dyn StreamInterceptor>>,
    /// The observer of this end, and which end it is.
    pub(crate) observer: Option<(SharedObserver, Role)>,
    pub(crate) keepalive: StreamKeepalive,
    pub(crate) capacity: usize,
    /// Frees this end's routing state; runs once when the stream closes.
    pub(crate) on_close: Box<dyn FnOnce() + Send + Sync>,
}

/// One end of a stream.
pub(crate) struct StreamCore {
    pub(crate) stream_id: String,
    pub(crate) info: RpcInfo,
    bus: SharedBus,
    peer_channel: Channel,
    send_timeout: Duration,
    interceptors: Vec<Arc<dyn StreamInterceptor>>,
    observer: Option<(SharedObserver, Role)>,
    pub(crate) keepalive: StreamKeepalive,
    acks: Mutex<HashMap<String, oneshot::Sender<()>>>,
    /// The request ids of the latest messages handed to `recv`.
    delivered: Mutex<VecDeque<String>>,
    state: Mutex<State>,
    closed: watch::Sender<bool>,
    /// The server handler handed the stream off: the engine leaves it open
    /// when the handler returns.
    hijacked: AtomicBool,
}

struct State {
    cause: Option<Error>,
    /// Whether the end is orderly (see [`StreamCore::outcome`]).
    orderly: bool,
    incoming: Option<mpsc::Sender<Bytes>>,
    on_close: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl StreamCore {
    pub(crate) fn new(setup: StreamSetup) -> (Arc<Self>, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(setup.capacity.max(1));
        let (closed, _) = watch::channel(false);
        let core = StreamCore {
            stream_id: setup.stream_id,
            info: setup.info,
            bus: setup.bus,
            peer_channel: setup.peer_channel,
            send_timeout: setup.send_timeout,
            interceptors: setup.interceptors,
            observer: setup.observer,
            keepalive: setup.keepalive,
            acks: Mutex::new(HashMap::new()),
            delivered: Mutex::new(VecDeque::with_capacity(REMEMBERED)),
            state: Mutex::new(State {
                cause: None,
                orderly: false,
                incoming: Some(tx),
                on_close: Some(setup.on_close),
            }),
            closed,
            hijacked: AtomicBool::new(false),
        };
        if let Some((observer, role)) = &core.observer {
            observer.on_stream_open(*role, &core.info);
        }
        (Arc::new(core), rx)
    }

    /// Marks the stream as handed off by its server handler.
    pub(crate) fn hijack(&self) {
        self.hijacked.store(true, Ordering::Release);
    }

    /// Whether the server handler handed the stream off.
    pub(crate) fn is_hijacked(&self) -> bool {
        self.hijacked.load(Ordering::Acquire)
    }

    /// Runs the stream interceptors' `on_recv` for a received message (behind
    /// the panic boundary) and reports it to the observer.
    pub(crate) fn intercept_recv(&self, payload: &Bytes) -> Result<(), Error> {
        for interceptor in &self.interceptors {
            user_code::catch(&self.info, "stream interceptor", || interceptor.on_recv(&self.info, payload))?;
        }
        if let Some((observer, role)) = &self.observer {
            observer.on_stream_recv(*role, &self.info, payload.len());
        }
        Ok(())
    }

    /// Why the stream closed, once it has.
    pub(crate) fn err(&self) -> Option<Error> {
        self.state.lock().cause.clone()
    }

    /// How the stream ended, as `recv` reports it once the queue is drained:
    /// `Ok(())` for an orderly end (closed through a handle or by the engine
    /// with the handler's result, or the peer's close without cause), the
    /// cause otherwise. An open stream counts as orderly (never asked then).
    pub(crate) fn outcome(&self) -> Result<(), Error> {
        let state = self.state.lock();
        match &state.cause {
            Some(cause) if !state.orderly => Err(cause.clone()),
            _ => Ok(()),
        }
    }

    /// Resolves once the stream is closed.
    pub(crate) fn closed_signal(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// Publishes one stream frame to the peer.
    pub(crate) async fn publish(&self, request_id: String, expiry: Duration, body: Option<Body>) -> Result<(), Error> {
        let now = SystemTime::now();
        let message = envelope::Stream {
            stream_id: self.stream_id.clone(),
            request_id,
            sent_at: unix_nanos(now),
            expiry: deadline::expiry(now, expiry),
            body,
        };
        self.publish_envelope(&message).await
    }

    /// [`publish`](Self::publish), failing with `deadline_exceeded` if the
    /// bus has not taken the frame by `deadline`.
    async fn publish_until(
        &self,
        deadline: tokio::time::Instant,
        request_id: String,
        expiry: Duration,
        body: Option<Body>,
    ) -> Result<(), Error> {
        timeout_at(deadline, self.publish(request_id, expiry, body))
            .await
            .unwrap_or_else(|_| Err(Error::request_timed_out()))
    }

    /// Sends a keepalive (a frame without a body), if this end sends them;
    /// a bus that does not take it within the send timeout loses it.
    pub(crate) async fn send_keepalive(&self) {
        if self.keepalive.interval.is_some() {
            let deadline = deadline::after(self.send_timeout);
            let _ = self.publish_until(deadline, String::new(), self.keepalive.expiry, None).await;
        }
    }

    pub(crate) async fn publish_envelope(&self, message: &envelope::Stream) -> Result<(), Error> {
        outbound::publish(&*self.bus, &self.peer_channel, message).await
    }

    /// Sends a message and waits for its ack; reports the send to the observer.
    pub(crate) async fn send(&self, payload: Bytes, options: StreamOptions) -> Result<(), Error> {
        let Some((observer, role)) = &self.observer else {
            return self.send_acked(payload, options).await;
        };
        let (started, bytes) = (tokio::time::Instant::now(), payload.len());
        let outcome = self.send_acked(payload, options).await;
        observer.on_stream_send(*role, &self.info, started.elapsed(), outcome.as_ref().copied(), bytes);
        outcome
    }

    /// Sends a message and waits for its ack.
    async fn send_acked(&self, payload: Bytes, options: StreamOptions) -> Result<(), Error> {
        if let Some(cause) = self.err() {
            return Err(cause);
        }
        for interceptor in &self.interceptors {
            user_code::catch(&self.info, "stream interceptor", || interceptor.on_send(&self.info, &payload))?;
        }
        let request_id = id::new_request_id();
        let (ack_tx, ack_rx) = oneshot::channel();
        self.acks.lock().insert(request_id.clone(), ack_tx);
        // The stream may have ended since the check above: its end clears
        // the acks only after recording the cause, so either the cause is
        // seen here or the wait below ends when this ack is cleared.
        if let Some(cause) = self.err() {
            self.acks.lock().remove(&request_id);
            return Err(cause);
        }
        let wait = options.timeout.unwrap_or(self.send_timeout);
        // One bound for publishing and the ack: a stalled bus ends the send
        // by its timeout too.
        let deadline = deadline::after(wait);
        let body = Body::Message(envelope::StreamMessage { message: None, raw_message: payload });
        let result = match self.publish_until(deadline, request_id.clone(), wait, Some(body)).await {
            Ok(()) => match timeout_at(deadline, ack_rx).await {
                Ok(Ok(())) => Ok(()),
                // The ack sender was dropped: the stream closed.
                Ok(Err(_)) => Err(self.err().unwrap_or_else(Error::stream_closed)),
                Err(_) => Err(self.err().unwrap_or_else(Error::request_timed_out)),
            },
            Err(e) => Err(e),
        };
        self.acks.lock().remove(&request_id);
        result
    }

    /// Whether the message `request_id` was handed to `recv` already: a
    /// bus may deliver a frame twice (a publish repeated after a broken
    /// connection), and a stream hands each message over once.
    pub(crate) fn delivered_before(&self, request_id: &str) -> bool {
        self.delivered.lock().iter().any(|id| id == request_id)
    }

    /// Remembers that the message `request_id` was handed to `recv` (the
    /// latest [`REMEMBERED`] are kept).
    pub(crate) fn remember_delivered(&self, request_id: &str) {
        let mut delivered = self.delivered.lock();
        if delivered.len() == REMEMBERED {
            delivered.pop_front();
        }
        delivered.push_back(request_id.to_owned());
    }

    /// Completes the send waiting for this ack.
    pub(crate) fn complete_ack(&self, request_id: &str) {
        if let Some(tx) = self.acks.lock().remove(request_id) {
            let _ = tx.send(());
        }
    }

    /// Reserves room for a received message in the `recv` queue; a full
    /// queue is a slow consumer. Reserving first lets the ack go out before
    /// the receiver can see (and react to) the message.
    pub(crate) fn reserve(&self) -> Result<mpsc::OwnedPermit<Bytes>, Error> {
        let incoming = self.state.lock().incoming.clone();
        match incoming {
            Some(tx) => tx.try_reserve_owned().map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Error::slow_consumer(),
                mpsc::error::TrySendError::Closed(_) => Error::new(ErrorCode::Canceled, "the receiver was dropped"),
            }),
            None => Err(self.err().unwrap_or_else(Error::stream_closed)),
        }
    }

    /// Acks a received message or the open; fails with `deadline_exceeded`
    /// if the bus has not taken the ack within the send timeout.
    pub(crate) async fn ack(&self, received: &envelope::Stream) -> Result<(), Error> {
        let ack = envelope::Stream {
            stream_id: received.stream_id.clone(),
            request_id: received.request_id.clone(),
            sent_at: received.sent_at,
            expiry: received.expiry,
            body: Some(Body::Ack(envelope::StreamAck {})),
        };
        timeout_at(deadline::after(self.send_timeout), self.publish_envelope(&ack))
            .await
            .unwrap_or_else(|_| Err(Error::request_timed_out()))
    }

    /// Marks the stream ended by the peer or by a failure; false if it had
    /// already ended. Only the peer's close without cause is orderly.
    pub(crate) fn mark_closed(&self, cause: Error) -> bool {
        let orderly = cause == Error::stream_closed();
        self.mark(cause, orderly)
    }

    /// Records the end: frees the routing state, ends `recv` once its queue
    /// is drained, and fails pending sends. False if it had already ended.
    fn mark(&self, cause: Error, orderly: bool) -> bool {
        let (on_close, incoming) = {
            let mut state = self.state.lock();
            if state.cause.is_some() {
                return false;
            }
            state.cause = Some(cause.clone());
            state.orderly = orderly;
            (state.on_close.take(), state.incoming.take())
        };
        self.acks.lock().clear();
        if let Some(f) = on_close {
            f();
        }
        // `recv` sees the end only once the routing state is freed: a caller
        // that saw the end finds nothing of the stream left.
        drop(incoming);
        for interceptor in &self.interceptors {
            user_code::watched(&self.info, "stream interceptor", || interceptor.on_close(&self.info, &cause));
        }
        if let Some((observer, role)) = &self.observer {
            observer.on_stream_close(*role, &self.info, &cause);
        }
        self.closed.send_replace(true);
        true
    }

    /// Closes the stream from this end (a handle, or the engine with the
    /// handler's result): an orderly end here. Tells the peer when
    /// `notify_peer`. Closing an ended stream returns its cause as an error.
    pub(crate) async fn close(&self, cause: Option<Error>, notify_peer: bool) -> Result<(), Error> {
        let cause = cause.unwrap_or_else(Error::stream_closed);
        if !self.mark(cause.clone(), true) {
            return Err(self.err().unwrap_or_else(Error::stream_closed));
        }
        if notify_peer {
            self.notify_close(&cause).await?;
        }
        Ok(())
    }

    /// Ends the stream with a failure (vanished peer, owner gone, refused
    /// message) and tells the peer; nothing if it had already ended.
    pub(crate) async fn fail(&self, cause: Error) {
        if self.mark(cause.clone(), false) {
            let _ = self.notify_close(&cause).await;
        }
    }

    async fn notify_close(&self, cause: &Error) -> Result<(), Error> {
        let body = Body::Close(envelope::StreamClose {
            error: cause.message().to_owned(),
            code: cause.code().as_str().to_owned(),
        });
        let deadline = deadline::after(self.send_timeout);
        self.publish_until(deadline, id::new_request_id(), self.send_timeout, Some(body)).await
    }

    /// Ends the stream from synchronous code (the last client handle
    /// dropped, a message that does not decode): marks it at once and tells
    /// the peer from a task (outside a runtime the peer is not told). False
    /// if it had already ended.
    pub(crate) fn end_in_background(self: &Arc<Self>, cause: Error, orderly: bool) -> bool {
        if !self.mark(cause.clone(), orderly) {
            return false;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let core = Arc::clone(self);
            handle.spawn(async move {
                let _ = core.notify_close(&cause).await;
            });
        }
        true
    }

    /// A received message did not decode: the stream ends with `failure`
    /// (the peer is told). If it had already ended in order (the message was
    /// still queued), `failure` replaces that orderly end; an earlier
    /// failure stands. Returns the failure the stream now ends with.
    pub(crate) fn fail_received(self: &Arc<Self>, failure: Error) -> Error {
        loop {
            {
                let mut state = self.state.lock();
                match &state.cause {
                    Some(cause) if !state.orderly => return cause.clone(),
                    Some(_) => {
                        state.cause = Some(failure.clone());
                        state.orderly = false;
                        return failure;
                    }
                    None => {}
                }
            }
            if self.end_in_background(failure.clone(), false) {
                return failure;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::info::{MethodInfo, MethodKind, Selection};
    use crate::test_bus::Recorder;

    static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));

    /// A stream on a recording bus: its `recv` queue and the bus.
    pub(crate) fn plain_stream() -> (Arc<StreamCore>, mpsc::Receiver<Bytes>, Arc<Recorder>) {
        let info = RpcInfo::new("Chat".into(), &CHAT, vec![]);
        let bus = Arc::new(Recorder::default());
        let (core, rx) = StreamCore::new(StreamSetup {
            stream_id: id::new_stream_id(),
            peer_channel: info.stream_server_channel(),
            info,
            bus: Arc::clone(&bus) as SharedBus,
            send_timeout: Duration::from_secs(1),
            interceptors: Vec::new(),
            observer: None,
            keepalive: StreamKeepalive::default(),
            capacity: 8,
            on_close: Box::new(|| {}),
        });
        (core, rx, bus)
    }

    /// Sets up a stream whose `on_close` records whether its `recv` queue
    /// was still open when the routing state was freed.
    fn stream_recording_close(open_at_close: Arc<AtomicBool>) -> Arc<StreamCore> {
        let info = RpcInfo::new("Chat".into(), &CHAT, vec![]);
        let incoming: Arc<Mutex<Option<mpsc::Receiver<Bytes>>>> = Arc::default();
        let (core, rx) = StreamCore::new(StreamSetup {
            stream_id: id::new_stream_id(),
            peer_channel: info.stream_server_channel(),
            info,
            bus: Arc::new(Recorder::default()),
            send_timeout: Duration::from_secs(1),
            interceptors: Vec::new(),
            observer: None,
            keepalive: StreamKeepalive::default(),
            capacity: 1,
            on_close: Box::new({
                let incoming = Arc::clone(&incoming);
                move || {
                    let open = incoming.lock().as_ref().is_some_and(|rx| !rx.is_closed());
                    open_at_close.store(open, Ordering::SeqCst);
                }
            }),
        });
        *incoming.lock() = Some(rx);
        core
    }

    /// A `recv` that saw the end (its queue closed) finds the routing state
    /// already freed, however the stream ended.
    #[tokio::test]
    async fn the_routing_state_is_freed_before_recv_sees_the_end() {
        let by_peer = Arc::new(AtomicBool::new(false));
        assert!(stream_recording_close(Arc::clone(&by_peer)).mark_closed(Error::stream_closed()));
        assert!(by_peer.load(Ordering::SeqCst), "the peer's close");

        let by_handle = Arc::new(AtomicBool::new(false));
        stream_recording_close(Arc::clone(&by_handle)).close(None, false).await.expect("close");
        assert!(by_handle.load(Ordering::SeqCst), "a close from this end");

        let by_failure = Arc::new(AtomicBool::new(false));
        stream_recording_close(Arc::clone(&by_failure)).fail(Error::stream_closed()).await;
        assert!(by_failure.load(Ordering::SeqCst), "a failure");
    }
}
