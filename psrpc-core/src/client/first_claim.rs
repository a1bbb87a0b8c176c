//! Selection decided where the claims arrive: when the first qualifying
//! claim wins (`accept_first_available`, the default for queue methods), the
//! dispatcher answers it at once and the call only waits for the response.
//!
//! Decision: this saves the calling task a wake-up per claimed call. The
//! claim response is published from the dispatcher (up to its first wait,
//! see `here::run_here_first`); if that publish fails, the failure reaches
//! the call as an error response on its response route.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use tokio::time::{Instant, sleep_until, timeout_at};

use super::routes::{ClaimDecider, Responses, Routes};
use super::sampling::Sampled;
use super::select::qualifies;
use crate::deadline;
use crate::error::Error;
use crate::options::SelectionOptions;
use crate::transport::bus::SharedBus;
use crate::transport::channel::Channel;
use crate::transport::envelope::{ClaimRequest, ClaimResponse, Response};
use tokio::sync::Notify;

const OPEN: u8 = 0;
const DECIDED: u8 = 1;
const CLOSED: u8 = 2;

/// One call's selection, decided by the first qualifying claim.
#[derive(Debug)]
pub(crate) struct FirstClaim {
    request_id: String,
    decision_to: DecisionTo,
    selection: SelectionOptions,
    /// Whether a server may skip the exchange (a queue call): otherwise a
    /// claim marked `handling` is an ordinary bid.
    skip_allowed: bool,
    routes: Weak<Routes>,
    /// `OPEN` until a claim won (`DECIDED`) or the selection timed out (`CLOSED`).
    state: AtomicU8,
    claims_seen: AtomicUsize,
    /// The server whose claim won, once one did. A `OnceLock` and one
    /// `Notify` rather than a `watch`: a watch notifies eight wait lists on
    /// every send and on drop, a cost every claimed call would pay.
    winner: Arc<OnceLock<String>>,
    decided: Notify,
}

/// Where a call's decision goes: the method's claim-response channel on
/// `bus`, or the call's candidates when it asked a sample of the servers
/// (see `sampling`).
#[derive(Clone, Debug)]
pub(crate) struct DecisionTo {
    pub(crate) bus: SharedBus,
    pub(crate) claim_response: Channel,
    pub(crate) sampled: Option<Arc<Sampled>>,
}

impl DecisionTo {
    /// Publishes `decision`.
    pub(crate) async fn publish(&self, decision: &ClaimResponse) -> Result<(), Error> {
        match &self.sampled {
            Some(sampled) => sampled.publish_decision(decision).await,
            None => crate::outbound::publish(&*self.bus, &self.claim_response, decision).await,
        }
    }
}

impl FirstClaim {
    /// A selection for `request_id` whose decision goes to `decision_to`.
    pub(crate) fn new(
        request_id: &str,
        decision_to: DecisionTo,
        selection: SelectionOptions,
        skip_allowed: bool,
        routes: &Arc<Routes>,
        winner: Arc<OnceLock<String>>,
    ) -> Arc<Self> {
        Arc::new(FirstClaim {
            request_id: request_id.to_owned(),
            decision_to,
            selection,
            skip_allowed,
            routes: Arc::downgrade(routes),
            state: AtomicU8::new(OPEN),
            claims_seen: AtomicUsize::new(0),
            winner,
            decided: Notify::new(),
        })
    }

    /// Ends the selection at its timeout: fine if a claim already won,
    /// otherwise the call fails as Go psrpc's does (no claim, or none that
    /// qualified).
    fn close(&self) -> Result<(), Error> {
        if self.state.compare_exchange(OPEN, CLOSED, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Ok(());
        }
        match self.claims_seen.load(Ordering::Acquire) {
            0 => Err(Error::no_response()),
            seen => Err(Error::no_server_available(seen)),
        }
    }

    /// Waits for the call's response until `deadline`, failing at the
    /// selection timeout if no claim won by then.
    ///
    /// A request deadline that comes before the selection timeout also ends
    /// the selection: with no claim won by then the call fails as one no
    /// server claimed (`unavailable`), as Go psrpc's does; only a call some
    /// server was chosen for fails `deadline_exceeded` (docs/WIRE.md section
    /// 8.1).
    pub(crate) async fn response(
        &self,
        responses: &mut Responses,
        deadline: Instant,
    ) -> Result<Option<Response>, Error> {
        // Decided already (the claim exchange ran on the delivering task):
        // only the response is left to wait for, with no selection timer.
        if self.state.load(Ordering::Acquire) == DECIDED {
            return timeout_at(deadline, self.recv_from_winner(responses))
                .await
                .map_err(|_| Error::request_timed_out());
        }
        let selection_deadline = deadline::after(self.selection.affinity_timeout);
        loop {
            // A sampled call asks every server if no claim won by its candidate window.
            let sampled = self.decision_to.sampled.as_deref().filter(|_| self.state.load(Ordering::Acquire) == OPEN);
            let widen_at = sampled.and_then(Sampled::widen_at).filter(|at| *at < selection_deadline);
            tokio::select! {
                biased;
                response = timeout_at(deadline, self.recv_from_winner(responses)) => {
                    return response.or_else(|_| self.close().and(Err(Error::request_timed_out())));
                }
                () = sleep_until(selection_deadline) => break self.close()?,
                () = sleep_until(widen_at.unwrap_or(selection_deadline)), if widen_at.is_some() => {
                    if let Some(sampled) = sampled {
                        sampled.widen().await?;
                    }
                }
            }
        }
        timeout_at(deadline, self.recv_from_winner(responses)).await.map_err(|_| Error::request_timed_out())
    }

    /// The next response the call may take: once a claim won, only one from
    /// the winning server (see [`from_chosen`]); before that, any (as Go
    /// psrpc: the error of a server that could not decode the request, or
    /// the response of a server that skipped the exchange, may come first).
    async fn recv_from_winner(&self, responses: &mut Responses) -> Option<Response> {
        loop {
            let response = responses.recv().await?;
            if from_chosen(self.winner.get().map(String::as_str), &response) {
                return Some(response);
            }
        }
    }
}

/// Whether `response` may end a call whose selection chose `chosen` (`None`:
/// no server chosen yet, or a call without the claim exchange). A response
/// naming another server is dropped: no server but the chosen one runs the
/// request, so it comes from a peer forging responses (docs/WIRE.md,
/// "Security model"). Go servers and psrpc-rs servers always put their own
/// id, the one they claim with, in their responses.
pub(crate) fn from_chosen(chosen: Option<&str>, response: &Response) -> bool {
    match chosen {
        Some(chosen) if chosen != response.server_id => {
            tracing::debug!(
                chosen,
                server_id = %response.server_id,
                "psrpc client: dropping a response from a server the call did not choose"
            );
            false
        }
        _ => true,
    }
}

impl FirstClaim {
    /// The server whose claim won, once one did (`None` if the selection is dropped first).
    pub(crate) async fn winner(&self) -> Option<String> {
        loop {
            let decided = self.decided.notified();
            if let Some(winner) = self.winner.get() {
                return Some(winner.clone());
            }
            decided.await;
        }
    }
}

impl ClaimDecider for FirstClaim {
    /// Takes one claim: the first qualifying one, while the selection is
    /// open, is answered with a claim response naming its server.
    /// On a queue call, a claim marked `handling` (the server skipped the
    /// exchange and runs the request already) decides the selection too,
    /// whatever the options, and gets no claim response; elsewhere the mark
    /// is ignored (no server may skip the exchange there).
    fn take(&self, mut claim: ClaimRequest) {
        claim.handling &= self.skip_allowed;
        if !claim.handling {
            let seen = self.claims_seen.fetch_add(1, Ordering::AcqRel) + 1;
            if !qualifies(&self.selection, &claim) {
                // Every candidate claimed and none qualified: ask every server.
                if let Some(sampled) = self.decision_to.sampled.as_ref().filter(|s| s.expected_claims() == Some(seen)) {
                    let sampled = Arc::clone(sampled);
                    crate::here::run_here_first(async move {
                        if let Err(e) = sampled.widen().await {
                            tracing::debug!(error = %e, "psrpc client: the request was not sent to every server");
                        }
                    });
                }
                return;
            }
        }
        if self.state.compare_exchange(OPEN, DECIDED, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return;
        }
        let _ = self.winner.set(claim.server_id.clone());
        self.decided.notify_waiters();
        if claim.handling {
            return;
        }
        let decision = ClaimResponse { request_id: self.request_id.clone(), server_id: claim.server_id };
        let routes = self.routes.clone();
        let decision_to = self.decision_to.clone();
        crate::here::run_here_first(async move {
            let Err(e) = decision_to.publish(&decision).await else { return };
            if let Some(routes) = routes.upgrade() {
                let failed = Response {
                    request_id: decision.request_id.clone(),
                    // As if from the winner: the call takes only its responses.
                    server_id: decision.server_id.clone(),
                    error: e.message().to_owned(),
                    code: e.code().as_str().to_owned(),
                    error_details: e.details().to_vec(),
                    ..Default::default()
                };
                routes.responses.route(&decision.request_id, failed);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;
    use crate::error::ErrorCode;
    use crate::test_bus::Recorder;
    use crate::transport::frame;

    fn claim(server: &str, affinity: f32) -> ClaimRequest {
        ClaimRequest { request_id: "REQ_first".into(), server_id: server.into(), affinity, handling: false }
    }

    fn setup(recorder: &Arc<Recorder>, selection: SelectionOptions) -> (Arc<FirstClaim>, Arc<Routes>) {
        let routes = Arc::new(Routes::default());
        let channel = crate::transport::channel::claim_response_channel("Svc", "Method", &[] as &[&str]);
        let bus: SharedBus = Arc::clone(recorder) as SharedBus;
        let decision_to = DecisionTo { bus, claim_response: channel, sampled: None };
        (FirstClaim::new("REQ_first", decision_to, selection, true, &routes, Default::default()), routes)
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_qualifying_claim_is_answered_once() {
        let recorder = Arc::new(Recorder::default());
        let selection = SelectionOptions::first_available(Duration::from_secs(1)).minimum_affinity(0.5);
        let (first, _routes) = setup(&recorder, selection);
        first.take(claim("SRV_low", 0.2));
        first.take(claim("SRV_a", 0.7));
        first.take(claim("SRV_b", 0.9));
        let published = recorder.published.lock().clone();
        assert_eq!(published.len(), 1, "one claim response");
        let decision: ClaimResponse = frame::decode_envelope(published[0].clone()).expect("a ClaimResponse");
        assert_eq!((decision.request_id.as_str(), decision.server_id.as_str()), ("REQ_first", "SRV_a"));
        assert_eq!(first.close(), Ok(()), "the selection timeout after a decision is no failure");
    }

    #[tokio::test(start_paused = true)]
    async fn a_handling_claim_decides_without_a_claim_response() {
        let recorder = Arc::new(Recorder::default());
        let selection = SelectionOptions::first_available(Duration::from_secs(1)).minimum_affinity(0.5);
        let (first, _routes) = setup(&recorder, selection);
        first.take(ClaimRequest { handling: true, ..claim("SRV_runs", 0.0) });
        first.take(claim("SRV_late", 1.0));
        assert_eq!(first.winner().await.as_deref(), Some("SRV_runs"));
        assert!(recorder.published.lock().is_empty(), "a server already running it awaits no claim response");
        let (tx, responses) = mpsc::channel(1);
        let mut responses = Responses::Channel(responses);
        let from_runner =
            Response { request_id: "REQ_first".into(), server_id: "SRV_runs".into(), ..Default::default() };
        tx.send(from_runner).await.expect("send");
        let started = Instant::now();
        let response = first.response(&mut responses, started + Duration::from_secs(5)).await.expect("in time");
        assert_eq!(response.map(|r| r.request_id).as_deref(), Some("REQ_first"));
    }

    #[tokio::test(start_paused = true)]
    async fn no_qualifying_claim_by_the_selection_timeout_fails_with_the_count() {
        let recorder = Arc::new(Recorder::default());
        let selection = SelectionOptions::first_available(Duration::from_millis(300)).only_servers(["SRV_named"]);
        let (first, _routes) = setup(&recorder, selection);
        first.take(claim("SRV_other", 1.0));
        first.take(claim("SRV_another", 1.0));
        let (_tx, responses) = mpsc::channel(1);
        let mut responses = Responses::Channel(responses);
        let started = Instant::now();
        let err = first.response(&mut responses, started + Duration::from_secs(5)).await.expect_err("nobody chosen");
        assert_eq!(err.code(), ErrorCode::Unavailable);
        assert!(err.message().contains("received 2"), "{err}");
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        first.take(claim("SRV_named", 1.0));
        assert!(recorder.published.lock().is_empty(), "a claim after the timeout is not answered");

        let (quiet, _routes) = setup(&recorder, SelectionOptions::first_available(Duration::from_millis(300)));
        let err = quiet.response(&mut responses, started + Duration::from_secs(5)).await.expect_err("no claim");
        assert_eq!(err, Error::no_response());
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_deadline_before_the_selection_timeout_fails_as_no_server_claimed() {
        let recorder = Arc::new(Recorder::default());
        let (first, _routes) = setup(&recorder, SelectionOptions::first_available(Duration::from_secs(1)));
        let (_tx, responses) = mpsc::channel(1);
        let mut responses = Responses::Channel(responses);
        let started = Instant::now();
        let deadline = started + Duration::from_millis(500);
        let err = first.response(&mut responses, deadline).await.expect_err("no claim");
        assert_eq!(err, Error::no_response());
        assert_eq!(started.elapsed(), Duration::from_millis(500), "at the request deadline");
        first.take(claim("SRV_late", 1.0));
        assert!(recorder.published.lock().is_empty(), "a claim after the deadline is not answered");

        let only = SelectionOptions::first_available(Duration::from_secs(1)).only_servers(["SRV_named"]);
        let (picky, _routes) = setup(&recorder, only);
        picky.take(claim("SRV_other", 1.0));
        let err = picky.response(&mut responses, Instant::now() + Duration::from_millis(500)).await.expect_err("none");
        assert_eq!(err, Error::no_server_available(1));

        let (chosen, _routes) = setup(&recorder, SelectionOptions::first_available(Duration::from_secs(1)));
        let started = Instant::now();
        let waiting = chosen.response(&mut responses, started + Duration::from_millis(500));
        let claim_then_wait = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            chosen.take(claim("SRV_slow", 1.0));
        };
        let (err, ()) = tokio::join!(waiting, claim_then_wait);
        assert_eq!(err.expect_err("no response"), Error::request_timed_out(), "a chosen server that never answered");
    }

    #[tokio::test(start_paused = true)]
    async fn once_a_claim_won_only_the_winners_response_ends_the_call() {
        let recorder = Arc::new(Recorder::default());
        let (first, _routes) = setup(&recorder, SelectionOptions::first_available(Duration::from_secs(1)));
        first.take(claim("SRV_real", 1.0));
        let (tx, responses) = mpsc::channel(4);
        let mut responses = Responses::Channel(responses);
        let response = |server: &str, payload: &'static [u8]| Response {
            server_id: server.into(),
            raw_response: bytes::Bytes::from_static(payload),
            ..Default::default()
        };
        tx.send(response("SRV_forged", b"forged")).await.expect("send");
        tx.send(response("", b"no server")).await.expect("send");
        tx.send(response("SRV_real", b"real")).await.expect("send");
        let started = Instant::now();
        let got = first.response(&mut responses, started + Duration::from_secs(5)).await.expect("in time");
        assert_eq!(got.map(|r| r.raw_response), Some(bytes::Bytes::from_static(b"real")));

        // Before any claim won, a response is taken from any server (as Go psrpc).
        let (open, _routes) = setup(&recorder, SelectionOptions::first_available(Duration::from_secs(1)));
        tx.send(response("SRV_other", b"early")).await.expect("send");
        let got = open.response(&mut responses, started + Duration::from_secs(5)).await.expect("in time");
        assert_eq!(got.map(|r| r.server_id).as_deref(), Some("SRV_other"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_decision_that_cannot_be_published_fails_the_call() {
        let recorder = Arc::new(Recorder { refuse: true, ..Default::default() });
        let (first, routes) = setup(&recorder, SelectionOptions::first_available(Duration::from_secs(1)));
        let (tx, responses) = mpsc::channel(1);
        let mut responses = Responses::Channel(responses);
        routes.responses.insert("REQ_first".into(), super::super::routes::ResponseRoute::any(tx));
        first.take(claim("SRV_a", 1.0));
        let started = Instant::now();
        let response = first.response(&mut responses, started + Duration::from_secs(5)).await.expect("in time");
        let response = response.expect("the failure arrives as a response");
        assert_eq!(response.code, ErrorCode::Unavailable.as_str());
        assert_eq!(response.server_id, "SRV_a", "as if from the winner, the only server the call listens to");
        assert_eq!(started.elapsed(), Duration::ZERO, "at once, not at a timeout");
    }
}
