//! The per-stream task: applies the peer's frames, sends keepalives and
//! expires a vanished peer.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, interval_at};

use super::StreamCore;
use crate::deadline;
use crate::error::{Error, ErrorCode};
use crate::metadata::unix_nanos;
use crate::transport::envelope::{self, stream::Body};

/// Starts the pump of `core`, fed by `frames`. `stop` flips when the owner
/// (client or server) goes away; the stream is then closed with `stop_cause`.
pub(crate) fn spawn_pump(
    core: Arc<StreamCore>,
    frames: mpsc::Receiver<envelope::Stream>,
    stop: watch::Receiver<bool>,
    stop_cause: Error,
) {
    tokio::spawn(run(core, frames, stop, stop_cause));
}

async fn run(
    core: Arc<StreamCore>,
    mut frames: mpsc::Receiver<envelope::Stream>,
    mut stop: watch::Receiver<bool>,
    stop_cause: Error,
) {
    let mut closed = core.closed_signal();
    let keepalive = core.keepalive;
    let period = keepalive.interval.unwrap_or(keepalive.expiry).min(keepalive.expiry);
    let mut ticker = interval_at(deadline::after(period), period);
    let mut last_seen = Instant::now();
    let mut peer_keeps_alive = false;
    // The flags are waited on by one future each for the pump's whole life:
    // making them anew per frame cost more than applying the frame.
    let closed = crate::signal::raised(&mut closed);
    let stop = crate::signal::raised(&mut stop);
    tokio::pin!(closed, stop);

    loop {
        tokio::select! {
            () = &mut closed => return,
            () = &mut stop => {
                core.fail(stop_cause).await;
                return;
            }
            frame = frames.recv() => {
                let Some(frame) = frame else {
                    core.fail(stop_cause).await;
                    return;
                };
                if frame.expiry != 0 && unix_nanos(SystemTime::now()) > frame.expiry {
                    continue;
                }
                last_seen = Instant::now();
                match apply(&core, frame).await {
                    Applied::Continue => {}
                    Applied::KeepAlive => peer_keeps_alive = true,
                    Applied::Closed => return,
                }
            }
            _ = ticker.tick() => {
                if peer_keeps_alive && last_seen.elapsed() > keepalive.expiry {
                    let vanished = Error::new(ErrorCode::Unavailable, "stream peer vanished");
                    core.fail(vanished).await;
                    return;
                }
                if keepalive.interval.is_some() {
                    // A frame without a body: ignored by Go psrpc peers.
                    let _ = core.publish(String::new(), keepalive.expiry, None).await;
                }
            }
        }
    }
}

enum Applied {
    Continue,
    KeepAlive,
    Closed,
}

async fn apply(core: &StreamCore, frame: envelope::Stream) -> Applied {
    match &frame.body {
        None => Applied::KeepAlive,
        Some(Body::Ack(_)) => {
            core.complete_ack(&frame.request_id);
            Applied::Continue
        }
        Some(Body::Message(message)) => {
            let payload = message.raw_message.clone();
            if let Err(e) = core.intercept_recv(&payload) {
                core.fail(e).await;
                return Applied::Closed;
            }
            match core.reserve() {
                Ok(slot) => {
                    // Ack first: whatever the receiver does next (even closing
                    // the stream) reaches the peer after the ack.
                    if let Err(e) = core.ack(&frame).await {
                        tracing::debug!(error = %e, stream = %core.stream_id, "psrpc stream: ack not sent");
                    }
                    slot.send(payload);
                }
                // Not acked: the sender's `send` fails with a timeout, as in Go
                // psrpc (the receiver is slow, or it was dropped while a sender
                // half lives on).
                Err(e) => {
                    tracing::warn!(error = %e, stream = %core.stream_id, "psrpc stream: message dropped");
                }
            }
            Applied::Continue
        }
        Some(Body::Close(close)) => {
            core.mark_closed(Error::from_wire(&close.code, close.error.clone(), Vec::new()));
            Applied::Closed
        }
        Some(Body::Open(_)) => Applied::Continue,
    }
}
