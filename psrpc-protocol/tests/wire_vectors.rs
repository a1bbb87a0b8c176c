//! Golden tests against `testdata/wire_vectors.json` (computed by an
//! independent implementation of docs/WIRE.md): channel names for tricky topic
//! lists and the exact bytes of one frame of each envelope kind.

use std::collections::HashMap;

use bytes::Bytes;
use prost::Message as _;
use psrpc_protocol::channel::{self, Channel};
use psrpc_protocol::envelope::{self, ClaimRequest, ClaimResponse, Request, Response, Stream, stream};
use psrpc_protocol::frame::{self, Envelope, WithIds};
use serde_json::Value;

/// The vectors under `key`: at least `min` of them.
fn cases(key: &str, min: usize) -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/wire_vectors.json");
    let vectors: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read vectors")).expect("parse vectors");
    let cases = vectors[key].as_array().expect(key).clone();
    assert!(cases.len() >= min);
    cases
}

/// The string `key` of `v`.
fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().expect(key)
}

fn names(c: &Channel) -> (String, String, String) {
    (c.legacy.to_string(), c.server.to_string(), c.local.to_string())
}

fn expected(v: &Value) -> (String, String, String) {
    (text(v, "legacy").to_owned(), text(v, "server").to_owned(), text(v, "local").to_owned())
}

#[test]
fn channel_names_match_the_vectors() {
    for case in cases("channels", 8) {
        let (svc, method, client) = (text(&case, "service"), text(&case, "method"), text(&case, "client_id"));
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
    let stream_frame = |req: String, sent: i64, expiry: i64, body| {
        let message = Stream { stream_id: str_d.clone(), request_id: req, sent_at: sent, expiry, body: Some(body) };
        (Stream::TYPE_URL, message.encode_to_vec())
    };
    let request = Request {
        request_id: req_a.clone(),
        client_id: cli_b.clone(),
        sent_at: SENT,
        expiry: SENT + 3_000_000_000,
        ..Default::default()
    };
    let response = Response {
        request_id: req_a.clone(),
        server_id: srv_c.clone(),
        sent_at: SENT + 500_000_000,
        ..Default::default()
    };
    match what {
        w if w.starts_with("Request: ids") => (
            Request::TYPE_URL,
            Request {
                raw_request: Bytes::from_static(b"\x0a\x05hello"),
                metadata: HashMap::from([("k".into(), "v".into())]),
                ..request
            }
            .encode_to_vec(),
        ),
        w if w.starts_with("Request multi=true") => {
            (Request::TYPE_URL, Request { multi: true, ..request }.encode_to_vec())
        }
        w if w.starts_with("Response success") => {
            (Response::TYPE_URL, Response { raw_response: Bytes::from_static(b"\x08\x01"), ..response }.encode_to_vec())
        }
        w if w.starts_with("Response error") => (
            Response::TYPE_URL,
            Response { error: "no such room".into(), code: "not_found".into(), ..response }.encode_to_vec(),
        ),
        w if w.starts_with("Request skip_claim=true") => {
            (Request::TYPE_URL, Request { skip_claim: true, ..request }.encode_to_vec())
        }
        w if w.starts_with("ClaimRequest affinity 0.5 handling=true") => (
            ClaimRequest::TYPE_URL,
            ClaimRequest { request_id: req_a, server_id: srv_c, affinity: 0.5, handling: true }.encode_to_vec(),
        ),
        w if w.starts_with("ClaimRequest affinity 0.5") => (
            ClaimRequest::TYPE_URL,
            ClaimRequest { request_id: req_a, server_id: srv_c, affinity: 0.5, ..Default::default() }.encode_to_vec(),
        ),
        w if w.starts_with("ClaimRequest affinity 0") => (
            ClaimRequest::TYPE_URL,
            ClaimRequest { request_id: req_a, server_id: srv_c, affinity: 0.0, ..Default::default() }.encode_to_vec(),
        ),
        w if w.starts_with("ClaimResponse") => {
            (ClaimResponse::TYPE_URL, ClaimResponse { request_id: req_a, server_id: srv_c }.encode_to_vec())
        }
        w if w.starts_with("Stream open") => stream_frame(
            req_a,
            SENT,
            SENT + 3_000_000_000,
            stream::Body::Open(envelope::StreamOpen {
                node_id: cli_b,
                metadata: HashMap::from([("a".into(), "b".into())]),
            }),
        ),
        w if w.starts_with("Stream ack") => {
            stream_frame(req_a, SENT, SENT + 3_000_000_000, stream::Body::Ack(envelope::StreamAck {}))
        }
        w if w.starts_with("Stream message") => stream_frame(
            format!("REQ_{}", ids('e')),
            SENT + 1_000_000_000,
            SENT + 4_000_000_000,
            stream::Body::Message(envelope::StreamMessage {
                message: None,
                raw_message: Bytes::from_static(b"\x0a\x03abc"),
            }),
        ),
        w if w.starts_with("Stream close") => stream_frame(
            format!("REQ_{}", ids('f')),
            SENT + 2_000_000_000,
            SENT + 5_000_000_000,
            stream::Body::Close(envelope::StreamClose { error: "stream closed".into(), code: "canceled".into() }),
        ),
        w if w.starts_with("Subscription publish") => ("type.googleapis.com/MyUpdate", Vec::new()),
        other => panic!("vector not covered by this test: {other}"),
    }
}

#[test]
fn frames_match_the_vectors_byte_for_byte() {
    for v in cases("frames", 12) {
        let (what, channel) = (text(&v, "what"), text(&v, "channel"));
        let (type_url, message) = build(what);
        assert_eq!(type_url, text(&v, "type_url"), "{what}");
        assert_eq!(hex::encode(&message), text(&v, "message_hex"), "{what}");

        // Our one-pass framing produces the expected frame bytes.
        let frame_hex = text(&v, "frame_hex");
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

/// The request and response frames decode with their ids apart and encode
/// back from them byte for byte (the path the engines take).
#[test]
fn request_and_response_frames_round_trip_with_their_ids_apart() {
    fn round_trip<E: WithIds + PartialEq + std::fmt::Debug>(frame_hex: &str, channel: &str, what: &str) {
        let bytes = Bytes::from(hex::decode(frame_hex).expect("hex"));
        let (ids, rest) = frame::decode_with_ids::<E>(bytes.clone()).expect(what);
        assert_eq!(rest.ids(), ("", ""), "{what}");
        let again = frame::encode_with_ids(&ids.request_id, &ids.sender_id, &rest, channel);
        assert_eq!(hex::encode(again), frame_hex, "{what}");
        let whole: E = frame::decode_envelope(bytes).expect(what);
        assert_eq!(whole.ids(), (&*ids.request_id, &*ids.sender_id), "{what}");
    }
    let mut seen = 0;
    for v in cases("frames", 12) {
        let (what, channel, frame_hex) = (text(&v, "what"), text(&v, "channel"), text(&v, "frame_hex"));
        match text(&v, "type_url") {
            Request::TYPE_URL => round_trip::<Request>(frame_hex, channel, what),
            Response::TYPE_URL => round_trip::<Response>(frame_hex, channel, what),
            _ => continue,
        }
        seen += 1;
    }
    assert!(seen >= 4, "request and response vectors");
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
