//! The server's side of the claim exchange, played against by hand: a
//! chosen claim runs the handler, a claim lost to another server or never
//! answered runs nothing, and neither holds up shutdown past the request's
//! expiry.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use psrpc_core::RequestContext;

use super::fixtures::*;
use super::hand_client::HandClient;
use crate::BusFactory;

/// Chosen: the handler runs and answers. Lost to another server: nothing
/// runs. Never answered: the claim is dropped after the request expires, and
/// shutdown, which waits for it, then completes.
pub async fn claims_run_the_handler_only_when_chosen_and_expire_unanswered(factory: &dyn BusFactory) {
    let (svc, server) = own_server(factory).await;
    let handled = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&handled);
    let handler = move |ctx: RequestContext, p: Ping| {
        count.fetch_add(1, Ordering::SeqCst);
        echo(ctx, p)
    };
    serve_single(&server, handler).await;
    let mut client = HandClient::new(factory, &svc).await;

    let claim = client.request(&SINGLE, Duration::from_secs(5), false).await;
    assert_eq!(claim.server_id, server.id());
    client.decide(&SINGLE, &claim.request_id, server.id()).await;
    client.response(&claim).await;
    assert_eq!(handled.load(Ordering::SeqCst), 1);

    // Valid for long: if losing did not end it, shutdown would wait for it.
    let lost = client.request(&SINGLE, Duration::from_secs(30), false).await;
    // At least one: the claim counts from the moment it is published, and the
    // work that published it may not have returned yet on a slower bus.
    assert!(server.in_flight() >= 1, "a claim waiting for its decision is in flight");
    client.decide(&SINGLE, &lost.request_id, "SRV_someoneelse").await;

    let _unanswered = client.request(&SINGLE, Duration::from_secs(1), false).await;
    let started = tokio::time::Instant::now();
    tokio::time::timeout(WAIT_LIMIT, server.shutdown()).await.expect("shutdown completes");
    assert!(started.elapsed() >= Duration::from_millis(500), "shutdown waited for the unanswered claim");
    assert_eq!(server.in_flight(), 0);
    assert_eq!(handled.load(Ordering::SeqCst), 1, "only the chosen claim ran the handler");
}
