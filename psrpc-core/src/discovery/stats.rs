//! Per-method statistics of a server, gathered by an internal observer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::wire::MethodStats;
use crate::error::{Error, ErrorCode};
use crate::info::RpcInfo;
use crate::observe::{ClaimOutcome, Observer, Role, SharedObserver};

/// Latency buckets: four per octave of microseconds, from 1 µs up to about
/// 2^32 µs (71 minutes); longer times land in the last bucket.
const BUCKETS: usize = 128;

/// The bucket of `elapsed`.
fn bucket(elapsed: Duration) -> usize {
    let micros = elapsed.as_micros().max(1) as f64;
    ((micros.log2() * 4.0).floor() as usize).min(BUCKETS - 1)
}

/// The upper bound of `bucket`, in microseconds.
fn bucket_bound(bucket: usize) -> u64 {
    2f64.powf((bucket + 1) as f64 / 4.0).ceil() as u64
}

#[derive(Debug)]
struct Counters {
    requests: u64,
    errors: u64,
    latency: [u64; BUCKETS],
}

impl Default for Counters {
    fn default() -> Self {
        Counters { requests: 0, errors: 0, latency: [0; BUCKETS] }
    }
}

impl Counters {
    /// The upper bound of the bucket holding quantile `q` (0 with no samples).
    fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.latency.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return bucket_bound(i);
            }
        }
        bucket_bound(BUCKETS - 1)
    }
}

/// Counts requests, errors and handling times per method; forwards every
/// report to the user's observer, if any.
#[derive(Default)]
pub(crate) struct StatsObserver {
    methods: Mutex<HashMap<String, Counters>>,
    user: Option<SharedObserver>,
}

impl std::fmt::Debug for StatsObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsObserver").field("methods", &self.methods.lock().len()).finish()
    }
}

impl StatsObserver {
    /// Statistics that pass every report on to `user`.
    pub(crate) fn new(user: Option<SharedObserver>) -> Arc<Self> {
        Arc::new(StatsObserver { methods: Mutex::default(), user })
    }

    fn record(&self, info: &RpcInfo, elapsed: Option<Duration>, failed: bool) {
        let mut methods = self.methods.lock();
        // Looked up before inserting: no allocation per request.
        let counters = match methods.get_mut(&*info.method) {
            Some(counters) => counters,
            None => methods.entry(info.method.to_string()).or_default(),
        };
        counters.requests += 1;
        counters.errors += u64::from(failed);
        if let Some(elapsed) = elapsed {
            counters.latency[bucket(elapsed)] += 1;
        }
    }

    /// The statistics of every method that handled something, with the
    /// in-flight count `in_flight` gives for a method name.
    pub(crate) fn snapshot(&self, in_flight: impl Fn(&str) -> u64) -> Vec<MethodStats> {
        let methods = self.methods.lock();
        let mut stats: Vec<MethodStats> = methods
            .iter()
            .map(|(method, c)| MethodStats {
                method: method.clone(),
                requests: c.requests,
                errors: c.errors,
                in_flight: in_flight(method),
                p50_micros: c.quantile(0.5),
                p99_micros: c.quantile(0.99),
            })
            .collect();
        stats.sort_by(|a, b| a.method.cmp(&b.method));
        stats
    }
}

/// Whether a stream's closing cause is a failure: an orderly close
/// (`canceled` "stream closed") or the peer's end is not.
fn stream_failed(cause: &Error) -> bool {
    *cause != Error::stream_closed() && cause.code() != ErrorCode::Canceled
}

impl Observer for StatsObserver {
    fn on_unary(
        &self,
        role: Role,
        info: &RpcInfo,
        elapsed: Duration,
        outcome: Result<(), &Error>,
        req: usize,
        resp: usize,
    ) {
        if role == Role::Server {
            self.record(info, Some(elapsed), outcome.is_err());
        }
        if let Some(user) = &self.user {
            user.on_unary(role, info, elapsed, outcome, req, resp);
        }
    }

    fn on_multi(
        &self,
        role: Role,
        info: &RpcInfo,
        elapsed: Duration,
        ok: usize,
        errors: usize,
        req: usize,
        resp: usize,
    ) {
        if role == Role::Server {
            self.record(info, Some(elapsed), errors > 0);
        }
        if let Some(user) = &self.user {
            user.on_multi(role, info, elapsed, ok, errors, req, resp);
        }
    }

    fn on_stream_open(&self, role: Role, info: &RpcInfo) {
        if let Some(user) = &self.user {
            user.on_stream_open(role, info);
        }
    }

    fn on_stream_close(&self, role: Role, info: &RpcInfo, cause: &Error) {
        if role == Role::Server {
            self.record(info, None, stream_failed(cause));
        }
        if let Some(user) = &self.user {
            user.on_stream_close(role, info, cause);
        }
    }

    fn on_stream_send(&self, role: Role, info: &RpcInfo, elapsed: Duration, outcome: Result<(), &Error>, bytes: usize) {
        if let Some(user) = &self.user {
            user.on_stream_send(role, info, elapsed, outcome, bytes);
        }
    }

    fn on_stream_recv(&self, role: Role, info: &RpcInfo, bytes: usize) {
        if let Some(user) = &self.user {
            user.on_stream_recv(role, info, bytes);
        }
    }

    fn on_request_received(&self, info: &RpcInfo) {
        if let Some(user) = &self.user {
            user.on_request_received(info);
        }
    }

    fn on_request_expired(&self, info: &RpcInfo) {
        if let Some(user) = &self.user {
            user.on_request_expired(info);
        }
    }

    fn on_claim(&self, info: &RpcInfo, outcome: ClaimOutcome, wait: Duration) {
        if let Some(user) = &self.user {
            user.on_claim(info, outcome, wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::{MethodInfo, MethodKind, Selection};

    static M: MethodInfo = MethodInfo::new("M", MethodKind::Unary(Selection::Queue { topics: false }));

    #[test]
    fn quantiles_come_from_the_latency_buckets() {
        let stats = StatsObserver::new(None);
        let info = RpcInfo::new("Svc".into(), &M, vec![]);
        for i in 1..=100u64 {
            let elapsed = Duration::from_millis(if i == 100 { 500 } else { 10 });
            let outcome = if i % 10 == 0 { Err(&Error::unimplemented()) } else { Ok(()) };
            stats.on_unary(Role::Server, &info, elapsed, outcome, 0, 0);
        }
        stats.on_unary(Role::Client, &info, Duration::from_secs(9), Ok(()), 0, 0);
        let snapshot = stats.snapshot(|m| if m == "M" { 3 } else { 0 });
        assert_eq!(snapshot.len(), 1);
        let m = &snapshot[0];
        assert_eq!((m.requests, m.errors, m.in_flight), (100, 10, 3), "client reports are not counted");
        assert!((10_000..=12_000).contains(&m.p50_micros), "p50 {}", m.p50_micros);
        assert!((10_000..=12_000).contains(&m.p99_micros), "p99 {}", m.p99_micros);
        stats.on_unary(Role::Server, &info, Duration::from_millis(500), Ok(()), 0, 0);
        let m = &stats.snapshot(|_| 0)[0];
        assert!((500_000..=600_000).contains(&m.p99_micros), "p99 {}", m.p99_micros);
    }

    #[test]
    fn orderly_stream_ends_are_not_errors() {
        assert!(!stream_failed(&Error::stream_closed()));
        assert!(stream_failed(&Error::stream_eof()));
        assert!(stream_failed(&Error::new(ErrorCode::Internal, "boom")));
    }
}
