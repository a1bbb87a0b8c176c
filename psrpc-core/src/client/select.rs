//! Server selection: which of the servers that claimed a request gets it.

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::routes::Responses;
use super::sampling::Sampled;
use crate::error::Error;
use crate::info::RpcInfo;
use crate::options::{Claim, SelectionOptions};
use crate::transport::envelope::ClaimRequest;
use crate::user_code;

/// Waits for claims and picks a server under `opts` (Go psrpc semantics):
///
/// - claims below `minimum_affinity` (when > 0), or from servers outside
///   `only_servers` (when set), do not qualify;
/// - `accept_first_available`, or a claim at or above `maximum_affinity`
///   (when > 0), wins at once;
/// - otherwise the best qualifying claim (or `selection_fn` over all of them)
///   is chosen when `affinity_timeout` passes, or `short_circuit_timeout` after
///   the first qualifying claim;
/// - an error response (a server could not decode the request) ends a
///   queue method's selection with that error (the queue's only server has
///   answered); on an affinity method another server may still claim, so the
///   error is held and is the outcome only if no server is chosen by the
///   timeout (the last such error); no qualifying claim gives `unavailable`;
/// - the request deadline `until` also ends the selection, as in Go psrpc
///   (its selection runs under the request's context): with no qualifying
///   claim by then the call fails `unavailable` ("no response from servers",
///   or "no servers available" with the count), with one it fails
///   `deadline_exceeded`, since no time is left for the chosen server;
/// - a panic in `selection_fn` (user code, behind the panic boundary) fails
///   the call with `internal`;
/// - on a queue call, a claim marked `handling` (a server that skipped the
///   claim exchange and runs the request already) ends the selection at once
///   with that server, whatever the options: there is nothing left to
///   choose. Elsewhere no server may skip the exchange, and such a claim is
///   an ordinary bid.
pub(crate) async fn select_server(
    info: &RpcInfo,
    claims: &mut mpsc::Receiver<ClaimRequest>,
    responses: Option<&mut Responses>,
    opts: &SelectionOptions,
    queue: bool,
    until: Instant,
) -> Result<Selected, Error> {
    select_among(info, claims, responses, opts, queue, until, None).await
}

/// [`select_server`] for a call that asked `sampled` candidates only (see
/// `sampling`): once every candidate claimed, the selection ends at once
/// with the best qualifying claim; with none qualifying then, or none by the
/// candidate window, the call asks every server and the selection goes on.
pub(crate) async fn select_among(
    info: &RpcInfo,
    claims: &mut mpsc::Receiver<ClaimRequest>,
    mut responses: Option<&mut Responses>,
    opts: &SelectionOptions,
    queue: bool,
    until: Instant,
    sampled: Option<&Sampled>,
) -> Result<Selected, Error> {
    let mut held: Option<Error> = None;
    let mut deadline = crate::deadline::after(opts.affinity_timeout).min(until);
    let mut shorted = false;
    let mut best: Option<Claim> = None;
    let mut qualifying: Vec<Claim> = Vec::new();
    let mut claim_count = 0usize;

    loop {
        let chosen = best.is_some() || !qualifying.is_empty();
        if let Some(sampled) = sampled
            && sampled.expected_claims() == Some(claim_count)
        {
            match chosen {
                true => deadline = Instant::now(),
                false => sampled.widen().await?,
            }
        }
        let widen_at = sampled.filter(|_| !chosen).and_then(Sampled::widen_at);
        tokio::select! {
            biased;
            claim = claims.recv() => {
                let Some(claim) = claim else { return Err(Error::client_closed()) };
                // Only a queue call lets a server skip the exchange (as Go
                // psrpc's servers); elsewhere `handling` is ignored and the
                // claim is a bid like any other, so a forged announcement
                // cannot bypass the selection options (`only_servers`).
                if claim.handling && queue {
                    return Ok(Selected { server_id: claim.server_id, handling: true });
                }
                claim_count += 1;
                if !qualifies(opts, &claim) {
                    continue;
                }
                if opts.accept_first_available
                    || (opts.maximum_affinity > 0.0 && claim.affinity >= opts.maximum_affinity)
                {
                    return Ok(Selected::bid(claim.server_id));
                }
                let claim = Claim { server_id: claim.server_id, affinity: claim.affinity };
                if opts.selection_fn.is_some() {
                    qualifying.push(claim);
                } else if best.as_ref().is_none_or(|b| claim.affinity > b.affinity) {
                    best = Some(claim);
                }
                if let (Some(short), false) = (opts.short_circuit_timeout, shorted) {
                    shorted = true;
                    deadline = deadline.min(crate::deadline::after(short));
                }
            }
            response = recv_error(&mut responses) => match response {
                ErrorResponse::Closed => return Err(Error::client_closed()),
                ErrorResponse::Error(error) if queue => return Err(error),
                ErrorResponse::Error(error) => held = Some(error),
            },
            () = sleep_until(widen_at.unwrap_or(deadline)), if widen_at.is_some_and(|at| at < deadline) => {
                if let Some(sampled) = sampled {
                    sampled.widen().await?;
                }
            }
            () = sleep_until(deadline) => {
                let chosen_too_late = best.is_some() || !qualifying.is_empty();
                if deadline >= until && chosen_too_late {
                    return Err(Error::request_timed_out());
                }
                return match (&opts.selection_fn, best) {
                    (Some(select), _) if !qualifying.is_empty() => {
                        user_code::catch(info, "selection function", || select(&qualifying)).map(Selected::bid)
                    }
                    (_, Some(best)) => Ok(Selected::bid(best.server_id)),
                    _ if held.is_some() => Err(held.unwrap_or_else(Error::no_response)),
                    _ if claim_count > 0 => Err(Error::no_server_available(claim_count)),
                    _ => Err(Error::no_response()),
                };
            }
        }
    }
}

/// The server a selection ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Selected {
    /// The chosen server.
    pub(crate) server_id: String,
    /// The server announced that it runs the request already: it awaits no
    /// claim response.
    pub(crate) handling: bool,
}

impl Selected {
    /// A server chosen among bids: the claim response tells it so.
    fn bid(server_id: String) -> Self {
        Selected { server_id, handling: false }
    }
}

/// Whether `claim` may be selected under `opts` (minimum affinity and
/// server-id routing).
pub(crate) fn qualifies(opts: &SelectionOptions, claim: &ClaimRequest) -> bool {
    let affine_enough = opts.minimum_affinity <= 0.0 || claim.affinity >= opts.minimum_affinity;
    let allowed = opts.only_servers.as_ref().is_none_or(|only| only.contains(&claim.server_id));
    affine_enough && allowed
}

/// Whether the first qualifying claim wins at once, whatever comes later:
/// then the decision can be taken where the claim arrives.
pub(crate) fn first_qualifying_wins(opts: &SelectionOptions) -> bool {
    opts.accept_first_available && opts.selection_fn.is_none()
}

/// What the response channel gave during selection.
enum ErrorResponse {
    /// A server answered with this error.
    Error(Error),
    /// The client closed.
    Closed,
}

/// The next error response, if a response channel is watched.
async fn recv_error(responses: &mut Option<&mut Responses>) -> ErrorResponse {
    let Some(rx) = responses.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Some(res) if !res.error.is_empty() => {
                return ErrorResponse::Error(Error::from_wire(&res.code, res.error, res.error_details));
            }
            Some(_) => {}
            None => {
                // Once closed, the channel is not polled again.
                *responses = None;
                return ErrorResponse::Closed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::transport::envelope::Response;
    use std::time::Duration;

    static METHOD: crate::info::MethodInfo = crate::info::MethodInfo::new(
        "M",
        crate::info::MethodKind::Unary(crate::info::Selection::Affinity { topics: false }),
    );

    fn info() -> RpcInfo {
        RpcInfo::new("S".into(), &METHOD, Vec::new())
    }

    fn claim(server: &str, affinity: f32) -> ClaimRequest {
        ClaimRequest { request_id: "REQ_x".into(), server_id: server.into(), affinity, handling: false }
    }

    async fn run(claims: Vec<(u64, ClaimRequest)>, opts: SelectionOptions) -> (Result<String, Error>, Duration) {
        let (tx, mut rx) = mpsc::channel(16);
        let start = Instant::now();
        tokio::spawn(async move {
            for (at_ms, c) in claims {
                sleep_until(start + Duration::from_millis(at_ms)).await;
                if tx.send(c).await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        });
        let result = select_server(&info(), &mut rx, None, &opts, false, start + Duration::from_secs(60))
            .await
            .map(|s| s.server_id);
        (result, start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn first_available_wins_at_once() {
        let opts = SelectionOptions::first_available(Duration::from_secs(1));
        let (r, t) = run(vec![(5, claim("a", 0.1)), (6, claim("b", 1.0))], opts).await;
        assert_eq!(r.expect("selected"), "a");
        assert_eq!(t, Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn best_affinity_within_the_short_circuit() {
        let opts = SelectionOptions::best_affinity(Duration::from_secs(1));
        let (r, t) = run(vec![(10, claim("a", 0.2)), (100, claim("b", 0.9)), (300, claim("c", 1.0))], opts).await;
        assert_eq!(r.expect("selected"), "b", "c arrived after the 200 ms short circuit");
        assert_eq!(t, Duration::from_millis(210));
    }

    #[tokio::test(start_paused = true)]
    async fn maximum_affinity_wins_immediately_and_minimum_filters() {
        let opts = SelectionOptions::default().minimum_affinity(0.5).maximum_affinity(0.9);
        let (r, t) = run(vec![(1, claim("low", 0.4)), (2, claim("mid", 0.6)), (3, claim("top", 0.95))], opts).await;
        assert_eq!(r.expect("selected"), "top");
        assert_eq!(t, Duration::from_millis(3));
    }

    #[tokio::test(start_paused = true)]
    async fn only_servers_routes_to_the_named_server() {
        let opts = SelectionOptions::first_available(Duration::from_millis(50)).only_servers(["pod-2"]);
        let (r, t) =
            run(vec![(1, claim("pod-1", 1.0)), (4, claim("pod-2", 0.1)), (5, claim("pod-3", 1.0))], opts.clone()).await;
        assert_eq!(r.expect("selected"), "pod-2");
        assert_eq!(t, Duration::from_millis(4), "the named server wins as soon as it claims");
        let (r, t) = run(vec![(1, claim("pod-1", 1.0)), (5, claim("pod-3", 1.0))], opts).await;
        assert_eq!(r.expect_err("the named server never claimed").code(), ErrorCode::Unavailable);
        assert_eq!(t, Duration::from_millis(50));
    }

    #[tokio::test(start_paused = true)]
    async fn claims_below_minimum_give_unavailable_with_count() {
        let opts = SelectionOptions::default().minimum_affinity(0.5).affinity_timeout(Duration::from_millis(50));
        let (r, t) = run(vec![(1, claim("low", 0.4))], opts).await;
        let err = r.expect_err("nothing qualifies");
        assert_eq!(err.code(), ErrorCode::Unavailable);
        assert!(err.message().contains("received 1"), "{err}");
        assert_eq!(t, Duration::from_millis(50));
    }

    #[tokio::test(start_paused = true)]
    async fn no_claims_times_out_with_no_response() {
        let (r, t) = run(vec![], SelectionOptions::first_available(Duration::from_secs(1))).await;
        assert_eq!(r.expect_err("no server"), Error::no_response());
        assert_eq!(t, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_deadline_inside_the_selection_timeout_ends_it_as_go_does() {
        let (_tx, mut rx) = mpsc::channel(1);
        let start = Instant::now();
        let until = start + Duration::from_millis(500);
        let opts = SelectionOptions::first_available(Duration::from_secs(1));
        let r = select_server(&info(), &mut rx, None, &opts, false, until).await;
        assert_eq!(r.expect_err("no claim"), Error::no_response());
        assert_eq!(start.elapsed(), Duration::from_millis(500));

        let (tx, mut rx) = mpsc::channel(4);
        tx.send(claim("low", 0.1)).await.expect("send");
        let start = Instant::now();
        let opts = SelectionOptions::best_affinity(Duration::from_secs(1)).minimum_affinity(0.5);
        let r = select_server(&info(), &mut rx, None, &opts, false, start + Duration::from_millis(100)).await;
        assert_eq!(r.expect_err("nothing qualifies"), Error::no_server_available(1));

        tx.send(claim("good", 0.9)).await.expect("send");
        let opts = SelectionOptions::default().affinity_timeout(Duration::from_secs(1));
        let r = select_server(&info(), &mut rx, None, &opts, false, Instant::now() + Duration::from_millis(100)).await;
        assert_eq!(r.expect_err("chosen too late"), Error::request_timed_out());
    }

    #[tokio::test(start_paused = true)]
    async fn selection_fn_sees_every_qualifying_claim_at_the_deadline() {
        let opts = SelectionOptions::default().affinity_timeout(Duration::from_millis(100)).selection_fn(|claims| {
            assert_eq!(claims.len(), 3);
            Ok(claims.iter().min_by(|a, b| a.affinity.total_cmp(&b.affinity)).expect("claims").server_id.clone())
        });
        let (r, t) = run(vec![(1, claim("a", 0.3)), (2, claim("b", 0.1)), (3, claim("c", 0.7))], opts).await;
        assert_eq!(r.expect("selected"), "b");
        assert_eq!(t, Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_selection_fn_fails_the_call_with_internal() {
        let opts = SelectionOptions::default()
            .affinity_timeout(Duration::from_millis(100))
            .selection_fn(|_| panic!("selection bug"));
        let (r, t) = run(vec![(1, claim("a", 0.3))], opts).await;
        let err = r.expect_err("the panic fails the call");
        assert_eq!((err.code(), err.message()), (ErrorCode::Internal, "selection function panicked"));
        assert_eq!(t, Duration::from_millis(100));
    }

    static QUEUE: crate::info::MethodInfo = crate::info::MethodInfo::new(
        "Q",
        crate::info::MethodKind::Unary(crate::info::Selection::Queue { topics: false }),
    );

    #[tokio::test(start_paused = true)]
    async fn off_a_queue_call_a_handling_claim_is_an_ordinary_bid() {
        let opts = SelectionOptions::best_affinity(Duration::from_secs(1)).only_servers(["real"]);
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(ClaimRequest { handling: true, ..claim("forged", 1000.0) }).await.expect("send");
        tx.send(claim("real", 0.5)).await.expect("send");
        let until = Instant::now() + Duration::from_secs(60);
        let selected = select_server(&info(), &mut rx, None, &opts, false, until).await.expect("selected");
        assert_eq!(selected, Selected { server_id: "real".into(), handling: false }, "the forged one does not qualify");
    }

    fn bad_bytes() -> Response {
        Response { error: "bad bytes".into(), code: "malformed_request".into(), ..Default::default() }
    }

    #[tokio::test(start_paused = true)]
    async fn a_handling_claim_ends_selection_at_once_with_no_claim_response() {
        let opts = SelectionOptions::best_affinity(Duration::from_secs(1)).minimum_affinity(0.9);
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(claim("bidder", 1.0)).await.expect("send");
        tx.send(ClaimRequest { handling: true, ..claim("runner", 0.1) }).await.expect("send");
        let start = Instant::now();
        let until = start + Duration::from_secs(60);
        let selected = select_server(&info(), &mut rx, None, &opts, true, until).await.expect("selected");
        assert_eq!(selected, Selected { server_id: "runner".into(), handling: true }, "below minimum, still taken");
        assert_eq!(start.elapsed(), Duration::ZERO, "no wait for the short circuit");
        let (r, _) = run(vec![(5, claim("a", 1.0))], SelectionOptions::first_available(Duration::from_secs(1))).await;
        assert_eq!(r.expect("a bid"), "a");
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_response_ends_a_queue_selection() {
        let (_ctx, mut claims) = mpsc::channel::<ClaimRequest>(1);
        let (res_tx, responses) = mpsc::channel(1);
        let mut responses = Responses::Channel(responses);
        res_tx.send(bad_bytes()).await.expect("send");
        let (start, queue) = (Instant::now(), RpcInfo::new("S".into(), &QUEUE, Vec::new()));
        let far = start + Duration::from_secs(60);
        let err = select_server(&queue, &mut claims, Some(&mut responses), &SelectionOptions::default(), true, far)
            .await
            .expect_err("error response");
        assert_eq!(err.code(), ErrorCode::MalformedRequest);
        assert_eq!(start.elapsed(), Duration::ZERO, "at once");
    }

    #[tokio::test(start_paused = true)]
    async fn an_affinity_selection_holds_an_error_response_as_go_does() {
        let far = Instant::now() + Duration::from_secs(60);
        let opts = SelectionOptions::best_affinity(Duration::from_millis(100));
        // Another server claims after the error: it is chosen.
        let (claim_tx, mut claims) = mpsc::channel::<ClaimRequest>(1);
        let (res_tx, responses) = mpsc::channel(1);
        let mut responses = Responses::Channel(responses);
        res_tx.send(bad_bytes()).await.expect("send");
        claim_tx.send(claim("good", 0.5)).await.expect("send");
        let chosen = select_server(&info(), &mut claims, Some(&mut responses), &opts, false, far).await;
        assert_eq!(chosen.expect("the claiming server").server_id, "good");
        // Nobody claims: the held error is the outcome, at the selection timeout.
        res_tx.send(bad_bytes()).await.expect("send");
        let start = Instant::now();
        let err = select_server(&info(), &mut claims, Some(&mut responses), &opts, false, far).await.expect_err("held");
        assert_eq!(err.code(), ErrorCode::MalformedRequest);
        assert_eq!(start.elapsed(), Duration::from_millis(100));
    }
}
