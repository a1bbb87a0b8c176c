//! Stream handlers: accepting opens, routing frames to open streams.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tracing::Instrument as _;

use super::Prepared;
use super::ServerInner;
use super::claim::{Claim, PendingClaims};
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
    fn accept(self: &Arc<Self>, open: envelope::Stream) {
        let Some(tracked) = self.handler.admit() else { return };
        let this = Arc::clone(self);
        self.server.spawn_work(tracked, async move { this.serve(open).await });
    }

    async fn serve(&self, mut open: envelope::Stream) {
        let Some(Body::Open(open_body)) = open.body.take() else {
            return;
        };
        let ctx = RequestContext::new(
            Arc::new(self.info.clone()),
            open_body.node_id.clone(),
            open.sent_at,
            open.expiry,
            open_body.metadata,
            Arc::clone(&self.server.id),
        );
        if self.require_claim {
            let affinity = self.method_impl.affinity(&ctx);
            if affinity < 0.0 {
                return;
            }
            let wait = metadata::until(open.expiry);
            let claim = Claim { client_id: &open_body.node_id, request_id: &open.request_id, affinity };
            if !self.pending.claim(&self.server, &self.info, claim, wait).await {
                return;
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
        if let Err(e) = core.ack(&open).await {
            core.mark_closed(e);
            return;
        }
        spawn_pump(Arc::clone(&core), frames_rx, self.server.killed.subscribe(), Error::stream_eof());
        let span = spans::handle(&self.info, "stream", &open.request_id, &open_body.node_id, &self.server.id);
        let handler = async { self.method_impl.run(Arc::clone(&core), incoming, ctx).await };
        let result = user_code::guarded(&self.info, handler).instrument(span.clone()).await;
        spans::outcome(&span, &result);
        if core.is_hijacked() {
            // The stream outlives its handler (`RpcStream::hijack`) and stays
            // this server's work, which `shutdown` waits for, until it ends.
            let _ = core.closed_signal().wait_for(|closed| *closed).await;
        } else if core.err().is_none() {
            let _ = core.close(result.err(), true).await;
        }
    }
}
