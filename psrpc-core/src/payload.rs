//! How user messages become bytes on the wire and back.

use bytes::Bytes;
use prost::Message;

/// A message the engines can carry: prost messages, or [`RawPayload`] bytes.
///
/// Every `prost::Message` is a payload already; implement it yourself only
/// for another encoding.
///
/// ```
/// use bytes::Bytes;
/// use psrpc::Payload;
///
/// /// A text message, sent as its UTF-8 bytes.
/// #[derive(Debug, PartialEq)]
/// struct Text(String);
///
/// impl Payload for Text {
///     fn encode_payload(&self) -> Bytes {
///         Bytes::from(self.0.clone())
///     }
///     fn decode_payload(bytes: Bytes) -> Result<Self, prost::DecodeError> {
///         Ok(Text(String::from_utf8_lossy(&bytes).into_owned()))
///     }
/// }
///
/// let bytes = Text("héllo".into()).encode_payload();
/// assert_eq!(Text::decode_payload(bytes).unwrap(), Text("héllo".into()));
/// ```
pub trait Payload: Sized + Send + Sync + 'static {
    /// Encodes the message (the `raw_*` field of an envelope).
    fn encode_payload(&self) -> Bytes;
    /// Decodes a message from received bytes.
    fn decode_payload(bytes: Bytes) -> Result<Self, prost::DecodeError>;
}

impl<M: Message + Default + 'static> Payload for M {
    fn encode_payload(&self) -> Bytes {
        // Cannot fail: the buffer grows as needed.
        crate::transport::arena::encode(self.encoded_len(), |buf| {
            let _ = self.encode(buf);
        })
    }

    fn decode_payload(bytes: Bytes) -> Result<Self, prost::DecodeError> {
        M::decode(bytes)
    }
}

/// Bytes passed through untouched: for bridges that forward payloads
/// without knowing their types.
///
/// ```
/// use psrpc::{Payload, RawPayload};
/// let raw = RawPayload(bytes::Bytes::from_static(b"\x08\x2a")); // any bytes, e.g. a message of an unknown type
/// assert_eq!(RawPayload::decode_payload(raw.encode_payload()).unwrap(), raw);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawPayload(pub Bytes);

impl Payload for RawPayload {
    fn encode_payload(&self) -> Bytes {
        self.0.clone()
    }

    fn decode_payload(bytes: Bytes) -> Result<Self, prost::DecodeError> {
        Ok(RawPayload(bytes))
    }
}
