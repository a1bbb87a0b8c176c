//! Framing: every bus message is one encoded `internal.Msg` (docs/WIRE.md section 3).
//!
//! Encoding writes the `Msg` header and the inner message into one buffer in a
//! single pass (no intermediate encoding of the inner message). Decoding
//! slices the inner message out of the received buffer without copying it,
//! and reads the type URL and the routing key where they lie in the frame.
//!
//! Frames whose value a Go psrpc peer gzipped (`Msg.compression = 1`) are
//! decompressed on decoding, up to [`MAX_DECOMPRESSED_SIZE`]; psrpc-rs writes
//! values uncompressed unless its bus is a
//! [`CompressingBus`](crate::compress::CompressingBus).

mod ids;
mod view;

use std::borrow::Cow;
use std::io::Read as _;

use bytes::{BufMut as _, Bytes, BytesMut};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use crate::arena;
use crate::envelope::{self, Compression, Msg};
pub use ids::{Ids, WithIds, decode_with_ids, encode_with_ids};
use view::MsgView;

/// Prefix of every type URL.
///
/// ```
/// use psrpc_protocol::frame::{Envelope, TYPE_URL_PREFIX};
/// use psrpc_protocol::envelope::Request;
/// assert!(Request::TYPE_URL.starts_with(TYPE_URL_PREFIX));
/// ```
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// The type URL of a user message: `type.googleapis.com/` + its full name
/// (`package.Name`, or just `Name` without a package), as Go psrpc writes it.
///
/// prost's own `Name::type_url` omits the domain unless prost-build was told
/// one, so the engines always use this function.
///
/// ```
/// assert_eq!(psrpc_protocol::frame::type_url_of::<prost_types::Duration>(), "type.googleapis.com/google.protobuf.Duration");
/// ```
pub fn type_url_of<M: prost::Name>() -> String {
    format!("{TYPE_URL_PREFIX}{}", M::full_name())
}

/// An envelope message with its fixed type URL.
///
/// ```
/// use psrpc_protocol::envelope::ClaimRequest;
/// use psrpc_protocol::frame::Envelope;
/// assert_eq!(ClaimRequest::TYPE_URL, "type.googleapis.com/internal.ClaimRequest");
/// ```
pub trait Envelope: Message + Default {
    /// `type.googleapis.com/internal.<Name>`.
    const TYPE_URL: &'static str;
    /// What the envelope is, in words, for error messages ("request").
    const WHAT: &'static str;
}

macro_rules! envelope_type_urls {
    ($($ty:ident => $what:literal),* $(,)?) => {$(
        impl Envelope for envelope::$ty {
            const TYPE_URL: &'static str = concat!("type.googleapis.com/internal.", stringify!($ty));
            const WHAT: &'static str = $what;
        }
    )*};
}

envelope_type_urls!(
    Request => "request",
    Response => "response",
    ClaimRequest => "claim request",
    ClaimResponse => "claim response",
    Stream => "stream message",
);

/// Why a received frame was not accepted.
///
/// ```
/// use psrpc_protocol::envelope::{Request, Response};
/// use psrpc_protocol::frame::{self, FrameError};
/// let frame = frame::encode_envelope(&Response::default(), "");
/// let err = frame::decode_envelope::<Request>(frame).unwrap_err();
/// assert!(matches!(err, FrameError::UnexpectedType { .. }));
/// assert!(matches!(frame::decode_frame(bytes::Bytes::from_static(b"\xff")), Err(FrameError::Malformed(_))));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The bytes are not a valid `Msg` or inner message.
    #[error("malformed frame: {0}")]
    Malformed(#[from] prost::DecodeError),
    /// The frame carries another message type than the receiver expects.
    #[error("unexpected message type {actual:?}, expected {expected:?}")]
    UnexpectedType {
        /// The type URL the receiver expects.
        expected: &'static str,
        /// The type URL found in the frame.
        actual: String,
    },
    /// The frame's value is compressed with an unknown method, is not valid
    /// gzip, or expands beyond [`MAX_DECOMPRESSED_SIZE`].
    #[error("undecodable compressed frame: {0}")]
    Compression(String),
}

/// The most a gzipped frame value may expand to (64 MiB): a bound on what
/// one small hostile frame can make a receiver allocate.
///
/// ```
/// assert_eq!(psrpc_protocol::frame::MAX_DECOMPRESSED_SIZE, 64 << 20);
/// ```
pub const MAX_DECOMPRESSED_SIZE: usize = 64 << 20;

/// Encodes `message` framed as a `Msg` with `type_url` and routing key `local`.
///
/// ```
/// use psrpc_protocol::frame;
/// let detail = prost_types::Duration { seconds: 1, nanos: 0 };
/// let bytes = frame::encode_frame("type.googleapis.com/google.protobuf.Duration", &detail, "M.REQ");
/// let msg = frame::decode_frame(bytes).unwrap();
/// assert_eq!((msg.type_url.as_str(), msg.channel.as_str()), ("type.googleapis.com/google.protobuf.Duration", "M.REQ"));
/// ```
pub fn encode_frame(type_url: &str, message: &impl Message, local: &str) -> Bytes {
    // Cannot fail: the buffer is sized from encoded_len.
    write_frame(
        type_url,
        message.encoded_len(),
        |buf| {
            let _ = message.encode(buf);
        },
        local,
    )
}

/// Encodes an already encoded message `value` framed as a `Msg` (for bridges
/// that forward payloads without knowing their types).
///
/// ```
/// use psrpc_protocol::frame;
/// let bytes = frame::encode_raw_frame("type.googleapis.com/pkg.Opaque", b"\x08\x01", "");
/// assert_eq!(frame::decode_frame(bytes).unwrap().value.as_ref(), b"\x08\x01");
/// ```
pub fn encode_raw_frame(type_url: &str, value: &[u8], local: &str) -> Bytes {
    write_frame(type_url, value.len(), |buf| buf.put_slice(value), local)
}

fn write_frame(type_url: &str, value_len: usize, write_value: impl FnOnce(&mut BytesMut), local: &str) -> Bytes {
    arena::encode(frame_len(type_url.len(), value_len, local.len()), |buf| {
        write_string_field(buf, 1, type_url);
        // `value` is a proto3 `bytes` field: an empty value is omitted.
        if value_len > 0 {
            encode_key(2, WireType::LengthDelimited, buf);
            encode_varint(value_len as u64, buf);
            write_value(buf);
        }
        write_string_field(buf, 3, local);
    })
}

/// Encodes an envelope message framed as a `Msg`: what the engines
/// publish. `local` is the channel's Local name on buses whose frames carry
/// it ([`MessageBus::frames_carry_local_channel`](crate::bus::MessageBus::frames_carry_local_channel)),
/// else empty.
///
/// ```
/// use psrpc_protocol::frame;
/// use psrpc_protocol::envelope::Request;
/// let request = Request { request_id: "REQ_1".into(), client_id: "CLI_1".into(), ..Default::default() };
/// let bytes = frame::encode_envelope(&request, "M.REQ");
/// assert_eq!(frame::decode_envelope::<Request>(bytes).unwrap(), request);
/// ```
pub fn encode_envelope<E: Envelope>(message: &E, local: &str) -> Bytes {
    encode_frame(E::TYPE_URL, message, local)
}

fn frame_len(type_url: usize, value: usize, local: usize) -> usize {
    string_field_len(type_url) + string_field_len(value) + string_field_len(local)
}

/// The encoded length of a length-delimited field of `len` bytes (field
/// number below 16), as [`write_string_field`] writes it.
fn string_field_len(len: usize) -> usize {
    if len == 0 { 0 } else { 1 + encoded_len_varint(len as u64) + len }
}

fn write_string_field(buf: &mut BytesMut, tag: u32, value: &str) {
    if !value.is_empty() {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(value.len() as u64, buf);
        buf.put_slice(value.as_bytes());
    }
}

/// Decodes a frame's `Msg` (the value is a zero-copy slice of `frame`).
///
/// ```
/// use psrpc_protocol::frame;
/// use psrpc_protocol::frame::Envelope as _;
/// use psrpc_protocol::envelope::ClaimResponse;
/// let msg = frame::decode_frame(frame::encode_envelope(&ClaimResponse::default(), "")).unwrap();
/// assert_eq!(msg.type_url, ClaimResponse::TYPE_URL);
/// ```
pub fn decode_frame(frame: Bytes) -> Result<Msg, FrameError> {
    let mut msg = Msg::decode(frame)?;
    msg.value = plain_value(msg.value, msg.compression)?;
    msg.compression = Compression::None.into();
    Ok(msg)
}

/// A frame's value uncompressed, given how it was compressed.
fn plain_value(value: Bytes, compression: i32) -> Result<Bytes, FrameError> {
    match Compression::try_from(compression) {
        Ok(Compression::None) => Ok(value),
        Ok(Compression::Gzip) => gunzip(&value, MAX_DECOMPRESSED_SIZE),
        Err(_) => Err(FrameError::Compression(format!("unknown compression {compression}"))),
    }
}

/// Inflates a gzipped value (every member of it, as Go's reader does) of at
/// most `limit` bytes.
fn gunzip(value: &[u8], limit: usize) -> Result<Bytes, FrameError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(value)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| FrameError::Compression(format!("gzip: {e}")))?;
    if out.len() > limit {
        return Err(FrameError::Compression(format!("value expands beyond {limit} bytes")));
    }
    Ok(Bytes::from(out))
}

/// Decodes only the routing key (`Msg.channel`) of a frame: how a NATS
/// router picks the channel on a shared subject. Borrowed from the frame
/// (no allocation) unless the frame needs prost's full decoder.
///
/// ```
/// use psrpc_protocol::frame;
/// use psrpc_protocol::envelope::Request;
/// let bytes = frame::encode_envelope(&Request::default(), "Greet.REQ");
/// assert_eq!(frame::decode_local_channel(&bytes).unwrap(), "Greet.REQ");
/// ```
pub fn decode_local_channel(frame: &[u8]) -> Result<Cow<'_, str>, FrameError> {
    match MsgView::read(frame) {
        Some(view) => Ok(Cow::Borrowed(view.channel)),
        None => Ok(Cow::Owned(envelope::Channel::decode(frame)?.channel)),
    }
}

/// Decodes a frame that must carry envelope `E`.
///
/// ```
/// use psrpc_protocol::frame;
/// use psrpc_protocol::envelope::Response;
/// let response = Response { request_id: "REQ_1".into(), server_id: "SRV_1".into(), ..Default::default() };
/// let decoded: Response = frame::decode_envelope(frame::encode_envelope(&response, "")).unwrap();
/// assert_eq!(decoded.server_id, "SRV_1");
/// ```
pub fn decode_envelope<E: Envelope>(frame: Bytes) -> Result<E, FrameError> {
    Ok(E::decode(envelope_value::<E>(frame)?)?)
}

/// The value of a frame that must carry envelope `E`, uncompressed.
fn envelope_value<E: Envelope>(frame: Bytes) -> Result<Bytes, FrameError> {
    // The type is checked and the value sliced out in place when the frame
    // reads plainly; prost decodes the rest (see `view`).
    let (type_url, value) = match MsgView::read(&frame) {
        Some(view) => {
            let value = plain_value(frame.slice(view.value), view.compression)?;
            (Cow::Borrowed(view.type_url), value)
        }
        None => {
            let msg = decode_frame(frame.clone())?;
            (Cow::Owned(msg.type_url.into_bytes()), msg.value)
        }
    };
    if *type_url != *E::TYPE_URL.as_bytes() {
        let actual = String::from_utf8_lossy(&type_url).into_owned();
        return Err(FrameError::UnexpectedType { expected: E::TYPE_URL, actual });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Request, Stream, StreamAck, stream};

    #[test]
    fn raw_frames_match_encoded_messages() {
        let request =
            Request { request_id: "REQ_1".into(), raw_request: Bytes::from_static(b"abc"), ..Default::default() };
        let url = "type.googleapis.com/internal.Request";
        assert_eq!(encode_raw_frame(url, &request.encode_to_vec(), "ch"), encode_frame(url, &request, "ch"));
        assert_eq!(encode_raw_frame(url, b"", ""), encode_frame(url, &StreamAck {}, ""));
    }

    #[test]
    fn empty_value_and_channel_are_omitted() {
        let frame = encode_frame("type.googleapis.com/MyUpdate", &StreamAck {}, "");
        assert_eq!(hex(&frame), "0a1c747970652e676f6f676c65617069732e636f6d2f4d79557064617465");
    }

    #[test]
    fn one_pass_encoding_equals_nested_encoding() {
        let req =
            Request { request_id: "REQ_x".into(), raw_request: Bytes::from_static(b"\x0a\x01a"), ..Default::default() };
        let nested = Msg {
            type_url: Request::TYPE_URL.into(),
            value: req.encode_to_vec().into(),
            channel: "M.REQ".into(),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(encode_envelope(&req, "M.REQ").as_ref(), nested.as_slice());
        let decoded: Request = decode_envelope(Bytes::from(nested)).expect("decodes");
        assert_eq!(decoded, req);
    }

    fn gzip(data: &[u8]) -> Bytes {
        use std::io::Write as _;
        let mut writer = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        writer.write_all(data).expect("compress");
        Bytes::from(writer.finish().expect("compress"))
    }

    fn gzipped_frame(value: Bytes, compression: i32) -> Bytes {
        let msg = Msg { type_url: Request::TYPE_URL.into(), value, channel: "M.REQ".into(), compression };
        Bytes::from(msg.encode_to_vec())
    }

    #[test]
    fn gzipped_values_decode_like_plain_ones() {
        let req =
            Request { request_id: "REQ_z".into(), raw_request: Bytes::from(vec![b'a'; 4096]), ..Default::default() };
        let frame = gzipped_frame(gzip(&req.encode_to_vec()), Compression::Gzip.into());
        assert!(frame.len() < 1024, "the value was compressed");
        let decoded: Request = decode_envelope(frame).expect("decodes");
        assert_eq!(decoded, req);
        let msg = decode_frame(gzipped_frame(gzip(b"abc"), Compression::Gzip.into())).expect("decodes");
        assert_eq!((msg.value.as_ref(), msg.compression, msg.channel.as_str()), (&b"abc"[..], 0, "M.REQ"));
    }

    #[test]
    fn bad_compression_is_an_error() {
        let unknown = gzipped_frame(Bytes::from_static(b"abc"), 7);
        assert!(matches!(decode_frame(unknown), Err(FrameError::Compression(e)) if e.contains('7')));
        let not_gzip = gzipped_frame(Bytes::from_static(b"not gzip"), Compression::Gzip.into());
        assert!(matches!(decode_frame(not_gzip), Err(FrameError::Compression(_))));
        let bomb = gzip(&vec![0; 4097]);
        assert!(matches!(gunzip(&bomb, 4096), Err(FrameError::Compression(e)) if e.contains("4096")));
        assert_eq!(gunzip(&bomb, 4097).expect("within the limit").len(), 4097);
    }

    #[test]
    fn wrong_type_and_garbage_are_errors() {
        let frame = encode_envelope(&Stream { body: Some(stream::Body::Ack(StreamAck {})), ..Default::default() }, "");
        assert!(matches!(decode_envelope::<Request>(frame), Err(FrameError::UnexpectedType { .. })));
        assert!(matches!(decode_frame(Bytes::from_static(&[0xff, 0xff, 0xff])), Err(FrameError::Malformed(_))));
        assert_eq!(decode_local_channel(&encode_envelope(&Request::default(), "X.REQ")).expect("ok"), "X.REQ");
    }

    proptest::proptest! {
        /// The same property as the `fuzz/` target, as a quick stable-Rust check.
        #[test]
        fn arbitrary_bytes_never_panic_the_decoders(data in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let bytes = Bytes::from(data);
            let _ = decode_local_channel(&bytes);
            let _ = decode_envelope::<Request>(bytes.clone());
            let _ = decode_envelope::<Stream>(bytes.clone());
            let _ = decode_frame(bytes);
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
