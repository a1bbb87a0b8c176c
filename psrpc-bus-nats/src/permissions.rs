//! What the NATS server refused on the bus's connection, and which publish
//! subjects it is known to accept.
//!
//! NATS answers a `PUB` or `SUB` its user may not make with an asynchronous
//! `-ERR 'Permissions Violation for Publish to "S"'` (or `… for
//! Subscription to "S"`, with ` using queue "Q"` for a queue group): there
//! is no reply to the command itself, the frame or subscription is dropped,
//! and the connection stays up. async-nats hands the error to the
//! connection's event callback; [`Permissions::watch`] installs one that
//! records each violation here, logs it as a warning naming the subject,
//! and counts it.
//!
//! **Verifying** a command: take a [`mark`](Permissions::mark), send the
//! command, make the server answer something sent after it (a readiness
//! probe round trip, see the `probe` module), then [`check`](Permissions::check)
//! for a violation of the command reported since the mark.
//!
//! Decision (the race between two tasks): async-nats reads the `-ERR`
//! before the probe's token and queues it for its event task first, but
//! nothing orders that task (which runs the callback) with the probe's
//! receiver. So a verification concludes that a command was accepted only
//! after a *second* round trip: it waits for the server's answer over the
//! network, time in which the runtime runs the event task, woken before
//! anything that round trip wakes. A violation that still comes later is
//! not lost: it is logged and counted, and a publish subject it names is no
//! longer remembered as accepted, so the next publish there is verified
//! again and fails. The same holds when async-nats drops an event (its
//! event queue holds 128).
//!
//! **Accepted publish subjects** are remembered (at most
//! [`ACCEPTED_CAPACITY`], forgotten all at once when full), so only the
//! first publish to a subject waits for a verification: the hot path costs
//! one lookup under a read lock. Publishes to a subject made while its
//! verification is in flight wait for that one and share its verdict
//! (10,000 calls starting at once make one verification, not 10,000).

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use psrpc_protocol::bus::BusError;
use tokio::sync::futures::Notified;
use tokio::sync::{Notify, OnceCell};

/// How many publish subjects are remembered as accepted.
const ACCEPTED_CAPACITY: usize = 4096;

/// How many recent violations are kept for verifications in flight.
const RECENT: usize = 256;

/// A command the server may refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Publish,
    Subscribe,
}

impl Operation {
    fn verb(self) -> &'static str {
        match self {
            Operation::Publish => "publish to",
            Operation::Subscribe => "subscribe to",
        }
    }
}

/// What a verification found: `Some` with what the server said when it
/// refused the command.
pub(crate) type Verdict = Option<String>;

/// The violations counted before a command was sent.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Mark(u64);

#[derive(Debug)]
struct Violation {
    /// Its number on the connection, from 1.
    number: u64,
    operation: Operation,
    subject: String,
    /// What the server said.
    report: String,
}

/// The violations the server reported on one connection, and the publish
/// subjects it accepted.
#[derive(Debug, Default)]
pub(crate) struct Permissions {
    recent: Mutex<VecDeque<Violation>>,
    count: AtomicU64,
    reported: Notify,
    accepted: RwLock<HashSet<Arc<str>>>,
    /// The verifications of publish subjects in flight.
    verifying: Mutex<HashMap<Arc<str>, Arc<OnceCell<Verdict>>>>,
}

impl Permissions {
    /// `options` with an event callback that records the connection's
    /// permission violations here (replacing the options' own callback).
    pub(crate) fn watch(self: &Arc<Self>, options: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
        let permissions = Arc::clone(self);
        options.event_callback(move |event| {
            // Recorded here, on the event task, in the order the server reported.
            if let async_nats::Event::ServerError(async_nats::ServerError::Other(report)) = &event {
                permissions.record(report);
            }
            async {}
        })
    }

    fn record(&self, report: &str) {
        let Some((operation, subject)) = parse(report) else { return };
        tracing::warn!(%subject, "psrpc nats: the server refused to {} subject {subject}: {report}", operation.verb());
        if operation == Operation::Publish {
            self.accepted.write().remove(subject);
        }
        {
            let mut recent = self.recent.lock();
            let number = self.count.load(Ordering::Acquire) + 1;
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(Violation { number, operation, subject: subject.to_owned(), report: report.to_owned() });
            self.count.store(number, Ordering::Release);
        }
        self.reported.notify_waiters();
    }

    /// Where the violations of commands sent from now on begin.
    pub(crate) fn mark(&self) -> Mark {
        Mark(self.count.load(Ordering::Acquire))
    }

    /// How many violations the server reported on the connection.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// What the server said, naming `subject`, if it reported since `mark`
    /// that it refused `operation` on `subject`.
    pub(crate) fn refusal(&self, mark: Mark, operation: Operation, subject: &str) -> Option<String> {
        let recent = self.recent.lock();
        let mut since = recent.iter().rev().take_while(|v| v.number > mark.0);
        let violation = since.find(|v| v.operation == operation && v.subject == subject)?;
        Some(format!("NATS refused to {} subject {subject}: {}", operation.verb(), violation.report))
    }

    /// Resolves at the next violation reported after this call.
    pub(crate) fn reported(&self) -> Notified<'_> {
        self.reported.notified()
    }

    /// Whether a publish to `subject` was verified (and not refused since).
    pub(crate) fn accepted(&self, subject: &str) -> bool {
        self.accepted.read().contains(subject)
    }

    /// Verifies a publish to `subject` with `verify`, or shares the
    /// verdict of the verification of `subject` in flight (should that one
    /// fail or be dropped, the next waiting publish verifies with its own).
    /// Fails with [`BusErrorKind::PermissionDenied`](psrpc_protocol::bus::BusErrorKind::PermissionDenied)
    /// when the server refused the subject, or with `verify`'s error.
    pub(crate) async fn verify_publish(
        &self,
        subject: &Arc<str>,
        verify: impl Future<Output = Result<Verdict, BusError>>,
    ) -> Result<(), BusError> {
        let shared = Arc::clone(self.verifying.lock().entry(Arc::clone(subject)).or_default());
        let verdict = shared.get_or_try_init(|| verify).await.cloned();
        {
            // Later publishes start afresh (those waiting keep `shared`).
            let mut verifying = self.verifying.lock();
            if verifying.get(subject).is_some_and(|v| Arc::ptr_eq(v, &shared)) {
                verifying.remove(subject);
            }
        }
        match verdict? {
            None => {
                self.accept(Arc::clone(subject));
                Ok(())
            }
            Some(why) => Err(BusError::permission_denied(why)),
        }
    }

    /// Remembers that the server accepted a publish to `subject`.
    fn accept(&self, subject: Arc<str>) {
        let mut accepted = self.accepted.write();
        if accepted.len() >= ACCEPTED_CAPACITY {
            accepted.clear();
        }
        accepted.insert(subject);
    }
}

/// The operation and subject of a permissions violation the server
/// reported (`Permissions Violation for Publish to "S"`, `… for
/// Subscription to "S" using queue "Q"`); `None` for any other error.
fn parse(report: &str) -> Option<(Operation, &str)> {
    let rest = report.strip_prefix("Permissions Violation for ")?;
    let (operation, rest) = match rest.strip_prefix("Publish to \"") {
        Some(rest) => (Operation::Publish, rest),
        None => (Operation::Subscribe, rest.strip_prefix("Subscription to \"")?),
    };
    let (subject, _) = rest.split_once('"')?;
    Some((operation, subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_parsed_as_the_server_words_them() {
        assert_eq!(
            parse("Permissions Violation for Publish to \"a.SRV.Svc\""),
            Some((Operation::Publish, "a.SRV.Svc"))
        );
        assert_eq!(
            parse("Permissions Violation for Subscription to \"a.SRV.Svc.Q\" using queue \"a.bus\""),
            Some((Operation::Subscribe, "a.SRV.Svc.Q"))
        );
        assert_eq!(parse("Permissions Violation for Publish with Reply of \"x\""), None);
        assert_eq!(parse("Maximum Payload Violation"), None);
        assert_eq!(parse("Permissions Violation for Publish to \"unterminated"), None);
    }

    #[test]
    fn a_check_sees_only_violations_of_its_command_since_its_mark() {
        let permissions = Permissions::default();
        permissions.record("Permissions Violation for Publish to \"old\"");
        let mark = permissions.mark();
        assert_eq!(permissions.refusal(mark, Operation::Publish, "old"), None, "reported before the mark");
        permissions.record("Permissions Violation for Subscription to \"s\"");
        assert_eq!(permissions.refusal(mark, Operation::Publish, "s"), None, "another operation");
        let why = permissions.refusal(mark, Operation::Subscribe, "s").expect("refused");
        assert!(why.starts_with("NATS refused to subscribe to subject s: Permissions Violation"), "{why}");
        assert_eq!(permissions.count(), 2);
    }

    #[test]
    fn a_refused_publish_subject_is_no_longer_accepted() {
        let permissions = Permissions::default();
        permissions.accept("p".into());
        assert!(permissions.accepted("p"));
        permissions.record("Permissions Violation for Publish to \"p\"");
        assert!(!permissions.accepted("p"));
    }

    #[tokio::test]
    async fn concurrent_verifications_of_a_subject_share_one_verdict() {
        let permissions = Permissions::default();
        let subject: Arc<str> = "s".into();
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let (go, gate) = tokio::sync::watch::channel(false);
        let verify = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            let _ = gate.clone().wait_for(|open| *open).await;
            Ok(Some("refused".to_owned()))
        };
        let both = futures_util::future::join(
            permissions.verify_publish(&subject, verify()),
            permissions.verify_publish(&subject, verify()),
        );
        let opened = async { go.send(true).expect("gate") };
        let ((first, second), ()) = futures_util::future::join(both, opened).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one verification");
        for outcome in [first, second] {
            assert_eq!(outcome.expect_err("refused").kind(), psrpc_protocol::bus::BusErrorKind::PermissionDenied);
        }
        assert!(permissions.verifying.lock().is_empty());
        permissions.verify_publish(&subject, async { Ok(None) }).await.expect("accepted");
        assert!(permissions.accepted("s"));
    }

    #[test]
    fn accepted_subjects_stay_bounded() {
        let permissions = Permissions::default();
        for n in 0..=ACCEPTED_CAPACITY {
            permissions.accept(n.to_string().into());
        }
        assert!(permissions.accepted(&ACCEPTED_CAPACITY.to_string()));
        assert_eq!(permissions.accepted.read().len(), 1);
    }

    #[test]
    fn recent_violations_stay_bounded() {
        let permissions = Permissions::default();
        for n in 0..RECENT + 10 {
            permissions.record(&format!("Permissions Violation for Publish to \"s{n}\""));
        }
        assert_eq!(permissions.recent.lock().len(), RECENT);
        assert_eq!(permissions.count(), (RECENT + 10) as u64);
    }
}
