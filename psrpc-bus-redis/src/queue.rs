//! Exactly-once delivery of queue frames across processes (Go psrpc's rule).

use base64::Engine as _;
use redis::aio::ConnectionManager;
use sha2::{Digest as _, Sha256};

/// How long a claim on a queue frame lasts, in seconds.
const CLAIM_SECONDS: u64 = 5;

/// The claim key of a frame: standard padded base64 of its SHA-256 (44 characters).
pub(crate) fn claim_key(frame: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(frame))
}

/// Claims `frame` for this process: `SET key 1 EX 5 NX`. True if this
/// process won; any error counts as lost (another process may deliver it).
pub(crate) async fn claim(conn: &mut ConnectionManager, frame: &[u8]) -> bool {
    let result: redis::RedisResult<Option<String>> =
        redis::cmd("SET").arg(claim_key(frame)).arg(1).arg("EX").arg(CLAIM_SECONDS).arg("NX").query_async(conn).await;
    match result {
        Ok(won) => won.is_some(),
        Err(e) => {
            tracing::warn!(error = %e, "psrpc redis: queue claim failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_keys_are_44_char_padded_base64_of_sha256() {
        // SHA-256 of the empty input is a published constant.
        assert_eq!(claim_key(b""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert_eq!(claim_key(b"frame").len(), 44);
        assert_ne!(claim_key(b"frame"), claim_key(b"frame2"));
    }
}
