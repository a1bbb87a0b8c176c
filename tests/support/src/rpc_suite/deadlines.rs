//! Deadlines: a handler's calls inherit what is left of its request's time,
//! and a caller's explicit deadline bounds the request's expiry.

use std::sync::Arc;
use std::time::Duration;

use psrpc_core::options::RequestOptions;
use psrpc_core::{ErrorCode, RequestContext};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::fixtures::*;
use crate::BusFactory;

/// A call made inside a handler expires with the request being handled:
/// the inner handler sees the outer deadline, not one of the nested
/// client's own (longer) timeout.
pub async fn nested_calls_inherit_the_remaining_budget(factory: &dyn BusFactory) {
    let (svc, inner_server) = own_server(factory).await;
    let (deadlines_tx, mut deadlines) = mpsc::unbounded_channel();
    inner_server
        .register_unary(
            &SHARD,
            vec!["inner".into()],
            move |ctx: RequestContext, p: Ping| {
                let _ = deadlines_tx.send(ctx.deadline());
                echo(ctx, p)
            },
            None,
        )
        .await
        .expect("register inner");
    // The nested client's own timeout (2 s) is far longer than the outer request's.
    let nested = Arc::new(client(factory, &svc).await);
    let outer_server = server(factory, &svc).await;
    let (outer_tx, mut outer) = mpsc::unbounded_channel();
    outer_server
        .register_unary(
            &SINGLE,
            vec![],
            move |ctx: RequestContext, p: Ping| {
                let _ = outer_tx.send(ctx.deadline());
                let nested = Arc::clone(&nested);
                async move {
                    let options = RequestOptions::default();
                    let outcome = nested.request_single::<Ping, Pong>(&SHARD, vec!["inner".into()], &p, options).await;
                    outcome.map(|reply| reply.message)
                }
            },
            None,
        )
        .await
        .expect("register outer");
    let caller = client(factory, &svc).await;

    // The inner handler sleeps 1.5 s: within the nested client's own 2 s, past the outer 400 ms.
    let outer_timeout = within(Duration::from_millis(400));
    let err = slow_single(&caller, 1_500, outer_timeout).await.expect_err("the outer call times out");
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded);
    let inner_deadline = deadlines.recv().await.expect("the inner handler ran");
    let outer_deadline = outer.recv().await.expect("the outer handler ran");
    // The wire carries wall-clock expiries: allow for converting them back
    // (an inner deadline of its client's own would be 1.6 s later).
    assert!(inner_deadline <= outer_deadline + Duration::from_secs(1), "the inner request expires with the outer one");
}

/// An explicit deadline shortens a call whose timeout is longer.
pub async fn explicit_deadline_bounds_the_call(factory: &dyn BusFactory) {
    let (_server, client) = echo_service(factory).await;
    let started = Instant::now();
    let by = started + Duration::from_millis(300);
    let options = within(Duration::from_secs(5)).deadline(by);
    // The 1.5 s handler would answer within the 5 s timeout: only the deadline ends the call.
    let err = slow_single(&client, 1_500, options).await.expect_err("deadline");
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded);
    assert!(started.elapsed() >= Duration::from_millis(300), "not before the deadline");
}
