//! The invariants, computed from what the workers reported and what the
//! orchestrator did: pure functions of a [`RunLog`], so each is tested on
//! hand-made events.
//!
//! | invariant | how it is measured |
//! |---|---|
//! | calls past their deadline by more than 500 ms: 0 | each client times each call (a stream exchange: each operation) with the monotonic clock against the call timeout; calls overlapping a pause of their own client are excused (a stopped process cannot end a call) |
//! | queue requests handled more than once: 0 | servers report every request of a queue kind (single, affinity, topic, single-server) they handle, by id; ids reported twice across all servers |
//! | acknowledged stream messages lost: 0 | a message whose `send` returned `Ok` (client report) that no server handler received; excused when the stream's server (any server, if none reported the stream) was killed or paused between the stream's opening and 1 s after its last acknowledged message |
//! | subscription messages lost outside fault windows: 0 | a published message (server report, after `publish` returned `Ok`) whose publish started outside every fault window, more than the recovery allowance before clients were stopped: broadcast, every client subscribed before the publish and alive until the allowance after it must receive it; queue, one of them must |
//! | queue subscription messages received more than once: 0 | a queue subscription message reported by two receipts |
//! | handlers in flight 2× the keepalive expiry after every client stopped: 0 | each server's first in-flight report at or after that time |
//! | RSS of the long-lived server and client grows by at most 10 % | each reports its `VmRSS` when asked (`SIGUSR1`), after the warm-up and at the end of the load, once glibc has returned its free pages (`malloc_trim`); heap in use reported beside it (see `worker::memory`) |
//! | every fault recovered | after each fault's end, every kind (6 call kinds, 2 subscriptions) succeeds again on every client alive then (clients killed before they recovered are left out); the time until the last of them is the fault's recovery time |
//!
//! A **fault window** runs from 1 s before a fault starts (a message
//! published just before may still be in flight when it strikes) to the
//! recovery allowance after it ended.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::events::{CallKind, Event, Record, SubKind};
use crate::schedule::Fault;
use crate::worker::memory::Memory;

/// How far past its deadline a call may end.
pub(crate) const DEADLINE_SLACK_MS: u64 = 500;

/// How long before a fault its window opens.
pub(crate) const WINDOW_LEAD_MS: u64 = 1000;

/// How long after an acknowledged stream message its server's kill or
/// pause still excuses the message.
pub(crate) const STREAM_EXCUSE_MS: u64 = 1000;

/// How much the long-lived processes' RSS may grow.
pub(crate) const RSS_GROWTH_LIMIT_PCT: f64 = 10.0;

/// A fault as it happened.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FaultRecord {
    /// The fault.
    pub(crate) fault: Fault,
    /// When it started (ms since the epoch).
    pub(crate) start_ms: u64,
    /// When it was over: the broker or process back, the process resumed.
    pub(crate) end_ms: u64,
    /// The worker it killed or paused, if any.
    pub(crate) worker: Option<String>,
    /// What exactly happened (node, connections cut, …).
    pub(crate) detail: String,
}

impl FaultRecord {
    /// Whether this fault killed or paused `worker` at some time in `from..=to`.
    fn struck(&self, worker: &str, from: u64, to: u64) -> bool {
        self.worker.as_deref() == Some(worker) && self.start_ms <= to && self.end_ms >= from
    }
}

/// Which role a worker plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    /// A server.
    Server,
    /// A client.
    Client,
}

/// One worker process's life.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Lifetime {
    /// Its id.
    pub(crate) worker: String,
    /// Its role.
    pub(crate) role: Role,
    /// When it ended (killed or exited), if it did before the load ended.
    pub(crate) ended_ms: Option<u64>,
}

/// The memory of a long-lived process after the warm-up and at the end of
/// the load (see `worker::memory`): its RSS, judged, and its heap in use,
/// reported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Rss {
    /// The worker.
    pub(crate) worker: String,
    /// RSS after the warm-up, in kB.
    pub(crate) start_kb: u64,
    /// RSS at the end of the load, in kB.
    pub(crate) end_kb: u64,
    /// The RSS growth, in percent of the start.
    pub(crate) growth_pct: f64,
    /// Heap in use after the warm-up, in kB.
    pub(crate) heap_start_kb: u64,
    /// Heap in use at the end of the load, in kB.
    pub(crate) heap_end_kb: u64,
}

impl Rss {
    /// The pair, with its growth.
    pub(crate) fn new(worker: String, start: Memory, end: Memory) -> Rss {
        let growth_pct = (end.rss_kb as f64 - start.rss_kb as f64) * 100.0 / (start.rss_kb.max(1) as f64);
        Rss {
            worker,
            start_kb: start.rss_kb,
            end_kb: end.rss_kb,
            growth_pct,
            heap_start_kb: start.heap_kb,
            heap_end_kb: end.heap_kb,
        }
    }
}

/// Everything a run left to judge.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunLog {
    /// Every worker event.
    pub(crate) records: Vec<Record>,
    /// Every fault, in order.
    pub(crate) faults: Vec<FaultRecord>,
    /// Every worker process.
    pub(crate) workers: Vec<Lifetime>,
    /// When every client was stopped.
    pub(crate) clients_stopped_ms: u64,
    /// When servers must have no handler in flight (2× the keepalive expiry after that).
    pub(crate) in_flight_due_ms: u64,
    /// The recovery allowance, in ms.
    pub(crate) recovery_allowance_ms: u64,
    /// RSS of the long-lived processes.
    pub(crate) rss: Vec<Rss>,
}

/// The figures of one kind of call.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct CallFigures {
    /// Calls that ended.
    pub(crate) attempted: u64,
    /// Calls that succeeded.
    pub(crate) succeeded: u64,
    /// Failed calls by error code.
    pub(crate) failed: BTreeMap<String, u64>,
    /// Calls that ended more than 500 ms past their deadline.
    pub(crate) past_deadline: u64,
    /// Such calls excused by a pause of their own client.
    pub(crate) past_deadline_excused: u64,
    /// The longest a call took, in ms.
    pub(crate) slowest_ms: u64,
}

/// Stream message figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct StreamFigures {
    /// Messages whose `send` returned `Ok`.
    pub(crate) acknowledged: u64,
    /// Of those, received by a server handler.
    pub(crate) received: u64,
    /// Acknowledged, never received, not excused.
    pub(crate) lost: u64,
    /// Acknowledged, never received, excused (their server was killed or paused).
    pub(crate) lost_excused: u64,
    /// Some lost messages (`stream#seq`).
    pub(crate) examples: Vec<String>,
}

/// Figures of one subscription.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct SubFigures {
    /// Messages published (`publish` returned `Ok`).
    pub(crate) published: u64,
    /// Of those, published outside fault windows (checked).
    pub(crate) checked: u64,
    /// Deliveries due for checked messages (broadcast: one per eligible client; queue: one).
    pub(crate) due: u64,
    /// Deliveries due and missing.
    pub(crate) lost: u64,
    /// Receipts of any message.
    pub(crate) received: u64,
    /// Queue messages received by more than one client.
    pub(crate) duplicated: u64,
    /// Some lost messages (`id -> client`).
    pub(crate) examples: Vec<String>,
}

/// The recovery of one fault.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Recovery {
    /// The fault.
    pub(crate) fault: String,
    /// From its end until every kind worked on every client, if it did.
    pub(crate) recovered_ms: Option<u64>,
    /// What had not worked again, if it did not recover.
    pub(crate) missing: Vec<String>,
}

/// Recovery figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct RecoveryFigures {
    /// Each fault's.
    pub(crate) faults: Vec<Recovery>,
    /// The median recovery time.
    pub(crate) p50_ms: Option<u64>,
    /// The longest.
    pub(crate) max_ms: Option<u64>,
    /// Faults after which some kind never worked again on some client.
    pub(crate) unrecovered: u64,
}

/// Every figure of one run, and what broke.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Figures {
    /// Per call kind.
    pub(crate) calls: BTreeMap<CallKind, CallFigures>,
    /// Calls past their deadline by more than 500 ms, all kinds, not excused.
    pub(crate) past_deadline: u64,
    /// Queue requests handled more than once.
    pub(crate) handled_twice: u64,
    /// Some of them.
    pub(crate) handled_twice_examples: Vec<String>,
    /// Stream messages.
    pub(crate) streams: StreamFigures,
    /// Per subscription.
    pub(crate) subscriptions: BTreeMap<SubKind, SubFigures>,
    /// Handlers in flight 2× the keepalive expiry after every client stopped.
    pub(crate) in_flight_after_stop: u64,
    /// Servers that did not report their in-flight count then.
    pub(crate) in_flight_unreported: Vec<String>,
    /// RSS of the long-lived processes.
    pub(crate) rss: Vec<Rss>,
    /// Recovery after each fault.
    pub(crate) recovery: RecoveryFigures,
    /// Every broken invariant, in words.
    pub(crate) violations: Vec<String>,
}

/// How many examples a figure keeps.
const EXAMPLES: usize = 10;

/// Computes every figure of `log` and lists the broken invariants.
pub(crate) fn evaluate(log: &RunLog) -> Figures {
    let (calls, past_deadline) = calls(log);
    let (handled_twice, handled_twice_examples) = handled_twice(&log.records);
    let streams = streams(log);
    let subscriptions = subscriptions(log);
    let (in_flight_after_stop, in_flight_unreported) = in_flight(log);
    let recovery = recovery(log);
    let mut violations = Vec::new();
    let mut check = |broken: bool, what: String| {
        if broken {
            violations.push(what);
        }
    };
    check(
        past_deadline > 0,
        format!("{past_deadline} calls ended more than {DEADLINE_SLACK_MS} ms past their deadline"),
    );
    check(
        handled_twice > 0,
        format!("{handled_twice} queue requests handled more than once: {handled_twice_examples:?}"),
    );
    check(streams.lost > 0, format!("{} acknowledged stream messages lost: {:?}", streams.lost, streams.examples));
    for (kind, sub) in &subscriptions {
        check(
            sub.lost > 0,
            format!("{} {kind:?} subscription deliveries lost outside fault windows: {:?}", sub.lost, sub.examples),
        );
        check(sub.duplicated > 0, format!("{} {kind:?} subscription messages received more than once", sub.duplicated));
    }
    check(
        in_flight_after_stop > 0,
        format!("{in_flight_after_stop} handlers still in flight after every client stopped"),
    );
    check(
        !in_flight_unreported.is_empty(),
        format!("servers {in_flight_unreported:?} did not report their in-flight count"),
    );
    for rss in &log.rss {
        check(
            rss.growth_pct > RSS_GROWTH_LIMIT_PCT,
            format!("RSS of {} grew {:.1} % ({} -> {} kB)", rss.worker, rss.growth_pct, rss.start_kb, rss.end_kb),
        );
    }
    for fault in recovery.faults.iter().filter(|f| f.recovered_ms.is_none()) {
        check(true, format!("no recovery after `{}`: {:?}", fault.fault, fault.missing));
    }
    Figures {
        calls,
        past_deadline,
        handled_twice,
        handled_twice_examples,
        streams,
        subscriptions,
        in_flight_after_stop,
        in_flight_unreported,
        rss: log.rss.clone(),
        recovery,
        violations,
    }
}

/// Call figures per kind, and the calls past their deadline (not excused).
fn calls(log: &RunLog) -> (BTreeMap<CallKind, CallFigures>, u64) {
    let mut figures: BTreeMap<CallKind, CallFigures> =
        CallKind::ALL.iter().map(|k| (*k, CallFigures::default())).collect();
    let mut late = 0;
    for record in &log.records {
        let Event::Call { kind, elapsed_ms, over_ms, code, .. } = &record.event else { continue };
        let f = figures.entry(*kind).or_default();
        f.attempted += 1;
        f.slowest_ms = f.slowest_ms.max(*elapsed_ms);
        match code {
            None => f.succeeded += 1,
            Some(code) => *f.failed.entry(code.clone()).or_default() += 1,
        }
        if *over_ms > DEADLINE_SLACK_MS {
            let started = record.t.saturating_sub(*elapsed_ms);
            let paused = log
                .faults
                .iter()
                .any(|f| matches!(f.fault, Fault::Pause { .. }) && f.struck(&record.worker, started, record.t));
            if paused {
                f.past_deadline_excused += 1;
            } else {
                f.past_deadline += 1;
                late += 1;
            }
        }
    }
    (figures, late)
}

/// Queue requests handled more than once, and some of their ids.
fn handled_twice(records: &[Record]) -> (u64, Vec<String>) {
    let mut seen = HashMap::<&str, u32>::new();
    for record in records {
        if let Event::Handled { kind, id } = &record.event
            && kind.handled_once()
        {
            *seen.entry(id).or_default() += 1;
        }
    }
    let mut twice: Vec<String> = seen.into_iter().filter(|(_, n)| *n > 1).map(|(id, n)| format!("{id} x{n}")).collect();
    twice.sort();
    let count = twice.len() as u64;
    twice.truncate(EXAMPLES);
    (count, twice)
}

/// Acknowledged stream messages and the lost ones.
fn streams(log: &RunLog) -> StreamFigures {
    let mut opened = HashMap::<&str, u64>::new();
    let mut last_acked = HashMap::<&str, u64>::new();
    let mut acked = Vec::<(&str, u32)>::new();
    let mut received = HashSet::<(&str, u32)>::new();
    let mut server_of = HashMap::<&str, &str>::new();
    for record in &log.records {
        match &record.event {
            Event::StreamOpened { stream } => {
                opened.insert(stream, record.t);
            }
            Event::StreamSent { stream, seq } => {
                acked.push((stream, *seq));
                last_acked.insert(stream, record.t);
            }
            Event::StreamAccepted { stream } => {
                server_of.insert(stream, &record.worker);
            }
            Event::StreamReceived { stream, seq } => {
                received.insert((stream, *seq));
            }
            _ => {}
        }
    }
    let mut figures = StreamFigures { acknowledged: acked.len() as u64, ..StreamFigures::default() };
    for (stream, seq) in acked {
        if received.contains(&(stream, seq)) {
            figures.received += 1;
            continue;
        }
        let to = last_acked.get(stream).copied().unwrap_or(0) + STREAM_EXCUSE_MS;
        let from = opened.get(stream).copied().unwrap_or(0);
        let excused = log.faults.iter().any(|f| {
            matches!(f.fault, Fault::KillServer { .. } | Fault::Pause { .. })
                && match server_of.get(stream) {
                    Some(server) => f.struck(server, from, to),
                    None => {
                        f.worker.as_deref().is_some_and(|w| is_server(log, w)) && f.start_ms <= to && f.end_ms >= from
                    }
                }
        });
        if excused {
            figures.lost_excused += 1;
        } else {
            figures.lost += 1;
            if figures.examples.len() < EXAMPLES {
                figures.examples.push(format!("{stream}#{seq}"));
            }
        }
    }
    figures
}

fn is_server(log: &RunLog, worker: &str) -> bool {
    log.workers.iter().any(|w| w.worker == worker && w.role == Role::Server)
}

/// Whether `t` falls in some fault's window.
fn in_fault_window(log: &RunLog, t: u64) -> bool {
    log.faults
        .iter()
        .any(|f| f.start_ms.saturating_sub(WINDOW_LEAD_MS) <= t && t <= f.end_ms + log.recovery_allowance_ms)
}

/// Subscription figures: published, checked, lost, duplicated.
fn subscriptions(log: &RunLog) -> BTreeMap<SubKind, SubFigures> {
    let mut figures: BTreeMap<SubKind, SubFigures> = SubKind::ALL.iter().map(|k| (*k, SubFigures::default())).collect();
    // Each client's first subscription of each kind.
    let mut subscribed = HashMap::<(&str, SubKind), u64>::new();
    let mut receipts = HashMap::<(SubKind, &str), Vec<&str>>::new();
    let mut published = Vec::<(SubKind, &str, u64)>::new();
    for record in &log.records {
        match &record.event {
            Event::Subscribed { kind } => {
                subscribed.entry((&record.worker, *kind)).or_insert(record.t);
            }
            Event::Received { kind, id } => receipts.entry((*kind, id)).or_default().push(&record.worker),
            Event::Published { kind, id, published_ms } => published.push((*kind, id, *published_ms)),
            _ => {}
        }
    }
    let allowance = log.recovery_allowance_ms;
    for ((kind, _), by) in &receipts {
        let f = figures.entry(*kind).or_default();
        f.received += by.len() as u64;
        if *kind == SubKind::Queue && by.len() > 1 {
            f.duplicated += 1;
        }
    }
    for (kind, id, at) in published {
        let f = figures.entry(kind).or_default();
        f.published += 1;
        if in_fault_window(log, at) || at + allowance >= log.clients_stopped_ms {
            continue;
        }
        f.checked += 1;
        let eligible: Vec<&str> = log
            .workers
            .iter()
            .filter(|w| w.role == Role::Client && w.ended_ms.is_none_or(|end| end > at + allowance))
            .filter(|w| subscribed.get(&(w.worker.as_str(), kind)).is_some_and(|t| *t < at))
            .map(|w| w.worker.as_str())
            .collect();
        let got = receipts.get(&(kind, id)).map(Vec::as_slice).unwrap_or_default();
        let missing: Vec<&str> = match kind {
            SubKind::Broadcast => eligible.iter().copied().filter(|c| !got.contains(c)).collect(),
            SubKind::Queue => eligible.first().copied().filter(|_| got.is_empty()).into_iter().collect(),
        };
        f.due += match kind {
            SubKind::Broadcast => eligible.len() as u64,
            SubKind::Queue => u64::from(!eligible.is_empty()),
        };
        f.lost += missing.len() as u64;
        for client in missing {
            if f.examples.len() < EXAMPLES {
                f.examples.push(format!("{id} -> {client}"));
            }
        }
    }
    figures
}

/// Handlers in flight when due, and the servers that did not say.
fn in_flight(log: &RunLog) -> (u64, Vec<String>) {
    let mut total = 0;
    let mut unreported = Vec::new();
    for server in log.workers.iter().filter(|w| w.role == Role::Server && w.ended_ms.is_none()) {
        let report = log.records.iter().find_map(|r| match r.event {
            Event::InFlight { n } if r.worker == server.worker && r.t >= log.in_flight_due_ms => Some(n),
            _ => None,
        });
        match report {
            Some(n) => total += n as u64,
            None => unreported.push(server.worker.clone()),
        }
    }
    (total, unreported)
}

/// What "works" means for recovery: a call kind succeeding or a
/// subscription receiving.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Works {
    Call(CallKind),
    Sub(SubKind),
}

impl Works {
    fn all() -> impl Iterator<Item = Works> {
        CallKind::ALL.into_iter().map(Works::Call).chain(SubKind::ALL.into_iter().map(Works::Sub))
    }
}

/// The recovery time of every fault.
fn recovery(log: &RunLog) -> RecoveryFigures {
    let mut successes = HashMap::<(&str, Works), Vec<u64>>::new();
    let mut ready = HashMap::<&str, u64>::new();
    for record in &log.records {
        let works = match &record.event {
            Event::Call { kind, code: None, .. } => Works::Call(*kind),
            Event::Received { kind, .. } => Works::Sub(*kind),
            Event::Ready => {
                ready.entry(&record.worker).or_insert(record.t);
                continue;
            }
            _ => continue,
        };
        successes.entry((&record.worker, works)).or_default().push(record.t);
    }
    let first_after = |client: &str, works: Works, t: u64| {
        successes.get(&(client, works)).and_then(|times| times.iter().copied().filter(|s| *s > t).min())
    };
    let mut figures = RecoveryFigures::default();
    for fault in &log.faults {
        let end = fault.end_ms;
        let mut recovered_at = end;
        let mut missing = Vec::new();
        let clients = log.workers.iter().filter(|w| {
            w.role == Role::Client
                && ready.get(w.worker.as_str()).is_some_and(|t| *t <= end)
                && w.ended_ms.is_none_or(|e| e > end)
        });
        for client in clients {
            let firsts: Vec<(Works, Option<u64>)> =
                Works::all().map(|w| (w, first_after(&client.worker, w, end))).collect();
            if firsts.iter().all(|(_, t)| t.is_some()) {
                recovered_at = firsts.iter().filter_map(|(_, t)| *t).fold(recovered_at, u64::max);
            } else if client.ended_ms.is_none() {
                missing.extend(
                    firsts.iter().filter(|(_, t)| t.is_none()).map(|(w, _)| format!("{}: {w:?}", client.worker)),
                );
            }
        }
        let recovered_ms = missing.is_empty().then(|| recovered_at - end);
        figures.unrecovered += u64::from(recovered_ms.is_none());
        figures.faults.push(Recovery { fault: fault.fault.to_string(), recovered_ms, missing });
    }
    let mut times: Vec<u64> = figures.faults.iter().filter_map(|f| f.recovered_ms).collect();
    times.sort_unstable();
    figures.p50_ms = times.get(times.len().saturating_sub(1) / 2).copied();
    figures.max_ms = times.last().copied();
    figures
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::schedule::Target;

    fn record(worker: &str, t: u64, event: Event) -> Record {
        Record { worker: worker.into(), t, event }
    }

    fn call(worker: &str, t: u64, kind: CallKind, elapsed_ms: u64, over_ms: u64, code: Option<&str>) -> Record {
        let (id, code) = (format!("{worker}-{t}"), code.map(Into::into));
        record(worker, t, Event::Call { kind, id, elapsed_ms, over_ms, code, message: None })
    }

    fn client(worker: &str, ended_ms: Option<u64>) -> Lifetime {
        Lifetime { worker: worker.into(), role: Role::Client, ended_ms }
    }

    fn server(worker: &str, ended_ms: Option<u64>) -> Lifetime {
        Lifetime { worker: worker.into(), role: Role::Server, ended_ms }
    }

    fn pause(worker: &str, start_ms: u64, end_ms: u64) -> FaultRecord {
        let stopped = Duration::from_millis(end_ms - start_ms);
        FaultRecord {
            fault: Fault::Pause { target: Target::Client(1), stopped },
            start_ms,
            end_ms,
            worker: Some(worker.into()),
            detail: String::new(),
        }
    }

    fn log(records: Vec<Record>) -> RunLog {
        RunLog {
            records,
            clients_stopped_ms: 100_000,
            in_flight_due_ms: 90_000,
            recovery_allowance_ms: 3000,
            ..RunLog::default()
        }
    }

    #[test]
    fn calls_are_counted_by_code_and_late_ones_unless_their_client_was_paused() {
        let mut log = log(vec![
            call("c1", 1000, CallKind::Single, 5, 0, None),
            call("c1", 2000, CallKind::Single, 2000, 0, Some("deadline_exceeded")),
            call("c1", 9000, CallKind::Single, 3000, 1000, Some("deadline_exceeded")),
            call("c2", 9000, CallKind::Stream, 3000, 501, None),
            call("c2", 20_000, CallKind::Stream, 2500, 500, None),
        ]);
        log.faults.push(pause("c1", 7000, 8000));
        let figures = evaluate(&log);
        let single = &figures.calls[&CallKind::Single];
        assert_eq!((single.attempted, single.succeeded, single.failed["deadline_exceeded"]), (3, 1, 2));
        assert_eq!((single.past_deadline, single.past_deadline_excused), (0, 1));
        assert_eq!(figures.calls[&CallKind::Stream].past_deadline, 1, "501 ms late is too late; 500 is not");
        assert_eq!(figures.past_deadline, 1);
        assert_eq!(figures.violations.len(), 1, "{:?}", figures.violations);
    }

    #[test]
    fn a_queue_request_handled_by_two_servers_is_a_duplicate_but_a_multi_request_is_not() {
        let handled = |worker: &str, kind, id: &str| record(worker, 1, Event::Handled { kind, id: id.into() });
        let figures = evaluate(&log(vec![
            handled("s0", CallKind::Single, "a"),
            handled("s1", CallKind::Single, "a"),
            handled("s0", CallKind::Topic, "b"),
            handled("s0", CallKind::Multi, "c"),
            handled("s1", CallKind::Multi, "c"),
        ]));
        assert_eq!(figures.handled_twice, 1);
        assert_eq!(figures.handled_twice_examples, ["a x2"]);
    }

    #[test]
    fn an_acknowledged_stream_message_is_lost_unless_its_server_was_killed_or_paused() {
        let ev = |worker: &str, t, event| record(worker, t, event);
        let mut log = log(vec![
            ev("c0", 1000, Event::StreamOpened { stream: "A".into() }),
            ev("s1", 1001, Event::StreamAccepted { stream: "A".into() }),
            ev("c0", 1002, Event::StreamSent { stream: "A".into(), seq: 0 }),
            ev("s1", 1002, Event::StreamReceived { stream: "A".into(), seq: 0 }),
            ev("c0", 1003, Event::StreamSent { stream: "A".into(), seq: 1 }),
            ev("c0", 5000, Event::StreamOpened { stream: "B".into() }),
            ev("s2", 5001, Event::StreamAccepted { stream: "B".into() }),
            ev("c0", 5002, Event::StreamSent { stream: "B".into(), seq: 0 }),
        ]);
        log.workers = vec![server("s1", None), server("s2", Some(5500))];
        log.faults.push(FaultRecord {
            fault: Fault::KillServer { slot: 2, down: Duration::from_secs(1) },
            start_ms: 5500,
            end_ms: 6500,
            worker: Some("s2".into()),
            detail: String::new(),
        });
        let streams = evaluate(&log).streams;
        assert_eq!((streams.acknowledged, streams.received, streams.lost, streams.lost_excused), (3, 1, 1, 1));
        assert_eq!(streams.examples, ["A#1"]);
    }

    #[test]
    fn subscription_messages_count_outside_fault_windows_for_clients_subscribed_and_alive() {
        let publish = |t, kind, id: &str| record("s0", t, Event::Published { kind, id: id.into(), published_ms: t });
        let got = |worker: &str, kind, id: &str| record(worker, 0, Event::Received { kind, id: id.into() });
        let mut log = log(vec![
            record("c1", 100, Event::Subscribed { kind: SubKind::Broadcast }),
            record("c2", 100, Event::Subscribed { kind: SubKind::Broadcast }),
            record("c1", 100, Event::Subscribed { kind: SubKind::Queue }),
            record("c2", 100, Event::Subscribed { kind: SubKind::Queue }),
            publish(1000, SubKind::Broadcast, "b1"),
            got("c1", SubKind::Broadcast, "b1"),
            publish(1000, SubKind::Queue, "q1"),
            got("c2", SubKind::Queue, "q1"),
            publish(1100, SubKind::Queue, "q2"),
            publish(1200, SubKind::Queue, "q3"),
            got("c1", SubKind::Queue, "q3"),
            got("c2", SubKind::Queue, "q3"),
            // Inside a fault window (1 s before the fault to 3 s after it): not checked.
            publish(9500, SubKind::Broadcast, "b2"),
            publish(14_000, SubKind::Broadcast, "b3"),
            // Too close to the clients' stop: not checked.
            publish(98_000, SubKind::Broadcast, "b4"),
        ]);
        log.workers = vec![client("c1", None), client("c2", None)];
        log.faults.push(pause("c9", 10_000, 11_000));
        let figures = evaluate(&log);
        let broadcast = &figures.subscriptions[&SubKind::Broadcast];
        assert_eq!((broadcast.published, broadcast.checked, broadcast.due, broadcast.lost), (4, 1, 2, 1));
        assert_eq!(broadcast.examples, ["b1 -> c2"]);
        let queue = &figures.subscriptions[&SubKind::Queue];
        assert_eq!((queue.checked, queue.due, queue.lost, queue.duplicated, queue.received), (3, 3, 1, 1, 3));
        assert_eq!(queue.examples, ["q2 -> c1"]);
    }

    #[test]
    fn a_client_killed_before_the_publish_settled_is_not_expected_to_receive() {
        let mut log = log(vec![
            record("c1", 100, Event::Subscribed { kind: SubKind::Broadcast }),
            record("s0", 1000, Event::Published { kind: SubKind::Broadcast, id: "b".into(), published_ms: 1000 }),
        ]);
        log.workers = vec![client("c1", Some(2000))];
        assert_eq!(evaluate(&log).subscriptions[&SubKind::Broadcast].due, 0);
    }

    #[test]
    fn handlers_in_flight_are_read_from_the_first_report_when_due() {
        let in_flight = |worker: &str, t, n| record(worker, t, Event::InFlight { n });
        let mut log = log(vec![in_flight("s0", 89_000, 5), in_flight("s0", 90_100, 2), in_flight("s0", 90_600, 0)]);
        log.workers = vec![server("s0", None), server("s1", None), server("s2", Some(50_000))];
        let figures = evaluate(&log);
        assert_eq!(figures.in_flight_after_stop, 2);
        assert_eq!(figures.in_flight_unreported, ["s1"]);
        assert_eq!(figures.violations.len(), 2, "{:?}", figures.violations);
    }

    #[test]
    fn rss_may_grow_ten_percent() {
        let mut log = log(vec![]);
        let rss = |rss_kb| Memory { rss_kb, heap_kb: 300 };
        log.rss = vec![Rss::new("s0".into(), rss(1000), rss(1100)), Rss::new("c0".into(), rss(1000), rss(1101))];
        let figures = evaluate(&log);
        assert_eq!(figures.violations.len(), 1, "{:?}", figures.violations);
        assert!(figures.violations[0].contains("c0"));
    }

    #[test]
    fn recovery_is_the_last_first_success_of_every_kind_on_every_client() {
        let mut records =
            vec![record("c1", 10, Event::Ready), record("c2", 10, Event::Ready), record("c3", 10_500, Event::Ready)];
        for (i, kind) in CallKind::ALL.into_iter().enumerate() {
            records.push(call("c1", 10_100 + i as u64, kind, 1, 0, None));
            records.push(call("c2", 10_200 + i as u64 * 100, kind, 1, 0, None));
        }
        for kind in SubKind::ALL {
            records.push(record("c1", 10_050, Event::Received { kind, id: "x".into() }));
            records.push(record("c2", 10_050, Event::Received { kind, id: "y".into() }));
        }
        // Fails after the fault: not a success.
        records.push(call("c2", 10_001, CallKind::Single, 1, 0, Some("unavailable")));
        let mut log = log(records);
        // c3 started after the fault: not part of its recovery.
        log.workers = vec![client("c1", None), client("c2", None), client("c3", None)];
        log.faults.push(pause("c9", 9000, 10_000));
        log.faults.push(pause("c9", 20_000, 20_500));
        let recovery = evaluate(&log).recovery;
        assert_eq!(recovery.faults[0].recovered_ms, Some(700), "c2's stream, the last kind to work, at 10 700");
        assert_eq!(recovery.faults[1].recovered_ms, None);
        assert_eq!(recovery.faults[1].missing.len(), 24, "{:?}", recovery.faults[1].missing);
        assert_eq!((recovery.p50_ms, recovery.max_ms, recovery.unrecovered), (Some(700), Some(700), 1));
    }
}
