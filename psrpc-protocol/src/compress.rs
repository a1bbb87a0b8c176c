//! Compression on the write side: a bus wrapper that gzips large frame
//! values, as Go psrpc's `WithBusCompression` does.
//!
//! A frame's value (the encoded envelope) of at least the threshold is
//! gzipped, and `Msg.compression` set to gzip, when that makes it smaller;
//! the rest of the frame is unchanged. Every reader decompresses on that
//! field whatever its own settings: psrpc-rs (up to
//! [`MAX_DECOMPRESSED_SIZE`](crate::frame::MAX_DECOMPRESSED_SIZE)) and Go
//! psrpc 0.7.7 and 0.8.2 (the interop tests check both). An older Go
//! release may not know the field: compress only where every Go peer reads
//! it.

use std::io::Write as _;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use prost::Message as _;

use crate::bus::{BusError, MessageBus, SharedBus, Subscription};
use crate::channel::Channel;
use crate::envelope::{Compression, Msg};
use crate::frame_limit::FrameLimit;
use crate::tap::TapSubscription;

/// How [`CompressingBus`] compresses: a gzip level (1 fastest to 9
/// smallest; 6 by default) and the smallest value compressed (1024 bytes
/// by default, Go psrpc's default threshold).
///
/// ```
/// use psrpc_protocol::compress::CompressionOptions;
/// let options = CompressionOptions::default().level(9).threshold(4096);
/// assert_eq!((options.get_level(), options.get_threshold()), (9, 4096));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompressionOptions {
    level: u32,
    threshold: usize,
}

impl Default for CompressionOptions {
    fn default() -> Self {
        CompressionOptions { level: 6, threshold: 1024 }
    }
}

impl CompressionOptions {
    /// The gzip level, clamped to 1–9.
    ///
    /// ```
    /// use psrpc_protocol::compress::CompressionOptions;
    /// assert_eq!(CompressionOptions::default().level(12).get_level(), 9);
    /// ```
    #[must_use]
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.clamp(1, 9);
        self
    }

    /// Values shorter than `bytes` are sent as they are.
    ///
    /// ```
    /// use psrpc_protocol::compress::CompressionOptions;
    /// assert_eq!(CompressionOptions::default().threshold(1).get_threshold(), 1);
    /// ```
    #[must_use]
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// The gzip level.
    ///
    /// ```
    /// assert_eq!(psrpc_protocol::compress::CompressionOptions::default().get_level(), 6);
    /// ```
    pub fn get_level(&self) -> u32 {
        self.level
    }

    /// The smallest value compressed, in bytes.
    ///
    /// ```
    /// assert_eq!(psrpc_protocol::compress::CompressionOptions::default().get_threshold(), 1024);
    /// ```
    pub fn get_threshold(&self) -> usize {
        self.threshold
    }
}

/// `frame` with its value gzipped if the value is at least the threshold,
/// not compressed yet, and smaller gzipped; otherwise `frame` itself. A
/// frame that is no `Msg` is returned as it is (the bus refuses nothing it
/// did not refuse before).
///
/// ```
/// use psrpc_protocol::compress::{CompressionOptions, compress_frame};
/// use psrpc_protocol::frame;
/// let plain = frame::encode_raw_frame("type.googleapis.com/x.Y", &[b'a'; 4096], "");
/// let small = compress_frame(plain.clone(), &CompressionOptions::default());
/// assert!(small.len() < plain.len());
/// assert_eq!(frame::decode_frame(small).unwrap().value, frame::decode_frame(plain).unwrap().value);
/// ```
pub fn compress_frame(frame: Bytes, options: &CompressionOptions) -> Bytes {
    if frame.len() < options.threshold {
        return frame;
    }
    let Ok(mut msg) = Msg::decode(frame.clone()) else { return frame };
    if msg.value.len() < options.threshold || msg.compression != i32::from(Compression::None) {
        return frame;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(options.level));
    let Ok(gzipped) = gz.write_all(&msg.value).and_then(|()| gz.finish()) else { return frame };
    if gzipped.len() >= msg.value.len() {
        return frame;
    }
    msg.value = Bytes::from(gzipped);
    msg.compression = Compression::Gzip.into();
    Bytes::from(msg.encode_to_vec())
}

/// A bus that gzips the large values of the frames it publishes (see
/// [`compress_frame`]) and hands everything else to the bus it wraps.
/// Receiving needs no wrapper: every bus reads compressed frames.
///
/// ```no_run
/// # async fn demo() -> Result<(), psrpc_protocol::BusError> {
/// use std::sync::Arc;
/// use psrpc_protocol::SharedBus;
/// use psrpc_protocol::compress::{CompressingBus, CompressionOptions};
/// # fn connect() -> SharedBus { unimplemented!() }
/// let bus: SharedBus = connect();
/// let bus: SharedBus = Arc::new(CompressingBus::new(bus, CompressionOptions::default()));
/// # let _ = bus; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct CompressingBus {
    inner: SharedBus,
    options: CompressionOptions,
}

impl CompressingBus {
    /// Wraps `inner`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc_protocol::compress::{CompressingBus, CompressionOptions};
    /// # fn wrap(bus: psrpc_protocol::SharedBus) -> psrpc_protocol::SharedBus {
    /// Arc::new(CompressingBus::new(bus, CompressionOptions::default().level(1)))
    /// # }
    /// ```
    pub fn new(inner: SharedBus, options: CompressionOptions) -> Self {
        CompressingBus { inner, options }
    }

    /// The wrapped bus.
    ///
    /// ```
    /// # use psrpc_protocol::compress::CompressingBus;
    /// # fn inner(bus: &CompressingBus) -> &psrpc_protocol::SharedBus {
    /// bus.inner()
    /// # }
    /// ```
    pub fn inner(&self) -> &SharedBus {
        &self.inner
    }
}

impl MessageBus for CompressingBus {
    fn publish<'a>(&'a self, channel: &'a Channel, frame: Bytes) -> BoxFuture<'a, Result<(), BusError>> {
        self.inner.publish(channel, compress_frame(frame, &self.options))
    }

    fn subscribe<'a>(&'a self, channel: &'a Channel, capacity: usize) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.inner.subscribe(channel, capacity)
    }

    fn subscribe_queue<'a>(
        &'a self,
        channel: &'a Channel,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.inner.subscribe_queue(channel, capacity)
    }

    fn subscribe_queue_claimed<'a>(
        &'a self,
        channel: &'a Channel,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.inner.subscribe_queue_claimed(channel, capacity)
    }

    fn publish_claim<'a>(
        &'a self,
        queued: &'a Bytes,
        channel: &'a Channel,
        frame: Bytes,
    ) -> BoxFuture<'a, Result<bool, BusError>> {
        self.inner.publish_claim(queued, channel, compress_frame(frame, &self.options))
    }

    /// Taps the wrapped bus; tapped frames are as published, compressed
    /// or not ([`TapEvent::decode`](crate::tap::TapEvent::decode) reads both).
    fn tap<'a>(&'a self, service: &'a str, capacity: usize) -> BoxFuture<'a, Result<TapSubscription, BusError>> {
        self.inner.tap(service, capacity)
    }

    fn frames_carry_local_channel(&self) -> bool {
        self.inner.frames_carry_local_channel()
    }

    fn max_frame_size(&self) -> usize {
        self.inner.max_frame_size()
    }

    fn frame_limit(&self, channel: &Channel) -> FrameLimit {
        self.inner.frame_limit(channel)
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame;

    const URL: &str = "type.googleapis.com/psrpc.Test";

    #[test]
    fn large_compressible_values_are_gzipped_and_read_back() {
        let value = b"compressible ".repeat(200);
        let plain = frame::encode_raw_frame(URL, &value, "Svc.REQ");
        let small = compress_frame(plain.clone(), &CompressionOptions::default());
        assert!(small.len() < plain.len() / 4, "{} of {}", small.len(), plain.len());
        let raw = Msg::decode(small.clone()).expect("a Msg");
        assert_eq!(raw.compression, i32::from(Compression::Gzip));
        assert_eq!(raw.channel, "Svc.REQ");
        assert_eq!(frame::decode_frame(small).expect("decodes"), frame::decode_frame(plain).expect("decodes"));
    }

    #[test]
    fn small_incompressible_and_foreign_frames_are_left_alone() {
        let options = CompressionOptions::default();
        let small = frame::encode_raw_frame(URL, &[b'a'; 1000], "");
        assert_eq!(compress_frame(small.clone(), &options), small);
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        let random = frame::encode_raw_frame(URL, &noise, "");
        assert_eq!(compress_frame(random.clone(), &options), random, "gzip would expand it");
        let garbage = Bytes::from(vec![0xff; 4096]);
        assert_eq!(compress_frame(garbage.clone(), &options), garbage);
        let once = compress_frame(frame::encode_raw_frame(URL, &[b'a'; 4096], ""), &options.threshold(1));
        assert_eq!(compress_frame(once.clone(), &options.threshold(1)), once, "never twice");
    }
}
