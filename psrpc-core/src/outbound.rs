//! Putting envelopes on the bus: one encode per frame, the bus's framing rule
//! for `Msg.channel`, and its size limit.

use bytes::Bytes;

use crate::error::Error;
use crate::transport::bus::{BusError, MessageBus};
use crate::transport::channel::Channel;
use crate::transport::frame::{self, Envelope};

/// Encodes `message` once for `channel` and publishes it on `bus`.
pub(crate) async fn publish<E: Envelope>(bus: &dyn MessageBus, channel: &Channel, message: &E) -> Result<(), Error> {
    let frame = frame::encode_envelope(message, local_name(bus, channel));
    publish_frame(bus, channel, frame).await
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
    check_size(bus, &frame)?;
    Ok(bus.publish_claim(queued, channel, frame).await?)
}

/// The `Msg.channel` value for `channel` on `bus`.
pub(crate) fn local_name<'a>(bus: &dyn MessageBus, channel: &'a Channel) -> &'a str {
    if bus.frames_carry_local_channel() { &channel.local } else { "" }
}

/// Publishes an encoded frame, refusing frames over the bus's limit.
pub(crate) async fn publish_frame(bus: &dyn MessageBus, channel: &Channel, frame: Bytes) -> Result<(), Error> {
    check_size(bus, &frame)?;
    Ok(bus.publish(channel, frame).await?)
}

/// Refuses frames over the bus's limit.
fn check_size(bus: &dyn MessageBus, frame: &Bytes) -> Result<(), Error> {
    let limit = bus.max_frame_size();
    if frame.len() > limit {
        return Err(BusError::frame_too_large(frame.len(), limit).into());
    }
    Ok(())
}
