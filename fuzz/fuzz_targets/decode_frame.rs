//! Arbitrary bytes off the network must never panic the frame decoders.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use psrpc_protocol::envelope::{ClaimRequest, ClaimResponse, Request, Response, Stream};
use psrpc_protocol::frame;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    let _ = frame::decode_local_channel(data);
    let _ = frame::decode_frame(bytes.clone());
    let _ = frame::decode_envelope::<Request>(bytes.clone());
    let _ = frame::decode_envelope::<Response>(bytes.clone());
    let _ = frame::decode_envelope::<ClaimRequest>(bytes.clone());
    let _ = frame::decode_envelope::<ClaimResponse>(bytes.clone());
    let _ = frame::decode_envelope::<Stream>(bytes);
});
