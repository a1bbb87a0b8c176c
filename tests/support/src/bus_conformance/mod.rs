//! The bus conformance suite: the delivery contract of
//! `MessageBus`, checked on any bus.
//!
//! [`bus_conformance!`](crate::bus_conformance!) instantiates every test for
//! one bus factory.

mod delivery;
mod isolation;

pub use delivery::*;
pub use isolation::*;

use bytes::Bytes;
use psrpc_core::MessageBus;
use psrpc_core::transport::bus::Subscription;
use psrpc_core::transport::channel::Channel;
use psrpc_protocol::envelope::Request;
use psrpc_protocol::frame;

/// Instantiates every conformance test for the bus factory expression `$factory`.
#[macro_export]
macro_rules! bus_conformance {
    ($factory:expr) => {
        $crate::suite_tests!(bus_conformance, $factory;
            publish_reaches_a_subscriber, fan_out_reaches_every_connection, queue_delivers_each_frame_exactly_once,
            order_is_kept_per_channel, frames_published_before_a_drop_are_delivered, unsubscribe_by_drop_stops_delivery, close_ends_subscriptions_and_later_calls,
            channels_are_isolated, subscribe_means_ready, stalled_subscriber_blocks_nobody_else,
            garbage_frames_do_not_break_the_bus
        );
    };
}

/// A request frame carrying `n`, encoded for `channel` on `bus`.
pub(crate) fn numbered_frame(bus: &dyn MessageBus, channel: &Channel, n: u64) -> Bytes {
    let request = Request { request_id: format!("REQ_{n:012}"), ..Default::default() };
    let local = if bus.frames_carry_local_channel() { &*channel.local } else { "" };
    frame::encode_envelope(&request, local)
}

/// The number carried by a frame from [`numbered_frame`].
pub(crate) fn number_of(frame: Bytes) -> u64 {
    let request: Request = frame::decode_envelope(frame).expect("a numbered frame");
    request.request_id.trim_start_matches("REQ_").parse().expect("a number")
}

/// The next frame, within a generous limit (a missing frame fails the test).
pub(crate) async fn next_frame(sub: &mut Subscription) -> Bytes {
    match tokio::time::timeout(std::time::Duration::from_secs(5), sub.recv()).await {
        Ok(Some(Ok(frame))) => frame,
        other => panic!("expected a frame, got {other:?}"),
    }
}

/// Whether another frame arrives within `window` (used to check absence).
pub(crate) async fn arrives_within(sub: &mut Subscription, window: std::time::Duration) -> bool {
    matches!(tokio::time::timeout(window, sub.recv()).await, Ok(Some(Ok(_))))
}

/// A channel unique to one test, so tests sharing a broker never meet.
pub(crate) fn unique_channel(method: &str) -> Channel {
    psrpc_core::transport::channel::request_channel(&crate::unique_name("Conf"), method, &["t"], false)
}
