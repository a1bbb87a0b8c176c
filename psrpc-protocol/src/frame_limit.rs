//! Refusing frames over a bus's size limit, with an error that names the
//! frame's size, the limit, what sets the limit and the channel.
//!
//! Every frame is checked before it is published, as the whole frame the
//! bus writes (envelope and payload), against
//! [`MessageBus::max_frame_size`]: a broker that receives a frame over its
//! own limit closes the connection (NATS `max_payload`, Redis
//! `proto-max-bulk-len`), which would take every call and subscription on
//! that connection down with it and start a reconnect. The refusal is
//! [`BusErrorKind::FrameTooLarge`](crate::bus::BusErrorKind::FrameTooLarge) (`resource_exhausted`) and costs nothing
//! on the wire.
//!
//! Decision: frames are never split into chunks (docs/WIRE.md section
//! "Frame size limits"): brokers' limits are deliberate (they bound the
//! memory a connection may claim at once), Go psrpc peers could not
//! reassemble chunks, and raising the limit (NATS `max_payload` up to
//! 64 MiB, Redis `proto-max-bulk-len`) is the operator's tool.

use std::borrow::Cow;
use std::fmt;

use crate::bus::{BusError, MessageBus};
use crate::channel::Channel;

/// What sets a bus's frame limit and how the bus names a channel, for the
/// error that refuses an oversized frame (see [`MessageBus::frame_limit`]).
///
/// ```
/// use psrpc_protocol::frame_limit::FrameLimit;
/// let limit = FrameLimit::new("the NATS server's max_payload", "subject SRV.Svc.M");
/// assert_eq!(limit.origin, "the NATS server's max_payload");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameLimit {
    /// What sets [`MessageBus::max_frame_size`], e.g. "the NATS server's
    /// max_payload".
    pub origin: Cow<'static, str>,
    /// The channel as the broker names it, e.g. "subject SRV.Svc.M".
    pub place: String,
}

impl FrameLimit {
    /// A limit set by `origin`, for the channel the broker calls `place`.
    ///
    /// ```
    /// let limit = psrpc_protocol::frame_limit::FrameLimit::new("this bus's max_frame_size option", "channel Svc|M|REQ");
    /// assert_eq!(limit.place, "channel Svc|M|REQ");
    /// ```
    pub fn new(origin: impl Into<Cow<'static, str>>, place: impl Into<String>) -> Self {
        FrameLimit { origin: origin.into(), place: place.into() }
    }
}

/// Refuses a frame of `size` bytes on `channel` that `bus` would not carry,
/// with [`BusErrorKind::FrameTooLarge`](crate::bus::BusErrorKind::FrameTooLarge);
/// `what` names the frame ("request", "response", "stream message", or
/// "frame" where the caller does not know).
///
/// ```
/// use psrpc::local::{LocalBus, LocalBusOptions};
/// use psrpc_protocol::ErrorCode;
/// use psrpc_protocol::frame_limit::check_frame_size;
///
/// let bus = LocalBus::with_options(LocalBusOptions::default().max_frame_size(1_048_576));
/// let channel = psrpc_protocol::channel::request_channel("Svc", "M", &[] as &[&str], false);
/// assert!(check_frame_size(&bus, "request", &channel, 1_048_576).is_ok());
/// let err = check_frame_size(&bus, "request", &channel, 2_000_123).unwrap_err();
/// assert_eq!(err.code(), ErrorCode::ResourceExhausted);
/// assert_eq!(
///     err.to_string(),
///     "frame too large: request of 2,000,123 bytes exceeds the in-process bus's max_frame_size option \
///      of 1,048,576 bytes on channel Svc|M|REQ"
/// );
/// ```
pub fn check_frame_size(bus: &dyn MessageBus, what: &str, channel: &Channel, size: usize) -> Result<(), BusError> {
    let limit = bus.max_frame_size();
    if size <= limit {
        return Ok(());
    }
    let FrameLimit { origin, place } = bus.frame_limit(channel);
    Err(BusError::frame_too_large_because(
        size,
        limit,
        format!("{what} of {} bytes exceeds {origin} of {} bytes on {place}", Grouped(size), Grouped(limit)),
    ))
}

/// A byte count with thousands separators, as refusals show sizes.
///
/// ```
/// use psrpc_protocol::frame_limit::Grouped;
/// assert_eq!(Grouped(2_000_123).to_string(), "2,000,123");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Grouped(pub usize);

impl fmt::Display for Grouped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.to_string();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                f.write_str(",")?;
            }
            write!(f, "{digit}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Grouped;

    #[test]
    fn byte_counts_are_grouped_by_thousands() {
        for (n, text) in [(0, "0"), (999, "999"), (1000, "1,000"), (65_536, "65,536"), (2_000_123, "2,000,123")] {
            assert_eq!(Grouped(n).to_string(), text);
        }
        assert_eq!(Grouped(usize::MAX).to_string().replace(',', ""), usize::MAX.to_string());
    }
}
