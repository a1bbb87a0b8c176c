//! Exactly-once delivery of queue frames across processes (Go psrpc's rule).

use base64::Engine as _;
use redis::aio::ConnectionLike;
use sha2::{Digest as _, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::writer::Publisher;

/// How long a claim on a queue frame lasts, in seconds.
const CLAIM_SECONDS: u64 = 5;

/// The claim key of a frame: standard padded base64 of its SHA-256 (44 characters).
pub(crate) fn claim_key(frame: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(frame))
}

/// `SET key 1 EX 5 NX` for the claim key of `frame`.
fn lock_command(frame: &[u8]) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(claim_key(frame)).arg(1).arg("EX").arg(CLAIM_SECONDS).arg("NX");
    cmd
}

/// Claims `frame` for this process: `SET key 1 EX 5 NX`. True if this
/// process won; any error counts as lost (another process may deliver it).
pub(crate) async fn claim(conn: &mut impl ConnectionLike, frame: &[u8]) -> bool {
    let result: redis::RedisResult<Option<String>> = lock_command(frame).query_async(conn).await;
    match result {
        Ok(won) => won.is_some(),
        Err(e) => {
            tracing::warn!(error = %e, "psrpc redis: queue claim failed");
            false
        }
    }
}

/// Takes the queue lock of a frame and publishes in one step: KEYS[1] is
/// the claim key, ARGV the lock lifetime, the channel and the frame.
const LOCK_THEN_PUBLISH: &str = r"
if redis.call('SET', KEYS[1], '1', 'EX', ARGV[1], 'NX') then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
";

/// Whether Redis refuses scripts for good (ACL, scripting disabled or
/// unknown), as opposed to failing this once.
fn refused(e: &redis::RedisError) -> bool {
    use redis::ServerErrorKind::{NoPerm, ResponseError};
    matches!(e.kind(), redis::ErrorKind::Server(NoPerm | ResponseError))
}

/// Publishes server claims for queued request frames under the queue lock.
///
/// The script goes as `EVAL` with its text, never `EVALSHA`: Redis cannot
/// answer `NOSCRIPT` (after a restart or `SCRIPT FLUSH`), so a claim never
/// needs a second attempt that would go out after publishes queued behind
/// it (see [`Publisher`]). Redis keeps the compiled script, so each call
/// costs only the script's ~150 bytes and their hash.
///
/// On a Redis Cluster the script runs on the node of the lock's slot (its
/// one key): the classic `PUBLISH` inside it names no key, and that node
/// forwards the frame to every other node, so the script stays legal and
/// keeps its single round trip. With sharded pub/sub the claim's
/// `SPUBLISH` channel is a key of another slot, which a script may not
/// touch: the lock (`SET … NX` on the lock's node) and the `SPUBLISH` (on
/// the channel's node) go separately, two round trips.
pub(crate) struct QueueClaims {
    /// Set once Redis refused the script (or with sharded pub/sub): lock
    /// and publish go separately.
    scripts_refused: AtomicBool,
}

impl QueueClaims {
    /// Claims published by script, or (if `sharded`) lock then publish.
    pub(crate) fn new(sharded: bool) -> Self {
        QueueClaims { scripts_refused: AtomicBool::new(sharded) }
    }

    /// Publishes `frame` on `channel` through `publisher` if this process
    /// wins the queue lock of `queued`; true if it did. One command (the
    /// script), in order with the other publishes; where scripts are
    /// refused or pub/sub is sharded, two round trips (lock, then publish),
    /// and the publish goes out after whatever was queued meanwhile.
    pub(crate) async fn publish_claim(
        &self,
        publisher: &Publisher,
        queued: &[u8],
        channel: &str,
        frame: &[u8],
    ) -> redis::RedisResult<bool> {
        if !self.scripts_refused.load(Ordering::Relaxed) {
            let mut script = redis::cmd("EVAL");
            script.arg(LOCK_THEN_PUBLISH).arg(1).arg(claim_key(queued)).arg(CLAIM_SECONDS).arg(channel).arg(frame);
            match publisher.query(script).await.and_then(|won| Ok(redis::from_redis_value::<i64>(won)?)) {
                Ok(won) => return Ok(won == 1),
                Err(e) if refused(&e) => {
                    tracing::warn!(error = %e, "psrpc redis: lock script refused; locking and publishing separately");
                    self.scripts_refused.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        if matches!(publisher.query(lock_command(queued)).await?, redis::Value::Nil) {
            return Ok(false);
        }
        publisher.publish(channel, frame).await?;
        Ok(true)
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
