//! Interop evidence on a real Redis: frames built by hand from docs/WIRE.md are
//! answered by our server, and what our client publishes has the channel
//! names and bytes docs/WIRE.md prescribes.

mod common;

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use psrpc_protocol::envelope::Msg;
use psrpc_test_support::interop::{self, EVERYONE, SINGLE};

#[tokio::test]
async fn our_server_answers_a_hand_built_go_style_request() {
    let Some(redis) = common::server() else { return };
    let (svc, server) = interop::server(common::bus(&redis).await, &EVERYONE).await;

    let raw = common::raw(&redis);
    let mut pubsub = raw.get_async_pubsub().await.expect("pubsub");
    pubsub.subscribe(format!("{svc}|{}|RES", interop::GO_PEER)).await.expect("subscribe");
    let frame = interop::go_style_request("");
    let mut conn = raw.get_multiplexed_async_connection().await.expect("conn");
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg(format!("{svc}|Everyone|REQ"))
        .arg(frame)
        .query_async(&mut conn)
        .await
        .expect("publish");
    assert_eq!(receivers, 1, "our server subscribed the Legacy channel name");

    let mut messages = pubsub.on_message();
    let message =
        tokio::time::timeout(Duration::from_secs(5), messages.next()).await.expect("answered").expect("message");
    interop::assert_go_style_reply(Bytes::from(message.get_payload_bytes().to_vec()), server.id());
}

#[tokio::test]
async fn our_client_publishes_the_channels_and_bytes_of_wire_md() {
    let Some(redis) = common::server() else { return };
    // A service of its own: the capture sees this test's traffic only, even
    // on a Redis shared with other tests.
    let (svc, _server) = interop::server(common::bus(&redis).await, &SINGLE).await;
    let mut pubsub = common::raw(&redis).get_async_pubsub().await.expect("pubsub");
    pubsub.psubscribe(format!("{svc}|*")).await.expect("psubscribe");

    interop::capture_call(common::bus(&redis).await, &svc).await;

    let mut messages = pubsub.on_message();
    let mut seen = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), messages.next()).await {
        let msg: Msg =
            prost::Message::decode(Bytes::from(m.get_payload_bytes().to_vec())).expect("every frame is a Msg");
        assert_eq!(msg.channel, "");
        seen.push((m.get_channel_name().replacen(svc.as_str(), "Interop", 1), msg.type_url));
    }
    let summary: Vec<(&str, &str)> = seen.iter().map(|(c, t)| (c.as_str(), t.as_str())).collect();
    assert_eq!(
        summary,
        [
            ("Interop|Single|REQ", "type.googleapis.com/internal.Request"),
            ("Interop|CLI_capture00000|CLAIM", "type.googleapis.com/internal.ClaimRequest"),
            ("Interop|Single|RCLAIM", "type.googleapis.com/internal.ClaimResponse"),
            ("Interop|CLI_capture00000|RES", "type.googleapis.com/internal.Response"),
        ]
    );
}
