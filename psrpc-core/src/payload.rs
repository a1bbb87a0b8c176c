//! How user messages become bytes on the wire and back.

use bytes::Bytes;
use prost::Message;

/// A message the engines can carry: prost messages, or [`RawPayload`] bytes.
pub trait Payload: Sized + Send + Sync + 'static {
    /// Encodes the message (the `raw_*` field of an envelope).
    fn encode_payload(&self) -> Bytes;
    /// Decodes a message from received bytes.
    fn decode_payload(bytes: Bytes) -> Result<Self, prost::DecodeError>;
}

impl<M: Message + Default + 'static> Payload for M {
    fn encode_payload(&self) -> Bytes {
        Bytes::from(self.encode_to_vec())
    }

    fn decode_payload(bytes: Bytes) -> Result<Self, prost::DecodeError> {
        M::decode(bytes)
    }
}

/// Bytes passed through untouched: for bridges that forward payloads
/// without knowing their types.
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
