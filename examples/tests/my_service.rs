//! The `my_service` example's roles, driven with a stop future instead of a
//! signal: the server drains when stopped, and its publisher outlives a
//! broker restart.

use std::time::Duration;

use futures_util::FutureExt as _;
use psrpc::{ClientOptions, RequestOptions, SharedBus};
use psrpc_examples::my_service::{MyRequest, MyServiceClient, MyUpdate};
use psrpc_examples::my_service_app::{PUBLISH_PERIOD, run_both, run_client, run_server};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::nats::NatsServer;
use tokio::sync::oneshot;

/// Starts `run_server` on its own task; sending on the returned sender stops it.
fn spawn_server(
    bus: SharedBus,
    region: &'static str,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(run_server(bus, region, async {
        let _ = stopped.await;
    }));
    (stop, server)
}

/// The round number in an update's text ("update 7 from eu").
fn round(update: &MyUpdate) -> u64 {
    let number = update.text.split(' ').nth(1).and_then(|n| n.parse().ok());
    number.unwrap_or_else(|| panic!("unexpected update text {:?}", update.text))
}

#[tokio::test(start_paused = true)]
async fn a_stopped_server_stops_publishing_and_serving() {
    let bus: SharedBus = std::sync::Arc::new(psrpc::local::LocalBus::new());
    let client = MyServiceClient::new(bus.clone(), ClientOptions::default()).await.expect("client");
    let mut updates = client.subscribe_update_state().await.expect("subscribe");
    let (stop, server) = spawn_server(bus, "eu");

    let first = tokio::time::timeout(Duration::from_secs(5), updates.recv()).await.expect("an update").expect("open");
    assert_eq!(first.text, "update 0 from eu");
    let ask = MyRequest { text: "hi".into() };
    let reply = client.normal_rpc(&ask, RequestOptions::default()).await.expect("served");
    assert_eq!(reply.text, "hi handled in eu");

    stop.send(()).expect("server running");
    server.await.expect("no panic").expect("drained without error");

    while updates.recv().now_or_never().flatten().is_some() {}
    let later = tokio::time::timeout(PUBLISH_PERIOD * 5, updates.recv()).await;
    assert!(later.is_err(), "published after shutdown: {later:?}");
    let options = RequestOptions::default().timeout(Duration::from_millis(500));
    client.normal_rpc(&ask, options).await.expect_err("nobody serves after shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_client_following_updates_stops_when_told() {
    let bus: SharedBus = std::sync::Arc::new(psrpc::local::LocalBus::new());
    let (stop_server, server) = spawn_server(bus.clone(), "eu");
    let (stop, stopped) = oneshot::channel::<()>();
    let client = tokio::spawn(run_client(bus, "eu", true, async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(PUBLISH_PERIOD * 20).await;
    assert!(!client.is_finished(), "a following client runs until stopped");
    stop.send(()).expect("client running");
    client.await.expect("no panic").expect("every call worked, then a clean stop");
    stop_server.send(()).expect("server running");
    server.await.expect("no panic").expect("drained");
}

#[tokio::test(start_paused = true)]
async fn both_roles_in_one_process_succeed_and_a_stop_before_the_end_is_an_error() {
    let local = || -> SharedBus { std::sync::Arc::new(psrpc::local::LocalBus::new()) };
    run_both(local(), "eu", std::future::pending()).await.expect("every call works");
    let stopped = run_both(local(), "eu", std::future::ready(())).await;
    assert!(stopped.is_err(), "stopped at once, yet reported success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_keep_receiving_after_a_broker_restart() {
    let Some(mut nats) = skip_or_fail(NatsServer::start()) else { return };
    if !nats.is_local() {
        return; // an external server cannot be restarted from here
    }
    let connect = || psrpc::nats::NatsBus::connect(nats.url(), Default::default());
    let server_bus: SharedBus = std::sync::Arc::new(connect().await.expect("server bus"));
    let client_bus: SharedBus = std::sync::Arc::new(connect().await.expect("client bus"));
    let client = MyServiceClient::new(client_bus, ClientOptions::default()).await.expect("client");
    let mut updates = client.subscribe_update_state().await.expect("subscribe");
    let (stop, server) = spawn_server(server_bus, "eu");

    let within = Duration::from_secs(10);
    let mut last = round(&tokio::time::timeout(within, updates.recv()).await.expect("an update").expect("open"));

    nats.stop();
    // Take what arrived before the broker went away: nothing more can come
    // until it is back.
    while let Ok(Some(update)) = tokio::time::timeout(Duration::from_millis(500), updates.recv()).await {
        last = round(&update);
    }
    nats.restart().expect("restart nats-server");

    let after = tokio::time::timeout(Duration::from_secs(20), updates.recv())
        .await
        .expect("updates resume after the restart")
        .expect("the subscription is still open");
    assert!(round(&after) > last, "round {} after {last}", round(&after));
    assert!(!server.is_finished(), "the server keeps running through the outage");

    stop.send(()).expect("server running");
    tokio::time::timeout(within, server).await.expect("drains in time").expect("no panic").expect("drained");
    client.engine().close().await;
}
