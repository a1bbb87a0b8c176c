//! The server side of the claim exchange, shared by unary and stream handlers.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use bytes::Bytes;

use super::ServerInner;
use crate::bus::BusError;
use crate::envelope::{ClaimRequest, ClaimResponse};
use crate::frame;

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

    /// Claims `request_id` for the client `client_id` with `affinity` and waits
    /// up to `wait` for the decision; true if this server was chosen.
    pub(crate) async fn claim(
        &self,
        server: &ServerInner,
        client_id: &str,
        request_id: &str,
        affinity: f32,
        wait: Duration,
    ) -> bool {
        let (tx, rx) = oneshot::channel();
        self.0.lock().insert(request_id.to_owned(), tx);
        let claim = ClaimRequest { request_id: request_id.to_owned(), server_id: server.id.to_string(), affinity };
        let channels = server.reply_channels.get(&server.service, client_id);
        let chosen = match server.publish(&channels.claim, &claim).await {
            Ok(()) => {
                matches!(tokio::time::timeout(wait, rx).await, Ok(Ok(id)) if *id == *server.id)
            }
            Err(e) => {
                tracing::warn!(error = %e, "psrpc server: claim not sent");
                false
            }
        };
        self.0.lock().remove(request_id);
        chosen
    }
}
