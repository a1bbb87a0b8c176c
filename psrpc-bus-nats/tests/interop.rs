//! Interop evidence on a real NATS: frames built by hand from docs/WIRE.md are
//! answered by our server, and what our client publishes has the subjects,
//! routing keys and bytes docs/WIRE.md prescribes.

mod common;

use std::time::Duration;

use futures_util::StreamExt as _;
use psrpc_protocol::envelope::Msg;
use psrpc_test_support::handmade as pb;
use psrpc_test_support::interop::{self, EVERYONE, SINGLE};

#[tokio::test]
async fn our_server_answers_a_hand_built_go_style_request() {
    let Some(nats) = common::server() else { return };
    let (svc, server) = interop::server(common::bus(&nats).await, &EVERYONE).await;

    let raw = common::raw(&nats).await;
    let mut responses = raw.subscribe(format!("CLI.{svc}.{}.RES", interop::GO_PEER)).await.expect("subscribe");
    raw.flush().await.expect("flush");

    let frame = interop::go_style_request("Everyone.REQ");
    raw.publish(format!("SRV.{svc}"), frame.into()).await.expect("publish");

    let message =
        tokio::time::timeout(Duration::from_secs(5), responses.next()).await.expect("answered").expect("message");
    interop::assert_go_style_reply(message.payload, server.id());
}

#[tokio::test]
async fn our_client_publishes_the_subjects_and_bytes_of_wire_md() {
    let Some(nats) = common::server() else { return };
    // A service of its own: the capture keeps this test's subjects only, so
    // other tests on a shared server (PSRPC_NATS_URL) do not show up in it.
    let (svc, _server) = interop::server(common::bus(&nats).await, &SINGLE).await;
    let raw = common::raw(&nats).await;
    let mut captured = raw.subscribe(">").await.expect("subscribe all");
    raw.flush().await.expect("flush");

    interop::capture_call(common::bus(&nats).await, &svc).await;

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
