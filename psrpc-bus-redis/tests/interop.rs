//! Interop evidence on a real Redis: frames built by hand from docs/WIRE.md are
//! answered by our server, and what our client publishes has the channel
//! names and bytes docs/WIRE.md prescribes.

mod common;

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::{MethodInfo, MethodKind, RequestContext, RpcClient, RpcServer, Selection};
use psrpc_protocol::envelope::{Msg, Response};
use psrpc_test_support::handmade as pb;
use psrpc_test_support::rpc_suite::{Ping, Pong};

static EVERYONE: MethodInfo = MethodInfo::new("Everyone", MethodKind::Multi { topics: false });
static SINGLE: MethodInfo = MethodInfo::new("Single", MethodKind::Unary(Selection::Queue { topics: false }));

async fn pong(ctx: RequestContext, p: Ping) -> Result<Pong, psrpc_core::Error> {
    Ok(Pong { text: format!("{} from rust", p.text), server: ctx.server_id().into() })
}

#[tokio::test]
async fn our_server_answers_a_hand_built_go_style_request() {
    let Some(redis) = common::server() else { return };
    let svc = psrpc_test_support::unique_name("Interop");
    let server = RpcServer::new(svc.as_str(), common::bus(&redis).await, ServerOptions::default());
    server.register_unary(&EVERYONE, vec![], pong, None).await.expect("register");

    let raw = common::raw(&redis);
    let mut pubsub = raw.get_async_pubsub().await.expect("pubsub");
    pubsub.subscribe(format!("{svc}|CLI_gopeer000000|RES")).await.expect("subscribe");
    let mut ping = Vec::new();
    pb::bytes(1, b"hello", &mut ping);
    let request = pb::request("REQ_handmade0000", "CLI_gopeer000000", true, &ping);
    let frame = pb::frame("type.googleapis.com/internal.Request", &request, "");
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
    let msg: Msg = prost::Message::decode(Bytes::from(message.get_payload_bytes().to_vec())).expect("a Msg frame");
    assert_eq!(msg.type_url, "type.googleapis.com/internal.Response");
    assert_eq!(msg.channel, "", "Redis frames carry no routing key");
    let response: Response = prost::Message::decode(msg.value).expect("a Response");
    assert_eq!((response.request_id.as_str(), response.server_id.as_str()), ("REQ_handmade0000", server.id()));
    let pong: Pong = prost::Message::decode(response.raw_response).expect("a Pong");
    assert_eq!(pong.text, "hello from rust");
}

#[tokio::test]
async fn our_client_publishes_the_channels_and_bytes_of_wire_md() {
    let Some(redis) = common::server() else { return };
    // A service of its own: the capture sees this test's traffic only, even
    // on a Redis shared with other tests.
    let svc = psrpc_test_support::unique_name("Interop");
    let server = RpcServer::new(svc.as_str(), common::bus(&redis).await, ServerOptions::default());
    server.register_unary(&SINGLE, vec![], pong, None).await.expect("register");
    let mut pubsub = common::raw(&redis).get_async_pubsub().await.expect("pubsub");
    pubsub.psubscribe(format!("{svc}|*")).await.expect("psubscribe");

    let client =
        RpcClient::new(svc.as_str(), common::bus(&redis).await, ClientOptions::default().client_id("CLI_capture00000"))
            .await
            .expect("client");
    let ping = Ping { text: "x".into(), delay_ms: 0 };
    client.request_single::<Ping, Pong>(&SINGLE, vec![], &ping, RequestOptions::default()).await.expect("reply");

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
