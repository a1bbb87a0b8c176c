//! Interop evidence on a real NATS: frames built by hand from docs/WIRE.md are
//! answered by our server, and what our client publishes has the subjects,
//! routing keys and bytes docs/WIRE.md prescribes.

mod common;

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::{MethodInfo, MethodKind, RequestContext, RpcClient, RpcServer, Selection};
use psrpc_protocol::envelope::{Msg, Response};
use psrpc_test_support::rpc_suite::{Ping, Pong};

use psrpc_test_support::handmade as pb;

static EVERYONE: MethodInfo = MethodInfo::new("Everyone", MethodKind::Multi { topics: false });
static SINGLE: MethodInfo = MethodInfo::new("Single", MethodKind::Unary(Selection::Queue { topics: false }));

async fn pong(ctx: RequestContext, p: Ping) -> Result<Pong, psrpc_core::Error> {
    Ok(Pong { text: format!("{} from rust", p.text), server: ctx.server_id().into() })
}

#[tokio::test]
async fn our_server_answers_a_hand_built_go_style_request() {
    let Some(nats) = common::server() else { return };
    let svc = psrpc_test_support::unique_name("Interop");
    let server = RpcServer::new(svc.as_str(), common::bus(&nats).await, ServerOptions::default());
    server.register_unary(&EVERYONE, vec![], pong, None).await.expect("register");

    let raw = common::raw(&nats).await;
    let mut responses = raw.subscribe(format!("CLI.{svc}.CLI_gopeer000000.RES")).await.expect("subscribe");
    raw.flush().await.expect("flush");

    let mut ping = Vec::new();
    pb::bytes(1, b"hello", &mut ping);
    let request = pb::request("REQ_handmade0000", "CLI_gopeer000000", true, &ping);
    let frame = pb::frame("type.googleapis.com/internal.Request", &request, "Everyone.REQ");
    raw.publish(format!("SRV.{svc}"), Bytes::from(frame)).await.expect("publish");

    let message =
        tokio::time::timeout(Duration::from_secs(5), responses.next()).await.expect("answered").expect("message");
    let msg: Msg = prost::Message::decode(message.payload).expect("a Msg frame");
    assert_eq!(msg.type_url, "type.googleapis.com/internal.Response");
    assert_eq!(msg.channel, "", "client channels carry no routing key");
    let response: Response = prost::Message::decode(msg.value).expect("a Response");
    assert_eq!(response.request_id, "REQ_handmade0000");
    assert_eq!(response.server_id, server.id());
    assert_eq!(response.error, "");
    let pong: Pong = prost::Message::decode(response.raw_response).expect("a Pong");
    assert_eq!(pong.text, "hello from rust");
}

#[tokio::test]
async fn our_client_publishes_the_subjects_and_bytes_of_wire_md() {
    let Some(nats) = common::server() else { return };
    // A service of its own: the capture keeps this test's subjects only, so
    // other tests on a shared server (PSRPC_NATS_URL) do not show up in it.
    let svc = psrpc_test_support::unique_name("Interop");
    let server = RpcServer::new(svc.as_str(), common::bus(&nats).await, ServerOptions::default());
    server.register_unary(&SINGLE, vec![], pong, None).await.expect("register");
    let raw = common::raw(&nats).await;
    let mut captured = raw.subscribe(">").await.expect("subscribe all");
    raw.flush().await.expect("flush");

    let client =
        RpcClient::new(svc.as_str(), common::bus(&nats).await, ClientOptions::default().client_id("CLI_capture00000"))
            .await
            .expect("client");
    client
        .request_single::<Ping, Pong>(
            &SINGLE,
            vec![],
            &Ping { text: "x".into(), delay_ms: 0 },
            RequestOptions::default(),
        )
        .await
        .expect("reply");

    // Frames of this service (`SRV.<svc>…`, `CLI.<svc>.…`) until the four of
    // one call arrived, then 300 ms more to catch any extra one; probes,
    // inboxes and other services' traffic are skipped.
    let own = |subject: &str| subject.split('.').nth(1) == Some(svc.as_str());
    let mut seen = Vec::new();
    let mut until = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some(m)) = tokio::time::timeout_at(until, captured.next()).await {
        if !own(&m.subject) {
            continue;
        }
        let msg: Msg = prost::Message::decode(m.payload.clone()).expect("every frame is a Msg");
        seen.push((m.subject.replacen(svc.as_str(), "Interop", 1), msg.type_url, msg.channel, m.payload));
        if seen.len() == 4 {
            until = tokio::time::Instant::now() + Duration::from_millis(300);
        }
    }
    let summary: Vec<(&str, &str, &str)> =
        seen.iter().map(|(s, t, c, _)| (s.as_str(), t.as_str(), c.as_str())).collect();
    assert_eq!(
        summary,
        [
            ("SRV.Interop.Q", "type.googleapis.com/internal.Request", "Single.REQ"),
            ("CLI.Interop.CLI_capture00000.CLAIM", "type.googleapis.com/internal.ClaimRequest", ""),
            ("SRV.Interop", "type.googleapis.com/internal.ClaimResponse", "Single.RCLAIM"),
            ("CLI.Interop.CLI_capture00000.RES", "type.googleapis.com/internal.Response", ""),
        ]
    );
    // The request frame starts with the exact Msg header of docs/WIRE.md section 3.
    let request_frame = &seen[0].3;
    let header = pb::frame("type.googleapis.com/internal.Request", &[], "");
    assert_eq!(&request_frame[..header.len() - 2], &header[..header.len() - 2]);
    let mut routing_key = Vec::new();
    pb::bytes(3, b"Single.REQ", &mut routing_key);
    assert!(request_frame.ends_with(&routing_key), "Msg.channel is the last field");
}
