//! The per-stream task: applies the peer's frames, sends keepalives and
//! expires a vanished peer.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, interval_at};

use super::StreamCore;
use crate::deadline;
use crate::error::{Error, ErrorCode};
use crate::metadata::unix_nanos;
use crate::transport::envelope::{self, stream::Body};

/// Starts the pump of `core`, fed by `frames`. `stop` flips when the owner
/// (client or server) goes away; the stream is then closed with `stop_cause`
/// and the peer told. `peer_keeps_alive`: the peer is known to send
/// keepalives from the start (see [`announce`](super::announce)), so its
/// silence expires the stream even before its first one. The pump ends once
/// the stream is closed.
pub(crate) fn spawn_pump(
    core: Arc<StreamCore>,
    frames: mpsc::Receiver<envelope::Stream>,
    stop: watch::Receiver<bool>,
    stop_cause: Error,
    peer_keeps_alive: bool,
) -> JoinHandle<()> {
    tokio::spawn(run(core, frames, stop, stop_cause, peer_keeps_alive))
}

async fn run(
    core: Arc<StreamCore>,
    mut frames: mpsc::Receiver<envelope::Stream>,
    mut stop: watch::Receiver<bool>,
    stop_cause: Error,
    mut peer_keeps_alive: bool,
) {
    let mut closed = core.closed_signal();
    let keepalive = core.keepalive;
    let mut ticker = keepalive.interval.map(|period| interval_at(deadline::after(period), period));
    let mut last_seen = Instant::now();
    // Fires at the latest possible expiry; when it does, the peer's last
    // frame says whether to expire the stream or wait on (a frame costs no
    // timer update).
    let expiry = tokio::time::sleep_until(deadline::after(keepalive.expiry));
    // The flags are waited on by one future each for the pump's whole life:
    // making them anew per frame cost more than applying the frame.
    let closed = crate::signal::raised(&mut closed);
    let stop = crate::signal::raised(&mut stop);
    tokio::pin!(closed, stop, expiry);

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
            () = &mut expiry, if peer_keeps_alive => {
                let silent_until = deadline::after_from(last_seen, keepalive.expiry);
                if silent_until > Instant::now() {
                    expiry.as_mut().reset(silent_until);
                    continue;
                }
                let vanished = Error::new(ErrorCode::Unavailable, "stream peer vanished");
                core.fail(vanished).await;
                return;
            }
            () = next_tick(&mut ticker) => {
                // A frame without a body: ignored by Go psrpc peers.
                core.send_keepalive().await;
            }
        }
    }
}

/// The next tick of `ticker`; never without one.
async fn next_tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(ticker) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
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
        Some(Body::Message(_)) if core.delivered_before(&frame.request_id) => {
            // A frame the bus delivered twice: acked again (the sender may
            // not have seen the first ack), handed over once.
            ack(core, &frame).await;
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
                    ack(core, &frame).await;
                    core.remember_delivered(&frame.request_id);
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

/// Acks `frame`; a failure is only logged: the sender's `send` then times out.
async fn ack(core: &StreamCore, frame: &envelope::Stream) {
    if let Err(e) = core.ack(frame).await {
        tracing::debug!(error = %e, stream = %core.stream_id, "psrpc stream: ack not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::core::tests::plain_stream;
    use crate::transport::frame;

    fn message(request_id: &str, payload: &'static [u8]) -> envelope::Stream {
        envelope::Stream {
            request_id: request_id.to_owned(),
            body: Some(Body::Message(envelope::StreamMessage {
                raw_message: payload.to_vec().into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    /// A message frame the bus delivered twice is acked twice and handed to
    /// `recv` once; another message with the same payload is a message of
    /// its own.
    #[tokio::test]
    async fn a_message_delivered_twice_is_received_once() {
        let (core, mut incoming, bus) = plain_stream();
        for frame in [message("REQ_a", b"one"), message("REQ_a", b"one"), message("REQ_b", b"one")] {
            assert!(matches!(apply(&core, frame).await, Applied::Continue));
        }
        assert_eq!(incoming.recv().await.as_deref(), Some(&b"one"[..]));
        assert_eq!(incoming.recv().await.as_deref(), Some(&b"one"[..]));
        assert!(incoming.try_recv().is_err(), "the repeat was handed over");
        let acks: Vec<String> = bus
            .published
            .lock()
            .iter()
            .map(|f| frame::decode_envelope::<envelope::Stream>(f.clone()).expect("an ack").request_id)
            .collect();
        assert_eq!(acks, ["REQ_a", "REQ_a", "REQ_b"]);
    }
}
