//! The client's dispatcher task: decodes received envelopes and routes them.

use std::sync::Weak;

use tokio::sync::watch;

use super::ClientInner;
use crate::bus::{BusError, Subscription};
use crate::envelope::{ClaimRequest, Response, Stream};
use crate::frame;

/// Routes frames until the client closes, is dropped, or the bus ends a subscription.
pub(crate) async fn run(
    client: Weak<ClientInner>,
    mut shutdown: watch::Receiver<bool>,
    mut responses: Subscription,
    mut claims: Subscription,
    mut streams: Subscription,
) {
    loop {
        let item = tokio::select! {
            () = crate::signal::raised(&mut shutdown) => return,
            frame = responses.recv() => Item::Response(frame),
            frame = claims.recv() => Item::Claim(frame),
            frame = streams.recv() => Item::Stream(frame),
        };
        let Some(client) = client.upgrade() else {
            return;
        };
        if !item.route(&client) {
            // A subscription ended: the bus closed. Nothing more can arrive.
            client.close();
            return;
        }
    }
}

enum Item {
    Response(Option<Result<bytes::Bytes, BusError>>),
    Claim(Option<Result<bytes::Bytes, BusError>>),
    Stream(Option<Result<bytes::Bytes, BusError>>),
}

impl Item {
    /// Routes one item; `false` when its subscription has ended.
    fn route(self, client: &ClientInner) -> bool {
        match self {
            Item::Response(Some(Ok(f))) => {
                if let Some(mut res) = decode::<Response>(f) {
                    let id = std::mem::take(&mut res.request_id);
                    client.routes.responses.route(&id, res);
                }
            }
            Item::Claim(Some(Ok(f))) => {
                if let Some(mut claim) = decode::<ClaimRequest>(f) {
                    let id = std::mem::take(&mut claim.request_id);
                    client.routes.claims.route(&id, claim);
                }
            }
            Item::Stream(Some(Ok(f))) => {
                if let Some(msg) = decode::<Stream>(f) {
                    // The stream id stays in the frame: acks echo it back.
                    let id = msg.stream_id.clone();
                    client.routes.streams.route(&id, msg);
                }
            }
            Item::Response(Some(Err(e))) | Item::Claim(Some(Err(e))) | Item::Stream(Some(Err(e))) => {
                tracing::warn!(error = %e, client = %client.id, "psrpc client: frames lost");
            }
            Item::Response(None) | Item::Claim(None) | Item::Stream(None) => return false,
        }
        true
    }
}

fn decode<E: frame::Envelope>(f: bytes::Bytes) -> Option<E> {
    match frame::decode_envelope::<E>(f) {
        Ok(message) => Some(message),
        Err(e) => {
            tracing::debug!(error = %e, "psrpc client: skipping frame");
            None
        }
    }
}
