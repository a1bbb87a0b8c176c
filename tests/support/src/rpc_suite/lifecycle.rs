//! Server lifecycle: shutdown drains, kill stops at once, registration rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use psrpc_core::options::RequestOptions;
use psrpc_core::{ErrorCode, RequestContext};
use tokio::time::Instant;

use super::fixtures::*;
use crate::BusFactory;

/// `shutdown` lets in-flight calls finish, then the service is gone.
pub async fn shutdown_drains_in_flight_calls(factory: &dyn BusFactory) {
    let (s, client) = echo_service(factory).await;
    let in_flight = spawn_slow_single(&client, 400, RequestOptions::default());
    until_in_flight(&s).await;
    let started = Instant::now();
    s.shutdown().await;
    assert!(started.elapsed() >= Duration::from_millis(200), "waited for the in-flight call");
    assert_eq!(in_flight.await.expect("task").expect("finished during shutdown").message.text, "slow");
    let err = call(&client, &SINGLE, "late").await.expect_err("gone");
    assert_eq!(err.code(), ErrorCode::Unavailable);
}

/// `kill` drops in-flight calls at once (the caller times out) and
/// unsubscribes; registering afterwards fails.
pub async fn kill_stops_at_once_and_server_calls_fail(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    let (started_tx, mut handler_started) = tokio::sync::mpsc::unbounded_channel();
    let finished = Arc::new(AtomicBool::new(false));
    let handler_finished = Arc::clone(&finished);
    serve_single(&s, move |ctx: RequestContext, p: Ping| {
        let _ = started_tx.send(());
        let finished = Arc::clone(&handler_finished);
        async move {
            let pong = echo(ctx, p).await;
            finished.store(true, Ordering::SeqCst);
            pong
        }
    })
    .await;
    let client = client(factory, &svc).await;
    let call = spawn_slow_single(&client, 5_000, within(Duration::from_millis(800)));
    handler_started.recv().await.expect("the handler runs");
    s.kill().await;
    // The handler sleeps 5 s: had kill waited for it, it would have finished.
    assert!(!finished.load(Ordering::SeqCst), "kill waited for the handler");
    let err = call.await.expect("task").expect_err("killed mid-call");
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded);
    assert_eq!(s.in_flight(), 0);
    let again = s.register_unary(&SINGLE, vec![], echo, None).await.expect_err("killed servers take no handlers");
    assert_eq!(again.code(), ErrorCode::Canceled);
}

/// A shutdown the caller bounds: when draining takes longer than the caller
/// allows (a handler that never ends, like a stream whose peer vanished
/// without a word), dropping `shutdown` and calling `kill` ends what is left.
pub async fn a_bounded_shutdown_then_kill_ends_stuck_handlers(factory: &dyn BusFactory) {
    /// Says when the handler's future is dropped.
    struct OnDrop(Option<tokio::sync::oneshot::Sender<()>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }
    let (svc, s) = own_server(factory).await;
    let (started_tx, mut handler_started) = tokio::sync::mpsc::unbounded_channel();
    let (dropped_tx, dropped) = tokio::sync::oneshot::channel();
    let dropped_tx = std::sync::Mutex::new(Some(dropped_tx));
    serve_single(&s, move |_: RequestContext, _: Ping| {
        let _ = started_tx.send(());
        let guard = OnDrop(dropped_tx.lock().expect("guard lock").take());
        async move {
            let _guard = guard;
            std::future::pending::<Result<Pong, psrpc_core::Error>>().await
        }
    })
    .await;
    let client = client(factory, &svc).await;
    let call = tokio::spawn(async move {
        let options = within(Duration::from_millis(1500));
        client.request_single::<Ping, Pong>(&SINGLE, vec![], &ping("stuck"), options).await
    });
    handler_started.recv().await.expect("the handler runs");

    let drained = tokio::time::timeout(Duration::from_millis(200), s.shutdown()).await;
    assert!(drained.is_err(), "the stuck handler holds the drain");
    s.kill().await;
    tokio::time::timeout(WAIT_LIMIT, dropped)
        .await
        .expect("kill drops the stuck handler")
        .expect("the guard reports its drop");
    let err = call.await.expect("task").expect_err("no answer from a killed handler");
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded);
}

/// Registering the same method and topic twice is `already_exists`.
pub async fn duplicate_registration_is_rejected(factory: &dyn BusFactory) {
    let (_, s) = own_server(factory).await;
    serve_echo(&s, &REGIONAL, &["a"], None).await;
    let err = s.register_unary(&REGIONAL, vec!["a".into()], echo, None).await.expect_err("duplicate");
    assert_eq!(err.code(), ErrorCode::AlreadyExists);
    serve_echo(&s, &REGIONAL, &["b"], None).await;
}
