//! Deadlines: a handler's calls inherit what is left of its request's time,
//! and a caller's explicit deadline bounds the request's expiry.

use std::sync::Arc;
use std::time::Duration;

use psrpc_core::options::RequestOptions;
use psrpc_core::{Error, ErrorCode, RequestContext, RpcClient};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::fixtures::*;
use crate::BusFactory;

/// A call made inside a handler expires with the request being handled:
/// the nested call gives up at the outer deadline, not after its client's
/// own (longer) timeout, and the inner handler sees the outer deadline.
pub async fn nested_calls_inherit_the_remaining_budget(factory: &dyn BusFactory) {
    let svc = unique_service();
    let inner_server = server(factory, &svc).await;
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
    outer_server
        .register_unary(
            &SINGLE,
            vec![],
            move |_: RequestContext, p: Ping| {
                let nested = Arc::clone(&nested);
                async move { nested_call(&nested, p).await }
            },
            None,
        )
        .await
        .expect("register outer");
    let caller = client(factory, &svc).await;

    let budget = Duration::from_millis(400);
    let started = Instant::now();
    let slow = Ping { text: "slow".into(), delay_ms: 1_500 };
    let err = caller
        .request_single::<Ping, Pong>(&SINGLE, vec![], &slow, RequestOptions::default().timeout(budget))
        .await
        .expect_err("the outer call times out");
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded);
    let inner_deadline = deadlines.recv().await.expect("the inner handler ran");
    // The wire carries wall-clock expiries: allow for converting them back.
    let slack = Duration::from_millis(100);
    assert!(inner_deadline <= started + budget + slack, "the inner request expires with the outer one");
}

/// The handler's nested call: its error is the outer call's outcome.
async fn nested_call(nested: &RpcClient, p: Ping) -> Result<Pong, Error> {
    let started = Instant::now();
    let outcome =
        nested.request_single::<Ping, Pong>(&SHARD, vec!["inner".into()], &p, RequestOptions::default()).await;
    // Ended by the outer deadline (400 ms), long before its client's 2 s.
    assert!(started.elapsed() < Duration::from_millis(1_000), "the nested call outlived its parent");
    outcome.map(|reply| reply.message)
}

/// An explicit deadline shortens a call whose timeout is longer.
pub async fn explicit_deadline_bounds_the_call(factory: &dyn BusFactory) {
    let svc = unique_service();
    let s = server(factory, &svc).await;
    serve_echo(&s, &SINGLE, &[], None).await;
    let client = client(factory, &svc).await;
    let started = Instant::now();
    let by = started + Duration::from_millis(300);
    let slow = Ping { text: "slow".into(), delay_ms: 1_500 };
    let options = RequestOptions::default().timeout(Duration::from_secs(5)).deadline(by);
    let err = client.request_single::<Ping, Pong>(&SINGLE, vec![], &slow, options).await.expect_err("deadline");
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(1_500), "{elapsed:?}");
}
