//! Putting envelopes on the bus: one encode per frame, the bus's framing rule
//! for `Msg.channel`, and its size limit.

use bytes::Bytes;

use crate::error::Error;
use crate::transport::bus::MessageBus;
use crate::transport::channel::Channel;
use crate::transport::frame::{self, Envelope, WithIds};
use crate::transport::frame_limit::check_frame_size;

/// Encodes `message` once for `channel` and publishes it on `bus`.
pub(crate) async fn publish<E: Envelope>(bus: &dyn MessageBus, channel: &Channel, message: &E) -> Result<(), Error> {
    let frame = frame::encode_envelope(message, local_name(bus, channel));
    publish_frame(bus, E::WHAT, channel, frame).await
}

/// Encodes `rest` once for `channel` with `request_id` and `sender_id` as
/// its ids (see [`frame::encode_with_ids`]) and publishes it on `bus`.
pub(crate) async fn publish_with_ids<E: WithIds>(
    bus: &dyn MessageBus,
    channel: &Channel,
    (request_id, sender_id): (&str, &str),
    rest: &E,
) -> Result<(), Error> {
    let frame = frame::encode_with_ids(request_id, sender_id, rest, local_name(bus, channel));
    publish_frame(bus, E::WHAT, channel, frame).await
}

/// Encodes the claim `message` for the queued request frame `queued` and
/// publishes it unless another process took that request first (see
/// [`MessageBus::publish_claim`]); true if published.
pub(crate) async fn publish_claim<E: Envelope>(
    bus: &dyn MessageBus,
    queued: &Bytes,
    channel: &Channel,
    message: &E,
) -> Result<bool, Error> {
    let frame = frame::encode_envelope(message, local_name(bus, channel));
    check_frame_size(bus, E::WHAT, channel, frame.len())?;
    Ok(bus.publish_claim(queued, channel, frame).await?)
}

/// The `Msg.channel` value for `channel` on `bus`.
pub(crate) fn local_name<'a>(bus: &dyn MessageBus, channel: &'a Channel) -> &'a str {
    if bus.frames_carry_local_channel() { &channel.local } else { "" }
}

/// Publishes an encoded frame, `what` in words ("subscription message"),
/// refusing frames over the bus's limit.
pub(crate) async fn publish_frame(
    bus: &dyn MessageBus,
    what: &str,
    channel: &Channel,
    frame: Bytes,
) -> Result<(), Error> {
    check_frame_size(bus, what, channel, frame.len())?;
    Ok(bus.publish(channel, frame).await?)
}
