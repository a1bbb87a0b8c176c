//! The server side of the claim exchange, shared by unary and stream handlers.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::time::Instant;

use bytes::Bytes;

use super::engine::ServerInner;
use crate::info::RpcInfo;
use crate::observe::{ClaimOutcome, SharedObserver};
use crate::outbound;
use crate::transport::bus::BusError;
use crate::transport::envelope::{ClaimRequest, ClaimResponse};
use crate::transport::frame;

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

/// What a claim does once the client decided: called with the chosen
/// server's id (empty when another process took the request first).
type OnDecision = Box<dyn FnOnce(&str) + Send>;

/// Reports how a claim ended to the server's observer: won or lost when
/// the decision is seen, timed out when the claim is dropped undecided.
struct ClaimReport {
    observer: SharedObserver,
    info: RpcInfo,
    sent: Instant,
    reported: bool,
}

impl ClaimReport {
    fn decided(mut self, won: bool) {
        self.reported = true;
        let outcome = if won { ClaimOutcome::Won } else { ClaimOutcome::Lost };
        self.observer.on_claim(&self.info, outcome, self.sent.elapsed());
    }
}

impl Drop for ClaimReport {
    fn drop(&mut self) {
        if !self.reported {
            self.observer.on_claim(&self.info, ClaimOutcome::TimedOut, self.sent.elapsed());
        }
    }
}

/// Announces that this server handles the request without waiting for a
/// decision (claim skipping): publishes `claim` with `handling` set. True if
/// the handler may run: the announcement went out and, for a `queued` frame,
/// no other process took the request first.
///
/// Decision: as in Go psrpc, a request whose announcement cannot be sent is
/// not run, so a caller that times out and retries never finds it done twice.
pub(crate) async fn announce(server: &ServerInner, info: &RpcInfo, claim: Claim<'_>, queued: Option<&Bytes>) -> bool {
    let message = ClaimRequest {
        request_id: claim.request_id.to_owned(),
        server_id: server.id.to_string(),
        affinity: claim.affinity,
        handling: true,
    };
    let channels = server.reply_channels.get(&server.service, claim.client_id);
    let published = match queued {
        Some(frame) => outbound::publish_claim(&*server.bus, frame, &channels.claim, &message).await,
        None => server.publish(&channels.claim, &message).await.map(|()| true),
    };
    match published {
        Ok(true) => {
            if let Some(observer) = &server.options.observer {
                observer.on_claim(info, ClaimOutcome::Skipped, Duration::ZERO);
            }
            true
        }
        Ok(false) => false,
        Err(e) => {
            tracing::warn!(error = %e, "psrpc server: claim announcement not sent");
            false
        }
    }
}

/// A claim waiting for the client's decision.
struct Waiting {
    /// When the decision can no longer come (the request expired).
    deadline: Instant,
    on_decision: OnDecision,
}

/// Claims waiting for the client's decision, by request id.
///
/// Decision: the work that follows a claim runs on the task that delivers
/// the client's decision (see `Subscription::run_inline`) rather than in a
/// task parked on a channel, so a chosen request costs no extra wake-up.
/// Claims whose decision never comes are dropped by [`expire`], which the
/// owner calls now and then, or when their awaiting [`claim`] times out.
///
/// [`expire`]: PendingClaims::expire
/// [`claim`]: PendingClaims::claim
#[derive(Default)]
pub(crate) struct PendingClaims(Mutex<HashMap<String, Waiting>>);

impl std::fmt::Debug for PendingClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PendingClaims").field(&self.0.lock().len()).finish()
    }
}

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
            Ok(claim) => self.decide(&claim),
            Err(e) => tracing::debug!(error = %e, "psrpc server: skipping claim frame"),
        }
    }

    /// Routes a client's decision to the claim waiting for it.
    fn decide(&self, response: &ClaimResponse) {
        let waiting = self.0.lock().remove(&response.request_id);
        if let Some(waiting) = waiting {
            (waiting.on_decision)(&response.server_id);
        }
    }

    /// Drops the claims whose decision can no longer come.
    pub(crate) fn expire(&self, now: Instant) {
        let expired: Vec<Waiting> = {
            let mut waiting = self.0.lock();
            let ids: Vec<String> =
                waiting.iter().filter(|(_, w)| w.deadline <= now).map(|(id, _)| id.clone()).collect();
            ids.iter().filter_map(|id| waiting.remove(id)).collect()
        };
        drop(expired); // outside the lock: dropping work may run code
    }

    /// Drops every waiting claim (the method stops).
    pub(crate) fn clear(&self) {
        let all = std::mem::take(&mut *self.0.lock());
        drop(all);
    }

    /// Publishes `claim` and, if the client chooses this server by
    /// `deadline`, runs `chosen` on the task that delivers the decision.
    /// `queued` is the request's frame when it came from a claimed queue
    /// subscription: the claim then goes out only if no other process took
    /// that frame. Nothing runs when another server is chosen, the claim is
    /// not published, or no decision comes.
    pub(crate) async fn claim_then(
        &self,
        server: &ServerInner,
        info: &RpcInfo,
        claim: Claim<'_>,
        queued: Option<&Bytes>,
        deadline: Instant,
        chosen: impl FnOnce() + Send + 'static,
    ) {
        let me = std::sync::Arc::clone(&server.id);
        let report = server.options.observer.as_ref().map(|observer| ClaimReport {
            observer: std::sync::Arc::clone(observer),
            info: info.clone(),
            sent: Instant::now(),
            reported: false,
        });
        let on_decision: OnDecision = Box::new(move |winner| {
            let won = *winner == *me;
            if let Some(report) = report {
                report.decided(won);
            }
            if won {
                chosen();
            }
        });
        self.0.lock().insert(claim.request_id.to_owned(), Waiting { deadline, on_decision });
        let message = ClaimRequest {
            request_id: claim.request_id.to_owned(),
            server_id: server.id.to_string(),
            affinity: claim.affinity,
            handling: false,
        };
        let channels = server.reply_channels.get(&server.service, claim.client_id);
        let published = match queued {
            Some(frame) => outbound::publish_claim(&*server.bus, frame, &channels.claim, &message).await,
            None => server.publish(&channels.claim, &message).await.map(|()| true),
        };
        match published {
            Ok(true) => {}
            // Another process took the request: a lost claim.
            Ok(false) => {
                self.decide(&ClaimResponse { request_id: claim.request_id.to_owned(), server_id: String::new() })
            }
            Err(e) => {
                tracing::warn!(error = %e, "psrpc server: claim not sent");
                self.forget(claim.request_id);
            }
        }
    }

    /// Publishes `claim` (see [`claim_then`](Self::claim_then)) and waits up
    /// to `wait` for the decision; true if this server was chosen.
    pub(crate) async fn claim(&self, server: &ServerInner, info: &RpcInfo, claim: Claim<'_>, wait: Duration) -> bool {
        let (tx, rx) = oneshot::channel();
        let deadline = crate::deadline::after(wait);
        self.claim_then(server, info, claim, None, deadline, move || {
            let _ = tx.send(());
        })
        .await;
        let chosen = matches!(tokio::time::timeout_at(deadline, rx).await, Ok(Ok(())));
        self.forget(claim.request_id);
        chosen
    }

    /// Drops the claim for `request_id`, if it still waits (outside the lock).
    fn forget(&self, request_id: &str) {
        let waiting = self.0.lock().remove(request_id);
        drop(waiting);
    }
}
