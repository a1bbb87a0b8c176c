//! Golden tests against `testdata/wire_vectors.json` (computed by an
//! independent implementation of docs/WIRE.md): channel names for tricky topic
//! lists and the exact bytes of one frame of each envelope kind.

use std::collections::HashMap;

use bytes::Bytes;
use prost::Message as _;
use psrpc_protocol::channel::{self, Channel};
use psrpc_protocol::envelope::{self, ClaimRequest, ClaimResponse, Request, Response, Stream, stream};
use psrpc_protocol::frame::{self, Envelope};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/wire_vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read vectors")).expect("parse vectors")
}

fn names(c: &Channel) -> (String, String, String) {
    (c.legacy.to_string(), c.server.to_string(), c.local.to_string())
}

fn expected(v: &Value) -> (String, String, String) {
    let s = |k: &str| v[k].as_str().expect("string").to_owned();
    (s("legacy"), s("server"), s("local"))
}

#[test]
fn channel_names_match_the_vectors() {
    let vectors = vectors();
    let cases = vectors["channels"].as_array().expect("channels");
    assert!(cases.len() >= 8);
    for case in cases {
        let svc = case["service"].as_str().expect("service");
        let method = case["method"].as_str().expect("method");
        let client = case["client_id"].as_str().expect("client");
        let queue = case["queue"].as_bool().expect("queue");
        let topics: Vec<String> =
            case["topics"].as_array().expect("topics").iter().map(|t| t.as_str().expect("t").to_owned()).collect();
        let want = &case["channels"];
        let got = [
            ("request", channel::request_channel(svc, method, &topics, queue)),
            ("claim_response", channel::claim_response_channel(svc, method, &topics)),
            ("stream_server", channel::stream_server_channel(svc, method, &topics)),
            ("response", channel::response_channel(svc, client)),
            ("claim_request", channel::claim_request_channel(svc, client)),
            ("stream_client", channel::stream_client_channel(svc, client)),
        ];
        for (kind, channel) in got {
            assert_eq!(names(&channel), expected(&want[kind]), "{svc}/{method} {topics:?} {kind}");
        }
    }
}

const SENT: i64 = 1_700_000_000_000_000_000;

fn ids(n: char) -> String {
    std::iter::repeat_n(n, 12).collect()
}

/// Builds, with our types, the message each vector describes in prose.
fn build(what: &str) -> (&'static str, Vec<u8>) {
    let req_a = format!("REQ_{}", ids('a'));
    let cli_b = format!("CLI_{}", ids('b'));
    let srv_c = format!("SRV_{}", ids('c'));
    let str_d = format!("STR_{}", ids('d'));
    let stream_base = |req: String, sent: i64, expiry: i64, body| Stream {
        stream_id: str_d.clone(),
        request_id: req,
        sent_at: sent,
        expiry,
        body: Some(body),
    };
    match what {
        w if w.starts_with("Request: ids") => (
            Request::TYPE_URL,
            Request {
                request_id: req_a,
                client_id: cli_b,
                sent_at: SENT,
                expiry: SENT + 3_000_000_000,
                raw_request: Bytes::from_static(b"\x0a\x05hello"),
                metadata: HashMap::from([("k".into(), "v".into())]),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        w if w.starts_with("Request multi=true") => (
            Request::TYPE_URL,
            Request {
                request_id: req_a,
                client_id: cli_b,
                sent_at: SENT,
                expiry: SENT + 3_000_000_000,
                multi: true,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        w if w.starts_with("Response success") => (
            Response::TYPE_URL,
            Response {
                request_id: req_a,
                server_id: srv_c,
                sent_at: SENT + 500_000_000,
                raw_response: Bytes::from_static(b"\x08\x01"),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        w if w.starts_with("Response error") => (
            Response::TYPE_URL,
            Response {
                request_id: req_a,
                server_id: srv_c,
                sent_at: SENT + 500_000_000,
                error: "no such room".into(),
                code: "not_found".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        w if w.starts_with("ClaimRequest affinity 0.5") => (
            ClaimRequest::TYPE_URL,
            ClaimRequest { request_id: req_a, server_id: srv_c, affinity: 0.5 }.encode_to_vec(),
        ),
        w if w.starts_with("ClaimRequest affinity 0") => (
            ClaimRequest::TYPE_URL,
            ClaimRequest { request_id: req_a, server_id: srv_c, affinity: 0.0 }.encode_to_vec(),
        ),
        w if w.starts_with("ClaimResponse") => {
            (ClaimResponse::TYPE_URL, ClaimResponse { request_id: req_a, server_id: srv_c }.encode_to_vec())
        }
        w if w.starts_with("Stream open") => (
            Stream::TYPE_URL,
            stream_base(
                req_a,
                SENT,
                SENT + 3_000_000_000,
                stream::Body::Open(envelope::StreamOpen {
                    node_id: cli_b,
                    metadata: HashMap::from([("a".into(), "b".into())]),
                }),
            )
            .encode_to_vec(),
        ),
        w if w.starts_with("Stream ack") => (
            Stream::TYPE_URL,
            stream_base(req_a, SENT, SENT + 3_000_000_000, stream::Body::Ack(envelope::StreamAck {})).encode_to_vec(),
        ),
        w if w.starts_with("Stream message") => (
            Stream::TYPE_URL,
            stream_base(
                format!("REQ_{}", ids('e')),
                SENT + 1_000_000_000,
                SENT + 4_000_000_000,
                stream::Body::Message(envelope::StreamMessage {
                    message: None,
                    raw_message: Bytes::from_static(b"\x0a\x03abc"),
                }),
            )
            .encode_to_vec(),
        ),
        w if w.starts_with("Stream close") => (
            Stream::TYPE_URL,
            stream_base(
                format!("REQ_{}", ids('f')),
                SENT + 2_000_000_000,
                SENT + 5_000_000_000,
                stream::Body::Close(envelope::StreamClose { error: "stream closed".into(), code: "canceled".into() }),
            )
            .encode_to_vec(),
        ),
        w if w.starts_with("Subscription publish") => ("type.googleapis.com/MyUpdate", Vec::new()),
        other => panic!("vector not covered by this test: {other}"),
    }
}

#[test]
fn frames_match_the_vectors_byte_for_byte() {
    let vectors = vectors();
    let frames = vectors["frames"].as_array().expect("frames");
    assert!(frames.len() >= 12);
    for v in frames {
        let what = v["what"].as_str().expect("what");
        let channel = v["channel"].as_str().expect("channel");
        let (type_url, message) = build(what);
        assert_eq!(type_url, v["type_url"].as_str().expect("type_url"), "{what}");
        assert_eq!(hex::encode(&message), v["message_hex"].as_str().expect("message_hex"), "{what}");

        // Our one-pass framing produces the expected frame bytes.
        let frame_hex = v["frame_hex"].as_str().expect("frame_hex");
        let raw = RawMessage(message.clone());
        assert_eq!(hex::encode(frame::encode_frame(type_url, &raw, channel)), frame_hex, "{what}");

        // And decoding the expected bytes gives back type, value and channel.
        let msg = frame::decode_frame(Bytes::from(hex::decode(frame_hex).expect("hex"))).expect("decodes");
        assert_eq!(
            (msg.type_url.as_str(), msg.value.as_ref(), msg.channel.as_str()),
            (type_url, &message[..], channel)
        );
    }
}

#[test]
fn user_message_type_urls_have_no_leading_dot_without_a_package() {
    #[derive(Clone, PartialEq, prost::Message)]
    struct MyUpdate {}
    impl prost::Name for MyUpdate {
        const NAME: &'static str = "MyUpdate";
        const PACKAGE: &'static str = "";
    }
    assert_eq!(frame::type_url_of::<MyUpdate>(), "type.googleapis.com/MyUpdate");
}

/// Already-encoded message bytes, framed as they are.
#[derive(Debug, Default)]
struct RawMessage(Vec<u8>);

impl prost::Message for RawMessage {
    fn encode_raw(&self, buf: &mut impl bytes::BufMut) {
        buf.put_slice(&self.0);
    }
    fn merge_field(
        &mut self,
        _tag: u32,
        _wire_type: prost::encoding::WireType,
        _buf: &mut impl bytes::Buf,
        _ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        unreachable!("RawMessage is only encoded")
    }
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0.clear();
    }
}
