//! The shared state of one stream and the operations on it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::timeout;

use crate::deadline;
use crate::error::Error;
use crate::info::RpcInfo;
use crate::interceptor::StreamInterceptor;
use crate::metadata::unix_nanos;
use crate::options::{StreamKeepalive, StreamOptions};
use crate::outbound;
use crate::transport::bus::SharedBus;
use crate::transport::channel::Channel;
use crate::transport::envelope::{self, stream::Body};
use crate::transport::id;

/// What a stream end needs to know to run.
pub(crate) struct StreamSetup {
    pub(crate) stream_id: String,
    pub(crate) info: RpcInfo,
    pub(crate) bus: SharedBus,
    /// Where this end's frames go.
    pub(crate) peer_channel: Channel,
    pub(crate) send_timeout: Duration,
    pub(crate) interceptors: Vec<Arc<dyn StreamInterceptor>>,
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
    pub(crate) interceptors: Vec<Arc<dyn StreamInterceptor>>,
    pub(crate) keepalive: StreamKeepalive,
    acks: Mutex<HashMap<String, oneshot::Sender<()>>>,
    state: Mutex<State>,
    closed: watch::Sender<bool>,
}

struct State {
    cause: Option<Error>,
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
            keepalive: setup.keepalive,
            acks: Mutex::new(HashMap::new()),
            state: Mutex::new(State { cause: None, incoming: Some(tx), on_close: Some(setup.on_close) }),
            closed,
        };
        (Arc::new(core), rx)
    }

    /// Why the stream closed, once it has.
    pub(crate) fn err(&self) -> Option<Error> {
        self.state.lock().cause.clone()
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

    pub(crate) async fn publish_envelope(&self, message: &envelope::Stream) -> Result<(), Error> {
        outbound::publish(&*self.bus, &self.peer_channel, message).await
    }

    /// Sends a message and waits for its ack.
    pub(crate) async fn send(&self, payload: Bytes, options: StreamOptions) -> Result<(), Error> {
        if let Some(cause) = self.err() {
            return Err(cause);
        }
        for interceptor in &self.interceptors {
            interceptor.on_send(&self.info, &payload)?;
        }
        let request_id = id::new_request_id();
        let (ack_tx, ack_rx) = oneshot::channel();
        self.acks.lock().insert(request_id.clone(), ack_tx);
        let wait = options.timeout.unwrap_or(self.send_timeout);
        let body = Body::Message(envelope::StreamMessage { message: None, raw_message: payload });
        let result = match self.publish(request_id.clone(), wait, Some(body)).await {
            Ok(()) => match timeout(wait, ack_rx).await {
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
            Some(tx) => tx.try_reserve_owned().map_err(|_| Error::slow_consumer()),
            None => Err(self.err().unwrap_or_else(Error::stream_closed)),
        }
    }

    /// Acks a received message or the open.
    pub(crate) async fn ack(&self, received: &envelope::Stream) -> Result<(), Error> {
        let ack = envelope::Stream {
            stream_id: received.stream_id.clone(),
            request_id: received.request_id.clone(),
            sent_at: received.sent_at,
            expiry: received.expiry,
            body: Some(Body::Ack(envelope::StreamAck {})),
        };
        self.publish_envelope(&ack).await
    }

    /// Marks the stream closed with `cause`; false if it already was.
    /// Frees the routing state, ends `recv`, and fails pending sends.
    pub(crate) fn mark_closed(&self, cause: Error) -> bool {
        let on_close = {
            let mut state = self.state.lock();
            if state.cause.is_some() {
                return false;
            }
            state.cause = Some(cause.clone());
            state.incoming = None;
            state.on_close.take()
        };
        self.acks.lock().clear();
        if let Some(f) = on_close {
            f();
        }
        for interceptor in &self.interceptors {
            interceptor.on_close(&self.info, &cause);
        }
        self.closed.send_replace(true);
        true
    }

    /// Closes the stream; tells the peer when `notify_peer`.
    pub(crate) async fn close(&self, cause: Option<Error>, notify_peer: bool) -> Result<(), Error> {
        let cause = cause.unwrap_or_else(Error::stream_closed);
        if !self.mark_closed(cause.clone()) {
            return Err(self.err().unwrap_or_else(Error::stream_closed));
        }
        if notify_peer {
            let body = Body::Close(envelope::StreamClose {
                error: cause.message().to_owned(),
                code: cause.code().as_str().to_owned(),
            });
            self.publish(id::new_request_id(), self.send_timeout, Some(body)).await?;
        }
        Ok(())
    }

    /// Closes from synchronous code (a dropped handle, a bad frame).
    pub(crate) fn close_in_background(self: &Arc<Self>, cause: Option<Error>) {
        let core = Arc::clone(self);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    let _ = core.close(cause, true).await;
                });
            }
            Err(_) => {
                core.mark_closed(cause.unwrap_or_else(Error::stream_closed));
            }
        }
    }
}
