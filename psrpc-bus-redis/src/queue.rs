//! Exactly-once delivery of queue frames across processes: Go psrpc's
//! queue lock, with ownership a member can check.
//!
//! A member (a bus) hands a queue frame to a local subscriber, or publishes
//! the claim of a claimed request, only while it holds the frame's lock:
//! `SET <base64(sha256(frame))> <value> EX 5 NX`, the key Go psrpc uses
//! (Go members only test whether the key exists, so they and this bus
//! contend for the same frames). The value names the member, the attempt
//! and the ask, `<member id>:<attempt number>.<0 for the first ask, 1 for
//! repeats>`, so a member can tell its own lock from another's: an ask is
//! `SET … NX GET` (before Redis 7.0, `SET … NX` then `GET`, one round
//! trip; for a claim, one script with the claim's `PUBLISH`), and the
//! member holds the lock if the ask set it or finds one of its own values.
//!
//! Asking again is therefore safe: a repeat cannot take a lock another
//! member holds, and it finds the member's own lock if an earlier ask took
//! it. So a member whose reply is late or lost (the response timeout
//! passed, the connection broke after the command was sent, or redis-rs
//! repeated the command by itself on a cluster and the repeat found the
//! first run's key) asks again (`settle`) instead of giving the frame up,
//! and handles the frame if and only if an answer shows its value. An
//! attempt number of its own per frame keeps a frame published twice within
//! 5 s a duplicate, dropped as Go drops it.
//!
//! Decision: the first ask gets the whole response timeout, as Go's one
//! `SET … NX` does. Repeats (which may take the lock) go out, and must be
//! answered, within [`SETTLE_WITHIN`](crate::settle::SETTLE_WITHIN) (2.5 s,
//! half the lock's lifetime) of the first ask; after that, until
//! [`CHECK_WITHIN`](crate::settle::CHECK_WITHIN) (4.5 s), asks only read
//! the lock (`GET`) and count only the first ask's value. A member thus
//! holds a lock either by its first ask (exactly like a Go member) or by a
//! repeat that took effect less than 2.5 s after its first ask, which finds
//! another member's lock still in place if that lock was taken less than
//! 2.5 s before the first ask: members that take up a frame within 2.5 s of
//! one another handle it exactly once. A member that gets no answer within
//! 4.5 s leaves the frame (with a warning); if its `SET` ran, no member
//! handles that frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::endpoint::Endpoint;
use crate::settle::{Ask, Failure, refused, settle, within};
use crate::writer::Publisher;

/// How long the queue lock of a frame lasts, in seconds (as in Go psrpc).
const LOCK_SECONDS: u64 = 5;

/// The lock key of a frame: standard padded base64 of its SHA-256 (44 characters).
pub(crate) fn lock_key(frame: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(frame))
}

/// One member's attempt at the lock of one frame.
struct Attempt {
    key: String,
    /// `<member id>:<attempt number>`: the value its asks set, followed by
    /// `.0` for the first ask and `.1` for repeats.
    name: String,
}

impl Attempt {
    /// The value `ask` sets.
    fn value(&self, ask: Ask) -> String {
        let n = if ask == Ask::First { 0 } else { 1 };
        format!("{}.{n}", self.name)
    }

    /// For [`Ask::First`] and [`Ask::Again`], `SET key value EX 5 NX GET`
    /// (Redis 7.0 and later): the value the lock held before, none if this
    /// ask took it. For [`Ask::Check`], `GET key`: the value it holds.
    fn ask(&self, ask: Ask) -> redis::Cmd {
        if ask == Ask::Check {
            return self.get();
        }
        let mut cmd = self.set_if_free(ask);
        cmd.arg("GET");
        cmd
    }

    /// For Redis before 7.0, which refuses `NX` with `GET`: `SET key value
    /// EX 5 NX` (not for [`Ask::Check`]), then `GET key`, the value the
    /// lock holds.
    fn ask_in_two(&self, ask: Ask) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        if ask != Ask::Check {
            pipe.add_command(self.set_if_free(ask)).ignore();
        }
        pipe.add_command(self.get());
        pipe
    }

    fn set_if_free(&self, ask: Ask) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(&self.key).arg(self.value(ask)).arg("EX").arg(LOCK_SECONDS).arg("NX");
        cmd
    }

    fn get(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("GET");
        cmd.arg(&self.key);
        cmd
    }

    /// Whether `holder`, the lock's value after `ask`, makes the lock this
    /// attempt's: the value of any of its asks, or for [`Ask::Check`] that
    /// of the first (a repeat may have taken effect later than its window
    /// allows, see the module docs).
    fn holds(&self, ask: Ask, holder: Option<&[u8]>) -> bool {
        let Some(holder) = holder else { return false };
        holder == self.value(Ask::First).as_bytes()
            || (ask != Ask::Check && holder == self.value(Ask::Again).as_bytes())
    }

    /// Whether the lock is this attempt's after `ask` (a `SET … NX GET`, or
    /// for [`Ask::Check`] a `GET`) replied `reply`.
    fn held_after(&self, ask: Ask, reply: Option<&[u8]>) -> bool {
        match ask {
            Ask::Check => self.holds(ask, reply),
            Ask::First | Ask::Again => reply.is_none() || self.holds(ask, reply),
        }
    }
}

/// Takes the queue lock of a frame and, if it was free, publishes the
/// claim: KEYS[1] is the lock key, ARGV the value to set, the lock's
/// lifetime, the channel, the claim and the value of the attempt's first
/// ask. Returns 1 if the lock holds either value (taken now, claim published; or by an
/// earlier run of the same attempt, which published it), else 0.
const LOCK_THEN_PUBLISH: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return 1
end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or holder == ARGV[5] then
  return 1
end
return 0
";

/// The queue locks of one bus: for frames of `subscribe_queue`
/// subscriptions, and for the claims of claimed requests.
///
/// Claims go as `EVAL` with the script's text, never `EVALSHA`: Redis
/// cannot answer `NOSCRIPT` (after a restart or `SCRIPT FLUSH`), so a claim
/// is never sent again for that reason. Redis keeps the compiled script, so
/// each call costs only the script's ~200 bytes and their hash.
///
/// On a Redis Cluster the script runs on the node of the lock's slot (its
/// one key): the classic `PUBLISH` inside it names no key, and that node
/// forwards the frame to every other node, so the script stays legal and
/// keeps its single round trip. With sharded pub/sub the claim's
/// `SPUBLISH` channel is a key of another slot, which a script may not
/// touch: the lock (on the lock's node) and the `SPUBLISH` (on the
/// channel's node) go separately, two round trips.
pub(crate) struct QueueLocks {
    /// Where lock commands go (the publisher connection).
    endpoint: Arc<Endpoint>,
    /// This bus's name in lock values: 12 random alphanumerics.
    member: String,
    /// Attempts so far, numbering the next one.
    attempts: AtomicU64,
    /// Set once Redis refused the script (or with sharded pub/sub): lock
    /// and publish go separately.
    scripts_refused: AtomicBool,
    /// Set once Redis refused `SET … NX GET` (before 7.0): the lock is
    /// asked for with `SET … NX` and `GET`.
    in_two: AtomicBool,
    /// How long one ask may take.
    timeout: Duration,
}

impl QueueLocks {
    /// The queue locks of a bus whose publisher connection is `endpoint`'s;
    /// each ask may take `timeout`.
    pub(crate) fn new(endpoint: Arc<Endpoint>, timeout: Duration) -> Self {
        let scripts_refused = AtomicBool::new(endpoint.sharded());
        let member = psrpc_protocol::id::new_id("");
        let (attempts, in_two) = (AtomicU64::new(0), AtomicBool::new(false));
        QueueLocks { endpoint, member, attempts, scripts_refused, in_two, timeout }
    }

    fn attempt(&self, frame: &[u8]) -> Attempt {
        let number = self.attempts.fetch_add(1, Ordering::Relaxed);
        Attempt { key: lock_key(frame), name: format!("{}:{number}", self.member) }
    }

    /// Whether this bus takes `frame`, a frame of a `subscribe_queue`
    /// subscription: true if it holds the frame's lock. A frame whose lock
    /// Redis did not answer for within
    /// [`CHECK_WITHIN`](crate::settle::CHECK_WITHIN) is left (logged).
    pub(crate) async fn take(&self, frame: &[u8]) -> bool {
        match self.hold(&self.attempt(frame)).await {
            Ok(held) => held,
            Err(failure) => {
                tracing::warn!(failure = ?failure, "psrpc redis: queue lock unanswered; frame left");
                false
            }
        }
    }

    /// Whether `attempt` holds its lock, asking until Redis answers.
    async fn hold(&self, attempt: &Attempt) -> Result<bool, Failure> {
        if !self.in_two.load(Ordering::Relaxed) {
            let held = settle(self.timeout, |ask| {
                let (mut conn, cmd) = (self.endpoint.publisher(), attempt.ask(ask));
                async move {
                    let reply: Option<Vec<u8>> = cmd.query_async(&mut conn).await?;
                    Ok(attempt.held_after(ask, reply.as_deref()))
                }
            })
            .await;
            match held {
                Err(Failure::Redis(e)) if refused(&e) => {
                    tracing::warn!(error = %e, "psrpc redis: SET … NX GET refused; asking with SET … NX, then GET");
                    self.in_two.store(true, Ordering::Relaxed);
                }
                held => return held,
            }
        }
        settle(self.timeout, |ask| {
            let (mut conn, pipe) = (self.endpoint.publisher(), attempt.ask_in_two(ask));
            async move {
                let (holder,): (Option<Vec<u8>>,) = pipe.query_async(&mut conn).await?;
                Ok(attempt.holds(ask, holder.as_deref()))
            }
        })
        .await
    }

    /// Publishes `frame` on `channel` through `publisher` if this bus takes
    /// the lock of `queued`; true if it did. One command (the script), in
    /// order with the other publishes; where scripts are refused or pub/sub
    /// is sharded, the lock (one round trip), then the publish, which goes
    /// out after whatever was queued meanwhile. Asks for the lock until
    /// Redis answers (see the module docs); the publish of the separate
    /// path is sent once.
    pub(crate) async fn publish_claim(
        &self,
        publisher: &Publisher,
        queued: &[u8],
        channel: &str,
        frame: &[u8],
    ) -> Result<bool, Failure> {
        let attempt = self.attempt(queued);
        if !self.scripts_refused.load(Ordering::Relaxed) {
            let attempt = &attempt;
            let scripted = settle(self.timeout, |ask| {
                let command = match ask {
                    Ask::Check => attempt.ask(ask),
                    Ask::First | Ask::Again => {
                        let mut script = redis::cmd("EVAL");
                        script.arg(LOCK_THEN_PUBLISH).arg(1).arg(&attempt.key).arg(attempt.value(ask));
                        script.arg(LOCK_SECONDS).arg(channel).arg(frame).arg(attempt.value(Ask::First));
                        script
                    }
                };
                async move {
                    let reply = publisher.query(command).await?;
                    Ok(match ask {
                        Ask::Check => {
                            attempt.held_after(ask, redis::from_redis_value::<Option<Vec<u8>>>(reply)?.as_deref())
                        }
                        Ask::First | Ask::Again => redis::from_redis_value::<i64>(reply)? == 1,
                    })
                }
            })
            .await;
            match scripted {
                Ok(held) => return Ok(held),
                Err(Failure::Redis(e)) if refused(&e) => {
                    tracing::warn!(error = %e, "psrpc redis: lock script refused; locking and publishing separately");
                    self.scripts_refused.store(true, Ordering::Relaxed);
                }
                Err(failure) => return Err(failure),
            }
        }
        if !self.hold(&attempt).await? {
            return Ok(false);
        }
        within(self.timeout, publisher.publish(channel, frame)).await.map(|()| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_44_char_padded_base64_of_sha256() {
        // SHA-256 of the empty input is a published constant.
        assert_eq!(lock_key(b""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert_eq!(lock_key(b"frame").len(), 44);
        assert_ne!(lock_key(b"frame"), lock_key(b"frame2"));
    }

    fn attempt() -> Attempt {
        Attempt { key: "k".into(), name: "abc:7".into() }
    }

    #[test]
    fn an_attempt_holds_the_lock_only_with_its_own_values() {
        let attempt = attempt();
        for ask in [Ask::First, Ask::Again] {
            assert!(attempt.held_after(ask, None), "the ask took a free lock");
            assert!(attempt.held_after(ask, Some(b"abc:7.0")), "the first ask took it");
            assert!(attempt.held_after(ask, Some(b"abc:7.1")), "a repeat took it");
            assert!(!attempt.held_after(ask, Some(b"abc:8.0")), "another attempt of the same member");
            assert!(!attempt.held_after(ask, Some(b"8674665223082153551")), "a Go member's lock");
        }
        assert!(attempt.held_after(Ask::Check, Some(b"abc:7.0")));
        assert!(!attempt.held_after(Ask::Check, Some(b"abc:7.1")), "a repeat may have come too late");
        assert!(!attempt.held_after(Ask::Check, None), "no lock");
    }

    fn args(cmd: &redis::Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                _ => "<cursor>".into(),
            })
            .collect()
    }

    #[test]
    fn asks_set_only_a_free_lock_for_5_s_and_checks_only_read() {
        let attempt = attempt();
        assert_eq!(args(&attempt.ask(Ask::First)), ["SET", "k", "abc:7.0", "EX", "5", "NX", "GET"]);
        assert_eq!(args(&attempt.ask(Ask::Again)), ["SET", "k", "abc:7.1", "EX", "5", "NX", "GET"]);
        assert_eq!(args(&attempt.ask(Ask::Check)), ["GET", "k"]);
        let in_two = |ask| attempt.ask_in_two(ask).cmd_iter().map(args).collect::<Vec<_>>();
        assert_eq!(in_two(Ask::Again), [vec!["SET", "k", "abc:7.1", "EX", "5", "NX"], vec!["GET", "k"]]);
        assert_eq!(in_two(Ask::Check), [vec!["GET", "k"]]);
    }
}
