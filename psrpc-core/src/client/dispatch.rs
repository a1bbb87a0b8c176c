//! The client's dispatcher: decodes received envelopes and routes them to
//! the waiting calls, inline on the task that delivers each frame (see
//! `Subscription::run_inline`), so a response wakes its caller directly.

use std::sync::Weak;

use tokio::sync::watch;

use super::engine::ClientInner;
use crate::transport::bus::Subscription;
use crate::transport::envelope::{ClaimRequest, Response, Stream};
use crate::transport::frame;

/// Routes frames until the client closes, is dropped, or the bus ends a
/// subscription (then the client closes).
pub(crate) async fn run(
    client: Weak<ClientInner>,
    mut shutdown: watch::Receiver<bool>,
    responses: Subscription,
    claims: Subscription,
    streams: Subscription,
) {
    let router = |kind: Kind| {
        let client = client.clone();
        move |frame| {
            if let Some(client) = client.upgrade() {
                kind.route(&client, frame);
            }
        }
    };
    tokio::select! {
        () = crate::signal::raised(&mut shutdown) => return,
        () = responses.run_inline(router(Kind::Response)) => {}
        () = claims.run_inline(router(Kind::Claim)) => {}
        () = streams.run_inline(router(Kind::Stream)) => {}
    }
    // A subscription ended: the bus closed. Nothing more can arrive.
    if let Some(client) = client.upgrade() {
        client.close();
    }
}

/// Which table a subscription's frames go to.
#[derive(Clone, Copy)]
enum Kind {
    Response,
    Claim,
    Stream,
}

impl Kind {
    /// Routes one frame to the call waiting for it (frames nobody waits for,
    /// and malformed ones, are dropped).
    fn route(self, client: &ClientInner, frame: bytes::Bytes) {
        match self {
            Kind::Response => {
                // The request id is only looked up: it stays in the frame.
                if let Some((ids, mut res)) = kept(frame::decode_with_ids::<Response>(frame)) {
                    res.server_id = ids.sender_id.to_string();
                    client.routes.responses.route(&ids.request_id, res);
                }
            }
            Kind::Claim => {
                if let Some(mut claim) = kept(frame::decode_envelope::<ClaimRequest>(frame)) {
                    let id = std::mem::take(&mut claim.request_id);
                    client.routes.claims.route(&id, claim);
                }
            }
            Kind::Stream => {
                if let Some(msg) = kept(frame::decode_envelope::<Stream>(frame)) {
                    // The stream id stays in the frame: acks echo it back.
                    let id = msg.stream_id.clone();
                    client.routes.streams.route(&id, msg);
                }
            }
        }
    }
}

/// The decoded envelope, or `None` (logged) for a malformed frame.
fn kept<T>(decoded: Result<T, frame::FrameError>) -> Option<T> {
    match decoded {
        Ok(message) => Some(message),
        Err(e) => {
            tracing::debug!(error = %e, "psrpc client: skipping frame");
            None
        }
    }
}
