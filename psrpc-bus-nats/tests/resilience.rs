//! Broker restart, readiness under load, bad input and credentials against a
//! real nats-server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use psrpc_bus_nats::{ConnectOptions, NatsBus};
use psrpc_core::{BusErrorKind, SharedBus};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::{resilience, unique_name};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpcs_fail_unavailable_during_a_restart_and_recover_after() {
    let Some(nats) = common::own_server() else { return };
    psrpc_test_support::restart::rpcs_fail_unavailable_during_a_restart_and_recover_after(common::served(nats)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_is_ready_for_a_publisher_on_another_connection_thousands_of_times() {
    let Some(nats) = common::server() else { return };
    let subscriber = common::bus(&nats).await;
    let publisher = common::raw(&nats).await;
    let svc = unique_name("Ready");
    for n in 0..2_000u32 {
        let (ch, mut sub, frame) = resilience::readiness_round(&subscriber, &svc, n).await;
        publisher.publish(ch.server.to_string(), Bytes::from(frame.clone())).await.expect("publish");
        resilience::assert_delivered(&mut sub, &frame, n).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused_and_random_bytes_break_nothing() {
    let Some(nats) = common::server() else { return };
    let bus = common::bus(&nats).await;
    let (svc, _server, client) = resilience::fuzz_service(bus.clone(), common::bus(&nats).await).await;

    let limit = bus.max_frame_size();
    assert!(limit > 0);
    resilience::assert_oversized_refused(&client, &*bus, &svc, limit + 1, limit).await;

    let raw = common::raw(&nats).await;
    for (i, bytes) in psrpc_test_support::handmade::garbage(500).into_iter().enumerate() {
        let subject = [format!("SRV.{svc}.Q"), format!("SRV.{svc}"), format!("CLI.{svc}.x.RES")][i % 3].clone();
        raw.publish(subject, Bytes::from(bytes)).await.expect("publish garbage");
    }
    raw.flush().await.expect("flush");
    resilience::assert_still_serving(&client).await;
}

#[tokio::test]
async fn credentials_pass_through() {
    let Some(user_server) = skip_or_fail(NatsServer::start_with(&["--user", "ada", "--pass", "s3cret"])) else {
        return;
    };
    let url = user_server.url().replace("nats://", "nats://ada:s3cret@");
    let bus: SharedBus =
        Arc::new(NatsBus::connect(&url, ConnectOptions::new()).await.expect("user/password in the URL"));
    let _sub =
        bus.subscribe(&psrpc_core::transport::channel::response_channel("Auth", "CLI_x"), 1).await.expect("authorized");
    let options = ConnectOptions::with_user_and_password("ada".into(), "s3cret".into());
    NatsBus::connect(user_server.url(), options).await.expect("user/password in options");
    let wrong = ConnectOptions::with_user_and_password("ada".into(), "wrong".into());
    let refused = tokio::time::timeout(Duration::from_secs(5), NatsBus::connect(user_server.url(), wrong)).await;
    let refused = refused.expect("refused in time").expect_err("a wrong password is refused");
    assert_eq!(refused.kind(), BusErrorKind::Unavailable, "{refused}");

    let Some(token_server) = skip_or_fail(NatsServer::start_with(&["--auth", "t0ken"])) else { return };
    NatsBus::connect(token_server.url(), ConnectOptions::with_token("t0ken".into())).await.expect("token");
    let url = token_server.url().replace("nats://", "nats://t0ken@");
    NatsBus::connect(&url, ConnectOptions::new()).await.expect("token in the URL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_traffic_fails_publishes_unavailable_and_keeps_every_subscription() {
    let Some(mut nats) = common::own_server() else { return };
    let subscriber = common::bus(&nats).await;
    let publisher = common::bus(&nats).await;
    let svc = unique_name("Mid");
    let plain = psrpc_core::transport::channel::response_channel(&svc, "CLI_restart00000");
    let queue = psrpc_core::transport::channel::request_channel(&svc, "Work", &[] as &[&str], true);
    let mut plain_sub = subscriber.subscribe(&plain, 10_000).await.expect("plain");
    let mut queue_sub = subscriber.subscribe_queue(&queue, 10_000).await.expect("queue");

    // Traffic: publish as fast as possible, reporting the first failure.
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel();
    let traffic = tokio::spawn({
        let publisher = publisher.clone();
        let plain = plain.clone();
        async move {
            let mut failed_tx = Some(failed_tx);
            let mut n = 0u64;
            loop {
                let frame = Bytes::from(psrpc_test_support::handmade::frame("t", &n.to_be_bytes(), ""));
                match publisher.publish(&plain, frame).await {
                    Ok(()) => n += 1,
                    Err(e) => {
                        if let Some(tx) = failed_tx.take() {
                            let _ = tx.send(e);
                        }
                        tokio::task::yield_now().await;
                    }
                }
            }
        }
    });
    plain_sub.recv().await.expect("open").expect("traffic flows");

    nats.stop();
    let failure =
        tokio::time::timeout(Duration::from_secs(10), failed_rx).await.expect("a publish fails").expect("sent");
    assert_eq!(failure.kind(), BusErrorKind::Unavailable, "{failure}");
    nats.restart().expect("restart");
    traffic.abort();

    let marker =
        |text: &str, local: &str| Bytes::from(psrpc_test_support::handmade::frame("t", text.as_bytes(), local));
    let every = Duration::from_millis(20);
    resilience::republish_until_delivered(&publisher, &plain, marker("plain after", ""), &mut plain_sub, every).await;
    let queue_marker = marker("queue after", &queue.local);
    resilience::republish_until_delivered(&publisher, &queue, queue_marker, &mut queue_sub, every).await;
    publisher.publish(&plain, marker("steady", "")).await.expect("publishes succeed after the restart");
}

#[tokio::test]
async fn tls_passes_through_connect_options() {
    let Some(certs) = skip_or_fail(psrpc_test_support::tls::SelfSigned::create()) else { return };
    let cert = certs.cert().display().to_string();
    let key = certs.key().display().to_string();
    let Some(server) = skip_or_fail(NatsServer::start_with(&["--tls", "--tlscert", &cert, "--tlskey", &key])) else {
        return;
    };
    let options = ConnectOptions::new().add_root_certificates(certs.cert()).require_tls(true);
    let bus: SharedBus = Arc::new(NatsBus::connect(server.url(), options).await.expect("TLS connection"));
    let ch = psrpc_core::transport::channel::response_channel("Tls", "CLI_x");
    let mut sub = bus.subscribe(&ch, 1).await.expect("subscribe over TLS");
    let frame = Bytes::from(psrpc_test_support::handmade::frame("type.googleapis.com/internal.Response", b"", ""));
    bus.publish(&ch, frame.clone()).await.expect("publish over TLS");
    assert_eq!(sub.recv().await.expect("open").expect("frame"), frame);
    let untrusted = ConnectOptions::new().require_tls(true);
    let refused = tokio::time::timeout(Duration::from_secs(5), NatsBus::connect(server.url(), untrusted)).await;
    assert!(matches!(refused, Ok(Err(_))), "an untrusted certificate is refused");
}
