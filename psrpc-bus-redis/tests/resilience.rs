//! Broker restart, readiness under load, bad input and credentials against a
//! real redis-server.

mod common;

use bytes::Bytes;
use psrpc_bus_redis::{RedisBus, RedisBusOptions};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::redis::RedisServer;
use psrpc_test_support::{resilience, unique_name};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpcs_fail_unavailable_during_a_restart_and_recover_after() {
    let Some(redis) = common::own_server() else { return };
    psrpc_test_support::restart::rpcs_fail_unavailable_during_a_restart_and_recover_after(common::served(redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_is_confirmed_for_a_publisher_on_another_connection_thousands_of_times() {
    let Some(redis) = common::server() else { return };
    let subscriber = common::bus(&redis).await;
    let mut publisher = common::raw(&redis).get_multiplexed_async_connection().await.expect("conn");
    let svc = unique_name("Ready");
    for n in 0..2_000u32 {
        let (ch, mut sub, frame) = resilience::readiness_round(&subscriber, &svc, n).await;
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg(&*ch.legacy)
            .arg(frame.clone())
            .query_async(&mut publisher)
            .await
            .expect("publish");
        assert_eq!(receivers, 1, "iteration {n}: the subscription is active at the server");
        resilience::assert_delivered(&mut sub, &frame, n).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused_and_random_bytes_break_nothing() {
    let Some(redis) = common::server() else { return };
    let bus = RedisBus::connect(redis.url(), RedisBusOptions::default().max_frame_size(4096)).await.expect("connect");
    let client_bus = std::sync::Arc::new(bus.clone());
    let (svc, _server, client) = resilience::fuzz_service(common::bus(&redis).await, client_bus).await;
    resilience::assert_oversized_refused(&client, &bus, &svc, 5000, 4096).await;

    let mut raw = common::raw(&redis).get_multiplexed_async_connection().await.expect("conn");
    for (i, bytes) in psrpc_test_support::handmade::garbage(500).into_iter().enumerate() {
        let channel =
            [format!("{svc}|Single|REQ"), format!("{svc}|Single|RCLAIM"), format!("{svc}|nobody|RES")][i % 3].clone();
        let _: i64 =
            redis::cmd("PUBLISH").arg(channel).arg(bytes).query_async(&mut raw).await.expect("publish garbage");
    }
    resilience::assert_still_serving(&client).await;
}

/// The database of the URL (`redis://host:port/5`, LiveKit's `db`) is where
/// the queue locks go: pub/sub has no database, locks do.
#[tokio::test]
async fn the_urls_database_holds_the_queue_locks() {
    let Some(redis) = skip_or_fail(RedisServer::start_with(&["--enable-debug-command", "yes"])) else { return };
    let mut admin = common::raw(&redis).get_multiplexed_async_connection().await.expect("admin");
    // Locks expire after seconds; without active expiry they stay countable.
    let _: String = redis::cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(0).query_async(&mut admin).await.expect("debug");
    let url = format!("{}/5", redis.url());
    let bus = || async { std::sync::Arc::new(RedisBus::connect(&url, RedisBusOptions::default()).await.expect(&url)) };
    let (_svc, _server, client) = resilience::fuzz_service(bus().await, bus().await).await;
    resilience::assert_still_serving(&client).await;
    let keys = |db: u32| {
        let mut admin = admin.clone();
        async move {
            let _: () = redis::cmd("SELECT").arg(db).query_async(&mut admin).await.expect("select");
            redis::cmd("DBSIZE").query_async::<i64>(&mut admin).await.expect("dbsize")
        }
    };
    assert!(keys(5).await > 0, "the queue lock is in database 5");
    assert_eq!(keys(0).await, 0, "nothing in database 0");
}

#[tokio::test]
async fn acl_credentials_pass_through() {
    let Some(redis) = skip_or_fail(RedisServer::start_with(&["--requirepass", "adminpw"])) else { return };
    let admin = redis::Client::open(redis.url().replace("redis://", "redis://default:adminpw@")).expect("admin client");
    let mut admin = admin.get_multiplexed_async_connection().await.expect("admin connection");
    let _: String = redis::cmd("ACL")
        .arg(&["SETUSER", "ada", "on", ">s3cret", "~*", "&*", "+@all"][..])
        .query_async(&mut admin)
        .await
        .expect("create ACL user");
    let url = redis.url().replace("redis://", "redis://ada:s3cret@");
    let bus = RedisBus::connect(&url, RedisBusOptions::default()).await.expect("ACL user and password");
    let ch = psrpc_core::transport::channel::response_channel("Auth", "CLI_x");
    let _sub = psrpc_core::MessageBus::subscribe(&bus, &ch, 1).await.expect("authorized");
    psrpc_core::MessageBus::publish(&bus, &ch, Bytes::from_static(b"x")).await.expect("authorized");
    let wrong = redis.url().replace("redis://", "redis://ada:wrong@");
    assert!(RedisBus::connect(&wrong, RedisBusOptions::default()).await.is_err(), "a wrong password is refused");
}

#[tokio::test]
async fn tls_passes_through_rediss_urls() {
    let Some(certs) = skip_or_fail(psrpc_test_support::tls::SelfSigned::create()) else { return };
    let Some(redis) = skip_or_fail(RedisServer::start_tls(&certs.cert(), &certs.key())) else { return };
    let root = std::fs::read(certs.cert()).expect("cert");
    let tls = redis::TlsCertificates { client_tls: None, root_cert: Some(root) };
    let client = redis::Client::build_with_tls(redis.url(), tls).expect("TLS client");
    let bus = RedisBus::from_client(client, RedisBusOptions::default()).await.expect("TLS connection");
    let ch = psrpc_core::transport::channel::response_channel("Tls", "CLI_x");
    let mut sub = psrpc_core::MessageBus::subscribe(&bus, &ch, 1).await.expect("subscribe over TLS");
    psrpc_core::MessageBus::publish(&bus, &ch, Bytes::from_static(b"frame")).await.expect("publish over TLS");
    assert_eq!(sub.recv().await.expect("open").expect("frame"), Bytes::from_static(b"frame"));
    // The system roots do not trust a self-signed certificate.
    assert!(RedisBus::connect(redis.url(), RedisBusOptions::default()).await.is_err());
    // The URL forms of the same: a private CA, or no check at all.
    let cert = certs.cert().display().to_string();
    for url in [format!("{}?tls_ca={cert}", redis.url()), format!("{}?tls_insecure=true", redis.url())] {
        let bus = RedisBus::connect(&url, RedisBusOptions::default()).await.expect(&url);
        let mut sub = psrpc_core::MessageBus::subscribe(&bus, &ch, 1).await.expect("subscribe over TLS");
        psrpc_core::MessageBus::publish(&bus, &ch, Bytes::from_static(b"url")).await.expect("publish over TLS");
        assert_eq!(sub.recv().await.expect("open").expect("frame"), Bytes::from_static(b"url"));
    }
}
