//! Exactly-once delivery of queue frames across processes: Go psrpc's
//! queue lock, with ownership a member can check.
//!
//! A member (a bus) hands a queue frame to a local subscriber, or publishes
//! the claim of a claimed request, only while it holds the frame's lock:
//! `SET <base64(sha256(frame))> <value> EX 5 NX`, the key Go psrpc uses
//! (Go members only test whether the key exists, so they and this bus
//! contend for the same frames). The value names the member and the
//! attempt, `<member id>:<attempt number>`, so a member can tell its own
//! lock from another's: it asks with `SET … NX GET` (before Redis 7.0,
//! `SET … NX` then `GET`, one round trip; for a claim, one script with the
//! claim's `PUBLISH`) and holds the lock if the ask set it or finds its own
//! value (redis-rs repeated the command by itself on a cluster, and the
//! repeat found the first run's key).
//!
//! When the reply is late or lost (the response timeout passed, the
//! connection broke after the command was sent), the member does not give
//! the frame up: it reads the lock (`GET`, see `settle`) until Redis
//! answers or 4.5 s have passed, and holds the frame if the lock holds its
//! value. On a live connection the read is answered after the `SET` ran,
//! so however slowly Redis answers, exactly one member handles the frame.
//! An attempt number of its own per frame keeps a frame published twice
//! within 5 s a duplicate, dropped as Go drops it.
//!
//! Decision: at most once across a lost connection. If the publisher
//! connection was lost between the frame's arrival and the lock's first
//! ask, Redis may have restarted empty or failed over to a replica that
//! never saw a lock another member took before: the member then only reads
//! the lock, and never takes one. It handles the frame only if its own
//! lock is there; if no member's ask took effect, nobody handles the frame
//! (as in Go, which drops a frame on any error). A frame whose lock was
//! taken on a master that then failed before replicating it can still be
//! taken again on the new master by a member that asks only then; Redis's
//! asynchronous replication gives no stronger promise.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use psrpc_protocol::namespace::{Namespace, redis_name};
use sha2::{Digest as _, Sha256};

use crate::endpoint::Endpoint;
use crate::link::Link;
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
    /// `<member id>:<attempt number>`: the value its ask sets.
    value: String,
    /// How often the publisher connection had been lost when the frame
    /// arrived ([`Link::losses`]).
    seen: u64,
}

impl Attempt {
    /// For [`Ask::First`], `SET key value EX 5 NX GET` (Redis 7.0 and
    /// later): the value the lock held before, none if this ask took it.
    /// For [`Ask::Check`], `GET key`: the value it holds.
    fn ask(&self, ask: Ask) -> redis::Cmd {
        if ask == Ask::Check {
            return self.get();
        }
        let mut cmd = self.set_if_free();
        cmd.arg("GET");
        cmd
    }

    /// For Redis before 7.0, which refuses `NX` with `GET`: `SET key value
    /// EX 5 NX` (not for [`Ask::Check`]), then `GET key`, the value the
    /// lock holds.
    fn ask_in_two(&self, ask: Ask) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        if ask != Ask::Check {
            pipe.add_command(self.set_if_free()).ignore();
        }
        pipe.add_command(self.get());
        pipe
    }

    fn set_if_free(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(&self.key).arg(&self.value).arg("EX").arg(LOCK_SECONDS).arg("NX");
        cmd
    }

    fn get(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("GET");
        cmd.arg(&self.key);
        cmd
    }

    /// Whether `holder`, the lock's value, is this attempt's.
    fn holds(&self, holder: Option<&[u8]>) -> bool {
        holder == Some(self.value.as_bytes())
    }

    /// Whether the lock is this attempt's after `ask` (a `SET … NX GET`, or
    /// for [`Ask::Check`] a `GET`) replied `reply`.
    fn held_after(&self, ask: Ask, reply: Option<&[u8]>) -> bool {
        match ask {
            Ask::Check => self.holds(reply),
            Ask::First => reply.is_none() || self.holds(reply),
        }
    }
}

/// Takes the queue lock of a frame and, if it was free, publishes the
/// claim: KEYS[1] is the lock key, ARGV the value to set, the lock's
/// lifetime, the channel and the claim. Returns 1 if the lock holds the
/// value (taken now, claim published; or by an earlier run of the same
/// attempt that redis-rs repeated, which published it), else 0.
const LOCK_THEN_PUBLISH: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
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
    /// The publisher connection's state: its losses tell when Redis may
    /// have changed under the bus.
    publisher: Arc<Link>,
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
    /// The prefix of lock keys (`<ns>|`), if the bus has a namespace.
    namespace: Option<Namespace>,
}

impl QueueLocks {
    /// The queue locks of a bus whose publisher connection is `endpoint`'s,
    /// in the state `publisher`; each ask may take `timeout`. Lock keys
    /// are in `namespace` (`<ns>|` + the key).
    pub(crate) fn new(
        endpoint: Arc<Endpoint>,
        publisher: Arc<Link>,
        timeout: Duration,
        namespace: Option<Namespace>,
    ) -> Self {
        let scripts_refused = AtomicBool::new(endpoint.sharded());
        let member = psrpc_protocol::id::new_id("");
        let (attempts, in_two) = (AtomicU64::new(0), AtomicBool::new(false));
        QueueLocks { endpoint, publisher, member, attempts, scripts_refused, in_two, timeout, namespace }
    }

    fn attempt(&self, frame: &[u8], seen: u64) -> Attempt {
        let number = self.attempts.fetch_add(1, Ordering::Relaxed);
        let key = redis_name(self.namespace.as_ref(), &lock_key(frame)).into_owned();
        Attempt { key, value: format!("{}:{number}", self.member), seen }
    }

    /// What `ask` of `attempt` may be: a [`Ask::Check`] only once the
    /// publisher connection was lost since the attempt's frame arrived (see
    /// the module docs).
    fn allowed(&self, attempt: &Attempt, ask: Ask) -> Ask {
        match self.publisher.losses() == attempt.seen {
            true => ask,
            false => Ask::Check,
        }
    }

    /// Whether this bus takes `frame`, a frame of a `subscribe_queue`
    /// subscription that arrived when the publisher connection had been
    /// lost `seen` times ([`Link::losses`]): true if it holds the frame's
    /// lock. A frame whose lock Redis did not answer for within
    /// [`CHECK_WITHIN`](crate::settle::CHECK_WITHIN) is left (logged).
    pub(crate) async fn take(&self, frame: &[u8], seen: u64) -> bool {
        match self.hold(&self.attempt(frame, seen)).await {
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
                let ask = self.allowed(attempt, ask);
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
            let ask = self.allowed(attempt, ask);
            let (mut conn, pipe) = (self.endpoint.publisher(), attempt.ask_in_two(ask));
            async move {
                let (holder,): (Option<Vec<u8>>,) = pipe.query_async(&mut conn).await?;
                Ok(attempt.holds(holder.as_deref()))
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
        let attempt = self.attempt(queued, self.publisher.losses());
        if !self.scripts_refused.load(Ordering::Relaxed) {
            let attempt = &attempt;
            let scripted = settle(self.timeout, |ask| {
                let ask = self.allowed(attempt, ask);
                let command = match ask {
                    Ask::Check => attempt.ask(ask),
                    Ask::First => {
                        let mut script = redis::cmd("EVAL");
                        script.arg(LOCK_THEN_PUBLISH).arg(1).arg(&attempt.key).arg(&attempt.value);
                        script.arg(LOCK_SECONDS).arg(channel).arg(frame);
                        script
                    }
                };
                async move {
                    let reply = publisher.query(command).await?;
                    Ok(match ask {
                        Ask::Check => {
                            attempt.held_after(ask, redis::from_redis_value::<Option<Vec<u8>>>(reply)?.as_deref())
                        }
                        Ask::First => redis::from_redis_value::<i64>(reply)? == 1,
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
        Attempt { key: "k".into(), value: "abc:7".into(), seen: 0 }
    }

    #[test]
    fn an_attempt_holds_the_lock_only_with_its_own_value() {
        let attempt = attempt();
        assert!(attempt.held_after(Ask::First, None), "the ask took a free lock");
        assert!(attempt.held_after(Ask::First, Some(b"abc:7")), "a run redis-rs repeated took it");
        for ask in [Ask::First, Ask::Check] {
            assert!(!attempt.held_after(ask, Some(b"abc:8")), "another attempt of the same member");
            assert!(!attempt.held_after(ask, Some(b"8674665223082153551")), "a Go member's lock");
        }
        assert!(attempt.held_after(Ask::Check, Some(b"abc:7")));
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

    /// The queue locks of a bus on `url`, and its publisher connection's state.
    async fn locks_on(url: &str) -> (QueueLocks, Arc<Link>) {
        let info = redis::Client::open(url).expect("url").get_connection_info().clone();
        let timeout = Duration::from_secs(10);
        let (endpoint, _, _) =
            Endpoint::connect(crate::endpoint::Target::Direct(info), timeout).await.expect("connect");
        let publisher = Link::new("publisher");
        (QueueLocks::new(Arc::new(endpoint), Arc::clone(&publisher), timeout, None), publisher)
    }

    /// The value of `key`, read by a connection of the test's own.
    async fn value_of(url: &str, key: &str) -> Option<String> {
        let mut admin = redis::Client::open(url).expect("url").get_multiplexed_async_connection().await.expect("conn");
        redis::cmd("GET").arg(key).query_async(&mut admin).await.expect("GET")
    }

    /// A frame that arrived before the publisher connection was lost may
    /// meet a Redis that never saw the lock another member took (restarted
    /// empty, or failed over): its lock is only read, never taken.
    #[tokio::test]
    async fn a_frame_that_came_before_a_loss_never_takes_a_lock() {
        let Some(redis) = psrpc_test_support::broker::skip_or_fail(psrpc_test_support::redis::RedisServer::start())
        else {
            return;
        };
        let (locks, publisher) = locks_on(redis.url()).await;
        let unique = psrpc_protocol::id::new_id("frame-");
        let (before, after) = (format!("{unique}-before"), format!("{unique}-after"));
        let seen = publisher.losses();
        publisher.lost(Box::new(|| None));
        assert!(!locks.take(before.as_bytes(), seen).await, "taken after a loss");
        assert_eq!(value_of(redis.url(), &lock_key(before.as_bytes())).await, None, "a lock was set");
        // A frame that arrived after the loss takes its free lock.
        assert!(locks.take(after.as_bytes(), publisher.losses()).await);
        let value = value_of(redis.url(), &lock_key(after.as_bytes())).await.expect("locked");
        assert!(value.starts_with(&format!("{}:", locks.member)), "{value}");
    }

    #[test]
    fn asks_set_only_a_free_lock_for_5_s_and_checks_only_read() {
        let attempt = attempt();
        assert_eq!(args(&attempt.ask(Ask::First)), ["SET", "k", "abc:7", "EX", "5", "NX", "GET"]);
        assert_eq!(args(&attempt.ask(Ask::Check)), ["GET", "k"]);
        let in_two = |ask| attempt.ask_in_two(ask).cmd_iter().map(args).collect::<Vec<_>>();
        assert_eq!(in_two(Ask::First), [vec!["SET", "k", "abc:7", "EX", "5", "NX"], vec!["GET", "k"]]);
        assert_eq!(in_two(Ask::Check), [vec!["GET", "k"]]);
    }
}
