//! How a psrpc-rs end tells its peer, from the start of a stream, that it
//! sends keepalives, so that the peer expires it even if it vanishes before
//! its first one (see [`StreamKeepalive`]).
//!
//! - The client says so in the open: the metadata entry
//!   [`KEEPALIVE_METADATA_KEY`], whose value is the stream id. Go psrpc
//!   servers pass it to their handler's incoming metadata like any other
//!   entry; psrpc-rs servers take it out before the handler sees the
//!   metadata. The value ties it to its stream: a Go service that copies a
//!   stream's incoming metadata into a stream of its own does not announce
//!   keepalives it never sends.
//! - The server sends its first keepalive before its ack of the open, so the
//!   client has seen one by the time the stream is established.

use crate::metadata::Metadata;
use crate::options::StreamKeepalive;

/// The open-metadata key by which a psrpc-rs client announces keepalives;
/// reserved (a caller's own entry under it is replaced or dropped).
pub(crate) const KEEPALIVE_METADATA_KEY: &str = "psrpc-rs-keepalive";

/// Announces, in the metadata of the open of `stream_id`, that this end
/// sends keepalives, if it does.
pub(crate) fn announce(metadata: &mut Metadata, keepalive: StreamKeepalive, stream_id: &str) {
    match keepalive.interval {
        Some(_) => metadata.insert(KEEPALIVE_METADATA_KEY.to_owned(), stream_id.to_owned()),
        None => metadata.remove(KEEPALIVE_METADATA_KEY),
    };
}

/// Takes the announcement out of the metadata of the open of `stream_id`:
/// whether the client sends keepalives.
pub(crate) fn take_announcement(metadata: &mut Metadata, stream_id: &str) -> bool {
    metadata.remove(KEEPALIVE_METADATA_KEY).is_some_and(|announced| announced == stream_id)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_an_end_that_sends_keepalives_announces_them_for_its_own_stream() {
        let mut metadata = Metadata::new();
        announce(&mut metadata, StreamKeepalive::new(Duration::from_secs(5), Duration::from_secs(15)), "STR_a");
        assert_eq!(metadata[KEEPALIVE_METADATA_KEY], "STR_a");
        assert!(take_announcement(&mut metadata, "STR_a"));
        assert!(metadata.is_empty(), "the handler sees the caller's metadata only");

        announce(&mut metadata, StreamKeepalive::default(), "STR_a");
        assert!(!take_announcement(&mut metadata, "STR_b"), "copied from another stream's open");
        assert!(metadata.is_empty());

        metadata.insert(KEEPALIVE_METADATA_KEY.to_owned(), "STR_a".to_owned());
        announce(&mut metadata, StreamKeepalive::disabled(), "STR_a");
        assert!(!take_announcement(&mut metadata, "STR_a"));
    }
}
