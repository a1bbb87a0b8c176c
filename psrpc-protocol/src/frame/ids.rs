//! Requests and responses with their ids kept apart from the prost message:
//! encoded from borrowed text, decoded as slices of the frame.
//!
//! Decision: the request id and the sender's id (fields 1 and 2 of
//! `Request` and `Response`) are the only strings of a call's envelopes, and
//! as prost `String`s each cost an allocation on every encode (copied into
//! the message) and decode. prost writes fields in field-number order, so
//! fields 1 and 2 written from borrowed text, followed by the message with
//! both left empty, are the very bytes of the whole message. Decoding reads
//! fields 1 and 2 into [`SharedStr`]s sliced out of the frame and hands every
//! other field to prost.

use bytes::{Buf as _, Bytes};
use prost::encoding::{DecodeContext, WireType, decode_key};

use super::{Envelope, FrameError, envelope_value, string_field_len, write_frame, write_string_field};
use crate::envelope::{Request, Response};
use crate::shared_str::SharedStr;

/// An envelope whose fields 1 and 2 are the request id and its sender's id:
/// the client's in a [`Request`], the server's in a [`Response`].
///
/// ```
/// use psrpc_protocol::envelope::Response;
/// use psrpc_protocol::frame::WithIds;
/// let response = Response { request_id: "REQ_1".into(), server_id: "SRV_1".into(), ..Default::default() };
/// assert_eq!(response.ids(), ("REQ_1", "SRV_1"));
/// ```
pub trait WithIds: Envelope {
    /// The message's own request id and sender's id.
    fn ids(&self) -> (&str, &str);
}

impl WithIds for Request {
    fn ids(&self) -> (&str, &str) {
        (&self.request_id, &self.client_id)
    }
}

impl WithIds for Response {
    fn ids(&self) -> (&str, &str) {
        (&self.request_id, &self.server_id)
    }
}

/// The ids of a decoded envelope (see [`decode_with_ids`]).
///
/// ```
/// use psrpc_protocol::frame::Ids;
/// let ids = Ids::default();
/// assert_eq!((ids.request_id.as_str(), ids.sender_id.as_str()), ("", ""));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    /// `request_id` (field 1).
    pub request_id: SharedStr,
    /// `client_id` of a request, `server_id` of a response (field 2).
    pub sender_id: SharedStr,
}

/// Encodes `rest` framed as [`encode_envelope`](super::encode_envelope)
/// does, with `request_id` and `sender_id` as its fields 1 and 2: the same
/// bytes as the message with them set. The ids of `rest` must be empty (a
/// receiver would take them over these).
///
/// ```
/// use psrpc_protocol::envelope::Request;
/// use psrpc_protocol::frame;
/// let full = Request { request_id: "REQ_1".into(), client_id: "CLI_1".into(), expiry: 9, ..Default::default() };
/// let rest = Request { expiry: 9, ..Default::default() };
/// assert_eq!(frame::encode_with_ids("REQ_1", "CLI_1", &rest, "M.REQ"), frame::encode_envelope(&full, "M.REQ"));
/// ```
pub fn encode_with_ids<E: WithIds>(request_id: &str, sender_id: &str, rest: &E, local: &str) -> bytes::Bytes {
    debug_assert_eq!(rest.ids(), ("", ""), "the ids are written from the arguments");
    let len = string_field_len(request_id.len()) + string_field_len(sender_id.len()) + rest.encoded_len();
    let write = |buf: &mut bytes::BytesMut| {
        write_string_field(buf, 1, request_id);
        write_string_field(buf, 2, sender_id);
        // Cannot fail: the buffer is sized from encoded_len.
        let _ = rest.encode(buf);
    };
    write_frame(E::TYPE_URL, len, write, local)
}

/// Decodes a frame that must carry envelope `E`, as
/// [`decode_envelope`](super::decode_envelope) does, but with its ids in
/// [`Ids`] sharing the frame's bytes (the message's own are left empty).
///
/// ```
/// use psrpc_protocol::envelope::Request;
/// use psrpc_protocol::frame;
/// let request = Request { request_id: "REQ_1".into(), client_id: "CLI_1".into(), expiry: 9, ..Default::default() };
/// let (ids, rest) = frame::decode_with_ids::<Request>(frame::encode_envelope(&request, "")).unwrap();
/// assert_eq!((ids.request_id.as_str(), ids.sender_id.as_str(), rest.expiry), ("REQ_1", "CLI_1", 9));
/// assert_eq!(rest.ids(), ("", ""));
/// # use psrpc_protocol::frame::WithIds as _;
/// ```
pub fn decode_with_ids<E: WithIds>(frame: Bytes) -> Result<(Ids, E), FrameError> {
    let mut value = envelope_value::<E>(frame)?;
    let (mut ids, mut rest) = (Ids::default(), E::default());
    let ctx = DecodeContext::default();
    while value.has_remaining() {
        let (tag, wire_type) = decode_key(&mut value)?;
        let id = match (tag, wire_type) {
            (1, WireType::LengthDelimited) => &mut ids.request_id,
            (2, WireType::LengthDelimited) => &mut ids.sender_id,
            _ => {
                rest.merge_field(tag, wire_type, &mut value, ctx.clone())?;
                continue;
            }
        };
        let mut field = value.clone();
        let mut text = Bytes::new();
        prost::encoding::bytes::merge(wire_type, &mut text, &mut value, ctx.clone())?;
        match SharedStr::try_from(text) {
            Ok(text) => *id = text,
            // Not UTF-8: prost reads the field again and says why it fails.
            Err(_) => rest.merge_field(tag, wire_type, &mut field, ctx.clone())?,
        }
    }
    Ok((ids, rest))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::frame::{decode_envelope, encode_envelope, encode_raw_frame};

    fn response() -> Response {
        Response {
            request_id: "REQ_r".into(),
            server_id: "SRV_s".into(),
            sent_at: 7,
            error: "gone".into(),
            raw_response: Bytes::from_static(b"\x08\x01"),
            ..Default::default()
        }
    }

    #[test]
    fn ids_apart_encode_and_decode_as_the_whole_message() {
        let full = response();
        let rest = Response { request_id: String::new(), server_id: String::new(), ..full.clone() };
        let frame = encode_with_ids(&full.request_id, &full.server_id, &rest, "ch");
        assert_eq!(frame, encode_envelope(&full, "ch"));
        let (ids, decoded) = decode_with_ids::<Response>(frame).expect("decodes");
        assert_eq!((ids.request_id.as_str(), ids.sender_id.as_str()), (&*full.request_id, &*full.server_id));
        assert_eq!(decoded, rest);
        let empty = encode_with_ids("", "", &Request::default(), "");
        assert_eq!(decode_with_ids::<Request>(empty).expect("decodes"), (Ids::default(), Request::default()));
    }

    #[test]
    fn malformed_ids_and_wrong_types_are_errors() {
        let not_utf8 = encode_raw_frame(Response::TYPE_URL, b"\x0a\x01\xff", "");
        assert!(matches!(decode_with_ids::<Response>(not_utf8), Err(FrameError::Malformed(_))));
        let id_as_varint = encode_raw_frame(Response::TYPE_URL, b"\x10\x01", "");
        assert!(matches!(decode_with_ids::<Response>(id_as_varint), Err(FrameError::Malformed(_))));
        let request = encode_envelope(&Request::default(), "");
        assert!(matches!(decode_with_ids::<Response>(request), Err(FrameError::UnexpectedType { .. })));
    }

    proptest! {
        /// On any value, decoding with the ids apart succeeds exactly where
        /// prost's decoding does, with the same fields.
        #[test]
        fn decoding_with_ids_agrees_with_prost(value in proptest::collection::vec(any::<u8>(), 0..64)) {
            let frame = encode_raw_frame(Response::TYPE_URL, &value, "");
            match (decode_envelope::<Response>(frame.clone()), decode_with_ids::<Response>(frame)) {
                (Ok(whole), Ok((ids, mut rest))) => {
                    rest.request_id = ids.request_id.to_string();
                    rest.server_id = ids.sender_id.to_string();
                    prop_assert_eq!(whole, rest);
                }
                (Err(_), Err(_)) => {}
                (whole, apart) => prop_assert!(false, "prost: {whole:?}, apart: {apart:?}"),
            }
        }
    }
}
