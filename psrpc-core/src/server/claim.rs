//! The server side of the claim exchange, shared by unary and stream handlers.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use bytes::Bytes;

use super::ServerInner;
use crate::bus::BusError;
use crate::envelope::{ClaimRequest, ClaimResponse};
use crate::{frame, outbound};

/// One claim a server makes for a request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Claim<'a> {
    /// The client that sent the request (its claim channel gets the claim).
    pub(crate) client_id: &'a str,
    /// The request claimed.
    pub(crate) request_id: &'a str,
    /// How well this server fits the request.
    pub(crate) affinity: f32,
}

/// Claims waiting for the client's decision, by request id.
#[derive(Debug, Default)]
pub(crate) struct PendingClaims(Mutex<HashMap<String, oneshot::Sender<String>>>);

impl PendingClaims {
    /// Handles one item of the claim-response subscription; false once it ended.
    pub(crate) fn on_frame(&self, frame: Option<Result<Bytes, BusError>>) -> bool {
        match frame {
            Some(Ok(bytes)) => self.on_claim_frame(bytes),
            Some(Err(e)) => tracing::warn!(error = %e, "psrpc server: claim responses lost"),
            None => return false,
        }
        true
    }

    /// Decodes a claim-response frame and routes the decision.
    pub(crate) fn on_claim_frame(&self, bytes: Bytes) {
        match frame::decode_envelope::<ClaimResponse>(bytes) {
            Ok(claim) => self.decide(claim),
            Err(e) => tracing::debug!(error = %e, "psrpc server: skipping claim frame"),
        }
    }

    /// Routes a client's decision to the request waiting for it.
    pub(crate) fn decide(&self, response: ClaimResponse) {
        if let Some(tx) = self.0.lock().remove(&response.request_id) {
            let _ = tx.send(response.server_id);
        }
    }

    /// Publishes `claim` and waits up to `wait` for the client's decision;
    /// true if this server was chosen. `queued` is the request's frame when
    /// it came from a claimed queue subscription: the claim then goes out
    /// only if no other process took that frame (an ignored request).
    pub(crate) async fn claim(
        &self,
        server: &ServerInner,
        claim: Claim<'_>,
        queued: Option<&Bytes>,
        wait: Duration,
    ) -> bool {
        let (tx, rx) = oneshot::channel();
        self.0.lock().insert(claim.request_id.to_owned(), tx);
        let message = ClaimRequest {
            request_id: claim.request_id.to_owned(),
            server_id: server.id.to_string(),
            affinity: claim.affinity,
        };
        let channels = server.reply_channels.get(&server.service, claim.client_id);
        let published = match queued {
            Some(frame) => outbound::publish_claim(&*server.bus, frame, &channels.claim, &message).await,
            None => server.publish(&channels.claim, &message).await.map(|()| true),
        };
        let chosen = match published {
            Ok(true) => matches!(tokio::time::timeout(wait, rx).await, Ok(Ok(id)) if *id == *server.id),
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(error = %e, "psrpc server: claim not sent");
                false
            }
        };
        self.0.lock().remove(claim.request_id);
        chosen
    }
}
