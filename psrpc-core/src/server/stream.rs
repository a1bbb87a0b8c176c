//! Stream handlers: accepting opens, routing frames to open streams.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tracing::Instrument as _;

use super::claim::{Claim, PendingClaims};
use super::engine::Prepared;
use super::engine::ServerInner;
use super::registry::{Handler, Phase, next_frame, next_phase};
use crate::context::RequestContext;
use crate::error::Error;
use crate::info::{MethodInfo, RpcInfo};
use crate::metadata::{self, unix_nanos};
use crate::observe::Role;
use crate::stream::{StreamCore, StreamSetup, spawn_pump};
use crate::transport::bus::Subscription;
use crate::transport::channel;
use crate::transport::envelope::{self, stream::Body};
use crate::transport::frame;
use crate::{spans, user_code};

/// A stream method as the handler loop sees it.
pub(crate) trait StreamMethod: Send + Sync + 'static {
    /// This server's affinity for the stream (1 without an affinity function).
    fn affinity(&self, ctx: &RequestContext) -> f32;
    /// Runs the handler over the accepted stream.
    fn run(
        &self,
        core: Arc<StreamCore>,
        incoming: mpsc::Receiver<Bytes>,
        ctx: RequestContext,
    ) -> BoxFuture<'static, Result<(), Error>>;
}

/// Subscribes the stream (and claim) channels of `method` on `topics` and
/// starts its handler loop.
pub(super) async fn register(
    server: &Arc<ServerInner>,
    method: &MethodInfo,
    topics: Vec<String>,
    method_impl: Arc<dyn StreamMethod>,
) -> Result<(), Error> {
    let Prepared { key, info, claims } = server.prepare(method, topics).await?;
    let frames = server.bus.subscribe(&info.stream_server_channel(), server.options.channel_capacity).await?;
    let (handler, phase) = Handler::new();
    server.registry.insert(key, Arc::clone(&handler))?;
    let stream_loop = StreamLoop {
        server: Arc::clone(server),
        info,
        require_claim: server.options.wire_mode.require_claim(method),
        method_impl,
        handler,
        pending: Arc::default(),
        streams: Arc::default(),
    };
    let handler_ref = Arc::clone(&stream_loop.handler);
    handler_ref.set_task(tokio::spawn(stream_loop.run(frames, claims, phase)));
    Ok(())
}

type OpenStreams = Mutex<HashMap<String, mpsc::Sender<envelope::Stream>>>;

struct StreamLoop {
    server: Arc<ServerInner>,
    info: RpcInfo,
    require_claim: bool,
    method_impl: Arc<dyn StreamMethod>,
    handler: Arc<Handler>,
    pending: Arc<PendingClaims>,
    streams: Arc<OpenStreams>,
}

impl StreamLoop {
    async fn run(self, frames: Subscription, mut claims: Option<Subscription>, mut phase: watch::Receiver<Phase>) {
        let this = Arc::new(self);
        let mut frames = Some(frames);
        loop {
            tokio::select! {
                // Draining turns opens away in `accept`; open streams still need their frames.
                next = next_phase(&mut phase) => if next == Phase::Stopped {
                    return;
                },
                frame = next_frame(&mut frames) => match frame {
                    Some(Ok(bytes)) => this.route(bytes),
                    Some(Err(e)) => tracing::warn!(error = %e, method = %this.info.method, "psrpc server: stream frames lost"),
                    None => frames = None,
                },
                frame = next_frame(&mut claims) => {
                    if !this.pending.on_frame(frame) {
                        claims = None;
                    }
                }
            }
        }
    }

    fn route(self: &Arc<Self>, bytes: Bytes) {
        let message = match frame::decode_envelope::<envelope::Stream>(bytes) {
            Ok(m) => m,
            Err(e) => return tracing::debug!(error = %e, "psrpc server: skipping stream frame"),
        };
        if matches!(message.body, Some(Body::Open(_))) {
            if message.expiry > unix_nanos(SystemTime::now()) {
                self.accept(message);
            }
            return;
        }
        let sender = self.streams.lock().get(&message.stream_id).cloned();
        if let Some(tx) = sender
            && tx.try_send(message).is_err()
        {
            tracing::warn!(method = %self.info.method, "psrpc server: stream frame dropped (slow stream)");
        }
    }

    /// Serves an open on a task of its own, unless the handler is draining.
    /// Cancelled (the server killed, or its drain timed out), the work ends
    /// at once before the stream exists, and once it told the peer after.
    fn accept(self: &Arc<Self>, open: envelope::Stream) {
        let Some(tracked) = self.handler.admit() else { return };
        let this = Arc::clone(self);
        let mut cancelled = tracked.cancelled();
        self.server.spawn_closing_work(tracked, async move {
            let cancellation = crate::signal::raised(&mut cancelled);
            tokio::pin!(cancellation);
            let accepted = tokio::select! {
                () = &mut cancellation => None,
                accepted = this.establish(open) => accepted,
            };
            if let Some(accepted) = accepted {
                this.serve(accepted, cancellation).await;
            }
        });
    }

    /// Claims the stream when the method claims (the client may choose
    /// another server) and acks the open: the stream this server serves.
    async fn establish(&self, mut open: envelope::Stream) -> Option<Accepted> {
        let Some(Body::Open(mut open_body)) = open.body.take() else {
            return None;
        };
        let peer_keeps_alive = crate::stream::take_announcement(&mut open_body.metadata, &open.stream_id);
        let ctx = RequestContext::new(
            Arc::new(self.info.clone()),
            open_body.node_id.clone().into(),
            open.sent_at,
            open.expiry,
            open_body.metadata,
            Arc::clone(&self.server.id),
        );
        if self.require_claim {
            let affinity = self.method_impl.affinity(&ctx);
            if affinity < 0.0 {
                return None;
            }
            let wait = metadata::until(open.expiry);
            let claim = Claim { client_id: &open_body.node_id, request_id: &open.request_id, affinity };
            if !self.pending.claim(&self.server, &self.info, claim, wait).await {
                return None;
            }
        }

        let capacity = self.server.options.channel_capacity;
        let (frames_tx, frames_rx) = mpsc::channel(capacity);
        self.streams.lock().insert(open.stream_id.clone(), frames_tx);
        let streams = Arc::clone(&self.streams);
        let stream_id = open.stream_id.clone();
        let (core, incoming) = StreamCore::new(StreamSetup {
            stream_id: open.stream_id.clone(),
            info: self.info.clone(),
            bus: self.server.bus.clone(),
            peer_channel: channel::stream_client_channel(&self.server.service, &open_body.node_id),
            send_timeout: self.server.options.timeout,
            interceptors: self.server.options.stream_interceptors.clone(),
            observer: self.server.options.observer.clone().map(|o| (o, Role::Server)),
            keepalive: self.server.options.stream_keepalive,
            capacity,
            on_close: Box::new(move || {
                streams.lock().remove(&stream_id);
            }),
        });
        // The first keepalive goes before the ack: a psrpc-rs client has seen
        // one by the time the stream is established (see `stream::announce`).
        core.send_keepalive().await;
        if let Err(e) = core.ack(&open).await {
            core.mark_closed(e);
            return None;
        }
        let span = spans::handle(&self.info, "stream", &open.request_id, &open_body.node_id, &self.server.id);
        Some(Accepted { core, frames: frames_rx, incoming, ctx, peer_keeps_alive, span })
    }

    /// Runs the handler over an accepted stream and closes the stream with
    /// its result (unless the handler hijacked it); `cancellation` resolves
    /// when the work is cancelled. Ends once the stream is closed and the
    /// peer told.
    async fn serve(&self, accepted: Accepted, cancellation: Pin<&mut impl Future<Output = ()>>) {
        let Accepted { core, frames, incoming, ctx, peer_keeps_alive, span } = accepted;
        // Cancelled, the pump closes the stream and tells the peer.
        let stop = self.handler.in_flight.cancelled();
        let pump = spawn_pump(Arc::clone(&core), frames, stop, Error::stream_eof(), peer_keeps_alive);
        let handler = async { self.method_impl.run(Arc::clone(&core), incoming, ctx).await };
        let handled = tokio::select! {
            () = cancellation => None,
            result = user_code::guarded(&self.info, "handler", handler).instrument(span.clone()) => Some(result),
        };
        if let Some(result) = handled {
            spans::outcome(&span, &result);
            // A hijacked stream outlives its handler (`RpcStream::hijack`)
            // and stays this server's work, which `shutdown` waits for,
            // until it ends.
            if !core.is_hijacked() && core.err().is_none() {
                let _ = core.close(result.err(), true).await;
            }
        }
        // The pump ends once the stream is closed: by the handler's result,
        // the peer, the peer's silence, or cancellation.
        let _ = pump.await;
    }
}

/// A stream this server acked, before its handler runs.
struct Accepted {
    core: Arc<StreamCore>,
    /// The peer's frames, for the pump.
    frames: mpsc::Receiver<envelope::Stream>,
    /// Received messages, for the handler.
    incoming: mpsc::Receiver<Bytes>,
    ctx: RequestContext,
    /// The client announced keepalives in its open.
    peer_keeps_alive: bool,
    span: tracing::Span,
}
