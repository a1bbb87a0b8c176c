//! A tonic codec that passes message bytes through untouched, so the bridge
//! forwards calls without knowing their message types.

use bytes::{Buf as _, BufMut as _, Bytes};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// gRPC messages as raw bytes, both ways.
///
/// ```
/// use tonic::codec::Codec as _;
/// let mut codec = psrpc_kube::BytesCodec;
/// let (_encoder, _decoder) = (codec.encoder(), codec.decoder()); // a `BytesEncoder` and a `BytesDecoder`
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesCodec;

/// The encoder half of [`BytesCodec`].
///
/// ```
/// use tonic::codec::Codec as _;
/// let _encoder: psrpc_kube::BytesEncoder = psrpc_kube::BytesCodec.encoder();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesEncoder;

/// The decoder half of [`BytesCodec`].
///
/// ```
/// use tonic::codec::Codec as _;
/// let _decoder: psrpc_kube::BytesDecoder = psrpc_kube::BytesCodec.decoder();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesDecoder;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesEncoder;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> BytesDecoder {
        BytesDecoder
    }
}

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
