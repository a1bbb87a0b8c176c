//! Broker restart, readiness under load, bad input and credentials against a
//! real nats-server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use psrpc_bus_nats::{ConnectOptions, NatsBus};
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::{BusError, ErrorCode, MethodInfo, RequestContext, RpcClient, RpcServer, SharedBus};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::rpc_suite::{Ping, Pong};

static SINGLE: MethodInfo = MethodInfo::new("Single");

async fn pong(ctx: RequestContext, p: Ping) -> Result<Pong, psrpc_core::Error> {
    Ok(Pong { text: p.text, server: ctx.server_id().into() })
}

fn ping(text: &str) -> Ping {
    Ping { text: text.into(), delay_ms: 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpcs_fail_unavailable_during_a_restart_and_recover_after() {
    let Some(mut nats) = common::server() else { return };
    if !nats.is_local() {
        return; // an external server cannot be restarted from here
    }
    let server = RpcServer::new("Restart", common::bus(&nats).await, ServerOptions::default());
    server.register_unary(&SINGLE, vec![], pong, None).await.expect("register");
    let options =
        ClientOptions::default().timeout(Duration::from_secs(1)).selection_timeout(Duration::from_millis(500));
    let client = RpcClient::new("Restart", common::bus(&nats).await, options).await.expect("client");
    client
        .request_single::<Ping, Pong>(&SINGLE, vec![], &ping("before"), RequestOptions::default())
        .await
        .expect("before");

    nats.stop();
    let err = client
        .request_single::<Ping, Pong>(&SINGLE, vec![], &ping("during"), RequestOptions::default())
        .await
        .expect_err("outage");
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");

    nats.restart().expect("restart");
    // Reconnection takes a moment; every attempt fails cleanly until it is back.
    let mut recovered = false;
    for _ in 0..100 {
        match client.request_single::<Ping, Pong>(&SINGLE, vec![], &ping("after"), RequestOptions::default()).await {
            Ok(reply) => {
                assert_eq!(reply.server_id, server.id(), "the server's subscriptions came back too");
                recovered = true;
                break;
            }
            Err(e) => assert!(matches!(e.code(), ErrorCode::Unavailable | ErrorCode::DeadlineExceeded), "{e}"),
        }
    }
    assert!(recovered, "RPCs succeed after the restart");
    // Many more calls keep working: no subscription was lost.
    for i in 0..20 {
        client
            .request_single::<Ping, Pong>(&SINGLE, vec![], &ping(&i.to_string()), RequestOptions::default())
            .await
            .expect("steady");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_is_ready_for_a_publisher_on_another_connection_thousands_of_times() {
    let Some(nats) = common::server() else { return };
    let subscriber = common::bus(&nats).await;
    let publisher = common::raw(&nats).await;
    for n in 0..2_000u32 {
        let ch = psrpc_core::channel::response_channel("Ready", &format!("CLI_{n:012}"));
        let mut sub = subscriber.subscribe(&ch, 2).await.expect("subscribe");
        let frame = psrpc_test_support::handmade::frame("type.googleapis.com/internal.Request", &n.to_le_bytes(), "");
        publisher.publish(ch.server.to_string(), Bytes::from(frame.clone())).await.expect("publish");
        let got = tokio::time::timeout(Duration::from_secs(5), sub.recv())
            .await
            .unwrap_or_else(|_| panic!("iteration {n}: not delivered"))
            .expect("open");
        assert_eq!(got.expect("frame").as_ref(), frame, "iteration {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused_and_random_bytes_break_nothing() {
    let Some(nats) = common::server() else { return };
    let bus = common::bus(&nats).await;
    let server = RpcServer::new("Fuzz", bus.clone(), ServerOptions::default());
    server.register_unary(&SINGLE, vec![], pong, None).await.expect("register");
    let client = RpcClient::new("Fuzz", common::bus(&nats).await, ClientOptions::default()).await.expect("client");

    let limit = bus.max_frame_size();
    assert!(limit > 0);
    let big = Ping { text: "x".repeat(limit + 1), delay_ms: 0 };
    let err = client
        .request_single::<Ping, Pong>(&SINGLE, vec![], &big, RequestOptions::default())
        .await
        .expect_err("too big");
    assert_eq!(err.code(), ErrorCode::ResourceExhausted, "{err}");
    let ch = psrpc_core::channel::request_channel("Fuzz", "Single", &[] as &[&str], true);
    assert!(matches!(bus.publish(&ch, Bytes::from(vec![0u8; limit + 1])).await, Err(BusError::FrameTooLarge { .. })));

    let raw = common::raw(&nats).await;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..500 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 300) as usize;
        let bytes: Vec<u8> = (0..len).map(|j| (seed >> (j % 56)) as u8).collect();
        let subject = ["SRV.Fuzz.Q", "SRV.Fuzz", "CLI.Fuzz.x.RES"][i % 3];
        raw.publish(subject, Bytes::from(bytes)).await.expect("publish garbage");
    }
    raw.flush().await.expect("flush");
    let reply = client
        .request_single::<Ping, Pong>(&SINGLE, vec![], &ping("still"), RequestOptions::default())
        .await
        .expect("still working");
    assert_eq!(reply.message.text, "still");
}

#[tokio::test]
async fn credentials_pass_through() {
    let Some(user_server) = skip_or_fail(NatsServer::start_with(&["--user", "ada", "--pass", "s3cret"])) else {
        return;
    };
    let url = user_server.url().replace("nats://", "nats://ada:s3cret@");
    let bus: SharedBus =
        Arc::new(NatsBus::connect(&url, ConnectOptions::new()).await.expect("user/password in the URL"));
    let _sub = bus.subscribe(&psrpc_core::channel::response_channel("Auth", "CLI_x"), 1).await.expect("authorized");
    let options = ConnectOptions::with_user_and_password("ada".into(), "s3cret".into());
    NatsBus::connect(user_server.url(), options).await.expect("user/password in options");
    let wrong = ConnectOptions::with_user_and_password("ada".into(), "wrong".into());
    let refused = tokio::time::timeout(Duration::from_secs(5), NatsBus::connect(user_server.url(), wrong)).await;
    assert!(matches!(refused, Ok(Err(BusError::Unavailable(_)))), "a wrong password is refused: {refused:?}");

    let Some(token_server) = skip_or_fail(NatsServer::start_with(&["--auth", "t0ken"])) else { return };
    NatsBus::connect(token_server.url(), ConnectOptions::with_token("t0ken".into())).await.expect("token");
}
