//! # psrpc-prometheus: Prometheus metrics for psrpc-rs
//!
//! [`PsrpcMetrics`] is an [`Observer`] that records every call a psrpc-rs
//! client or server makes into Prometheus histograms, counters and a gauge,
//! under the names, labels and buckets LiveKit's Go services export for Go
//! psrpc (`github.com/livekit/protocol/rpc`). [`PsrpcMetrics::encode`] writes
//! them byte for byte as a Go service's `/metrics` does (client_golang's
//! text format, as promhttp serves it to Prometheus): a Rust service and a
//! Go service of one fleet land in the same series, and the dashboards and
//! alerts written for one work for both.
//!
//! ```
//! use std::sync::Arc;
//! use psrpc_prometheus::PsrpcMetrics;
//!
//! // LiveKit's constant labels: the node's id and type.
//! let metrics = PsrpcMetrics::livekit().with_const_labels([("node_id", "ND_1"), ("node_type", "SERVER")]);
//! let client_options = psrpc::ClientOptions::default().observer(Arc::new(metrics.clone()));
//! let server_options = psrpc::ServerOptions::default().observer(Arc::new(metrics.clone()));
//!
//! // Serve this on `/metrics` with `psrpc_prometheus::CONTENT_TYPE`; series
//! // appear once a call recorded into them.
//! assert_eq!(metrics.encode(), "");
//! # let _ = (client_options, server_options);
//! ```
//!
//! ## Metrics
//!
//! `<prefix>` is `livekit_psrpc` with [`PsrpcMetrics::livekit`], or the
//! prefix given to [`PsrpcMetrics::with_prefix`].
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `<prefix>_request_time_ms` | histogram | role, kind, service, method | duration of successful unary and multi calls |
//! | `<prefix>_stream_send_time_ms` | histogram | role, service, method | duration of successful stream sends (until the peer's ack) |
//! | `<prefix>_stream_receive_total` | counter | role, service, method | stream messages received |
//! | `<prefix>_stream_count` | gauge | role, service, method | streams open now |
//! | `<prefix>_error_total` | counter | role, kind, service, method, error_code | failed calls and stream sends |
//! | `<prefix>_bytes_total` | counter | role, kind, service, method, direction | message bytes (`rx`, `tx`) |
//! | `<prefix>_requests_received_total` | counter | service, method | requests that reached a server (before any claim) |
//! | `<prefix>_requests_expired_total` | counter | service, method | requests dropped unhandled because they arrived expired |
//! | `<prefix>_claim_wait_time_ms` | histogram | service, method, outcome | time from a server's claim to the client's decision |
//!
//! Label values: `role` is `client` or `server`; `kind` is `rpc` (single and
//! affinity calls), `multirpc` or `stream`; `error_code` is the psrpc error
//! code (`deadline_exceeded`, `unavailable`, …); `direction` is `rx` or
//! `tx`; `outcome` is `granted`, `lost_to_peer`, `skipped` or `timed_out`.
//!
//! Durations are whole milliseconds (truncated), as LiveKit records them.
//! Buckets: `request_time_ms` and `stream_send_time_ms` use 10, 50, 100,
//! 300, 500, 1000, 1500, 2000, 5000 and 10000 ms; `claim_wait_time_ms` uses
//! 1, 5, 10, 25, 50, 100, 250, 500, 1000 and 3000 ms.
//!
//! Decisions that follow LiveKit's recording exactly, so mixed fleets add up:
//! - a successful call is timed in `request_time_ms`, a failed one counted in
//!   `error_total` only (not timed);
//! - a multi call with no successful response counts as one error with code
//!   `unknown`, otherwise it is timed;
//! - for unary calls `rx` counts the request and `tx` the response on both
//!   roles; for multi calls the client counts the responses as `rx` and the
//!   request as `tx`, the server the other way round.
//!
//! ## The exposition: Go's, byte for byte
//!
//! [`PsrpcMetrics::encode`] writes the Prometheus text format (0.0.4) the way
//! Go's client_golang writes it, checked against a Go program scraping Go's
//! registry (the interop tests, `interop/tests/go_metrics.rs`): families
//! sorted by name, each with an empty `# HELP` line (LiveKit gives none) and
//! its `# TYPE` line under the full name (`livekit_psrpc_error_total`);
//! labels sorted by name, constant labels among them, `le` last; series
//! sorted by their label values; numbers as Go formats a `float64`
//! (`le="10"`, `1.234567e+06`). Prometheus 2.x keys series by these label
//! values, so a bucket written `le="10.0"` would be another series than Go's
//! `le="10"`.
//!
//! An application with metrics of its own serves its text followed by
//! [`PsrpcMetrics::encode`]'s (both in the Prometheus text format), or puts
//! the psrpc metrics into its `prometheus-client` [`Registry`] with
//! [`PsrpcMetrics::register`]: written with
//! `prometheus_client::encoding::prometheus_text::encode`, that gives the
//! same series as Go (names, labels, `le` values), though prometheus-client
//! formats some numbers its own way (`_sum` as `10.0`) and writes the
//! registry's constant labels first; its OpenMetrics encoder
//! (`encoding::text`) writes `le="10.0"`, so a fleet mixed with Go services
//! on Prometheus 2.x should not be scraped in OpenMetrics.
//!
//! ## Feature flags
//! None.
//!
//! [`Observer`]: psrpc_core::observe::Observer

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use psrpc_core::error::{Error, ErrorCode};
use psrpc_core::info::RpcInfo;
use psrpc_core::observe::{ClaimOutcome, Observer, Role};

/// The prefix LiveKit's Go services use (`livekit` namespace, `psrpc`
/// subsystem).
///
/// ```
/// assert_eq!(psrpc_prometheus::PsrpcMetrics::livekit().prefix(), psrpc_prometheus::LIVEKIT_PREFIX);
/// ```
pub const LIVEKIT_PREFIX: &str = "livekit_psrpc";

/// Buckets of `request_time_ms` and `stream_send_time_ms`, in milliseconds.
///
/// ```
/// assert_eq!(psrpc_prometheus::REQUEST_TIME_BUCKETS.last(), Some(&10_000.0));
/// ```
pub const REQUEST_TIME_BUCKETS: [f64; 10] = [10., 50., 100., 300., 500., 1000., 1500., 2000., 5000., 10000.];

/// Buckets of `claim_wait_time_ms`, in milliseconds.
///
/// ```
/// assert_eq!(psrpc_prometheus::CLAIM_WAIT_BUCKETS[0], 1.0);
/// ```
pub const CLAIM_WAIT_BUCKETS: [f64; 10] = [1., 5., 10., 25., 50., 100., 250., 500., 1000., 3000.];

/// The `Content-Type` of [`PsrpcMetrics::encode`]'s text: the one Go's
/// promhttp answers a Prometheus scrape with.
///
/// ```
/// assert!(psrpc_prometheus::CONTENT_TYPE.starts_with("text/plain; version=0.0.4"));
/// ```
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores";

/// A counter; written once something was added to it (even 0).
#[derive(Debug, Default)]
struct Counter {
    present: AtomicBool,
    value: AtomicU64,
}

impl Counter {
    fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
        self.present.store(true, Ordering::Relaxed);
    }

    fn value(&self) -> Option<u64> {
        self.present.load(Ordering::Relaxed).then(|| self.value.load(Ordering::Relaxed))
    }
}

/// A gauge; written once it moved.
#[derive(Debug, Default)]
struct Gauge {
    present: AtomicBool,
    value: AtomicI64,
}

impl Gauge {
    fn add(&self, n: i64) {
        self.value.fetch_add(n, Ordering::Relaxed);
        self.present.store(true, Ordering::Relaxed);
    }

    fn value(&self) -> Option<i64> {
        self.present.load(Ordering::Relaxed).then(|| self.value.load(Ordering::Relaxed))
    }
}

/// A histogram of whole milliseconds; written once it observed something.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64; 10],
    /// Observations per bucket (not cumulative); the last is above every bound.
    counts: [AtomicU64; 11],
    /// Durations are whole milliseconds, so their sum is too.
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64; 10]) -> Self {
        Histogram { bounds, counts: Default::default(), sum: AtomicU64::new(0) }
    }

    fn observe(&self, millis: u64) {
        let bucket = self.bounds.iter().position(|&bound| millis as f64 <= bound).unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(millis, Ordering::Relaxed);
    }

    fn sample(&self) -> Option<Sample> {
        let counts: [u64; 11] = std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed));
        let sum = self.sum.load(Ordering::Relaxed);
        (counts.iter().sum::<u64>() > 0).then_some(Sample::Histogram { bounds: self.bounds, counts, sum })
    }
}

/// The series of one call kind of one method, for one role.
#[derive(Debug)]
struct CallSeries {
    time: Histogram,
    rx: Counter,
    tx: Counter,
    /// `error_total` by error code.
    errors: Mutex<Vec<(&'static str, u64)>>,
}

impl Default for CallSeries {
    fn default() -> Self {
        CallSeries {
            time: Histogram::new(&REQUEST_TIME_BUCKETS),
            rx: Counter::default(),
            tx: Counter::default(),
            errors: Mutex::default(),
        }
    }
}

impl CallSeries {
    fn error(&self, code: ErrorCode) {
        let code = code.as_str();
        let mut errors = self.errors.lock();
        match errors.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => errors.push((code, 1)),
        }
    }
}

/// The series of one method.
#[derive(Debug)]
struct MethodSeries {
    /// By role (client, server) and kind (rpc, multirpc, stream).
    calls: [[CallSeries; 3]; 2],
    /// By role: `stream_count`, `stream_send_time_ms`, `stream_receive_total`.
    stream_count: [Gauge; 2],
    stream_send_time: [Histogram; 2],
    stream_receive: [Counter; 2],
    received: Counter,
    expired: Counter,
    /// By outcome: granted, lost to peer, skipped, timed out.
    claim_wait: [Histogram; 4],
}

impl Default for MethodSeries {
    fn default() -> Self {
        MethodSeries {
            calls: Default::default(),
            stream_count: Default::default(),
            stream_send_time: std::array::from_fn(|_| Histogram::new(&REQUEST_TIME_BUCKETS)),
            stream_receive: Default::default(),
            received: Counter::default(),
            expired: Counter::default(),
            claim_wait: std::array::from_fn(|_| Histogram::new(&CLAIM_WAIT_BUCKETS)),
        }
    }
}

/// Series by service, then method.
type SeriesByMethod = HashMap<Arc<str>, HashMap<Cow<'static, str>, MethodSeries>>;

const ROLES: [&str; 2] = ["client", "server"];
const KINDS: [&str; 3] = ["rpc", "multirpc", "stream"];
/// In Go's exposition order (sorted label values).
const OUTCOMES: [&str; 4] = ["granted", "lost_to_peer", "skipped", "timed_out"];

fn role_index(role: Role) -> usize {
    match role {
        Role::Client => 0,
        _ => 1,
    }
}

/// One series' value, read for encoding.
#[derive(Debug)]
enum Sample {
    Counter(u64),
    Gauge(i64),
    Histogram { bounds: &'static [f64; 10], counts: [u64; 11], sum: u64 },
}

/// One series: its labels sorted by name (constant labels among them).
#[derive(Debug)]
struct Series {
    labels: Vec<(Cow<'static, str>, String)>,
    sample: Sample,
}

/// The families, in the order Go writes them (by name: every name shares
/// the prefix), each with its name after the prefix and its type.
const FAMILIES: [(&str, MetricType); 9] = [
    ("bytes_total", MetricType::Counter),
    ("claim_wait_time_ms", MetricType::Histogram),
    ("error_total", MetricType::Counter),
    ("request_time_ms", MetricType::Histogram),
    ("requests_expired_total", MetricType::Counter),
    ("requests_received_total", MetricType::Counter),
    ("stream_count", MetricType::Gauge),
    ("stream_receive_total", MetricType::Counter),
    ("stream_send_time_ms", MetricType::Histogram),
];

/// psrpc metrics in Prometheus form: an [`Observer`] to install on clients
/// and servers, whose series [`encode`](Self::encode) writes as Go's
/// client_golang does. Cheap to clone; clones record into the same series.
///
/// See the [crate docs](crate) for the metrics.
///
/// ```
/// use std::sync::Arc;
///
/// let metrics = psrpc_prometheus::PsrpcMetrics::livekit();
/// let client = psrpc::ClientOptions::default().observer(Arc::new(metrics.clone()));
/// let server = psrpc::ServerOptions::default().observer(Arc::new(metrics));
/// # let _ = (client, server);
/// ```
#[derive(Clone, Debug)]
pub struct PsrpcMetrics {
    prefix: String,
    /// Sorted by name.
    const_labels: Arc<[(Cow<'static, str>, String)]>,
    series: Arc<RwLock<SeriesByMethod>>,
}

impl PsrpcMetrics {
    /// The metrics under LiveKit's names (`livekit_psrpc_…`).
    ///
    /// ```
    /// let metrics = psrpc_prometheus::PsrpcMetrics::livekit();
    /// assert_eq!(metrics.prefix(), "livekit_psrpc");
    /// ```
    pub fn livekit() -> Self {
        Self::with_prefix(LIVEKIT_PREFIX)
    }

    /// The metrics under `<prefix>_…` (an empty prefix gives the bare names).
    ///
    /// ```
    /// use psrpc::observe::Observer as _;
    /// use psrpc::{MethodInfo, MethodKind, RpcInfo, Selection};
    ///
    /// let metrics = psrpc_prometheus::PsrpcMetrics::with_prefix("myapp_rpc");
    /// metrics.on_request_received(&RpcInfo::new("Rooms".into(), &MethodInfo::new("Get", MethodKind::Unary(Selection::Queue { topics: false })), vec![]));
    /// let text = metrics.encode();
    /// assert!(text.contains(r#"myapp_rpc_requests_received_total{method="Get",service="Rooms"} 1"#));
    /// ```
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        PsrpcMetrics { prefix: prefix.into(), const_labels: Arc::new([]), series: Arc::default() }
    }

    /// Adds constant labels to every series (LiveKit's `ConstLabels`: the
    /// node's `node_id` and `node_type`), written among the series' own
    /// labels in name order as Go writes them. Names must differ from the
    /// metrics' own labels. Set before cloning: clones made earlier keep
    /// their labels.
    ///
    /// ```
    /// use psrpc::observe::Observer as _;
    /// use psrpc::{MethodInfo, MethodKind, RpcInfo, Selection};
    ///
    /// let metrics = psrpc_prometheus::PsrpcMetrics::livekit().with_const_labels([("node_id", "ND_1")]);
    /// metrics.on_request_expired(&RpcInfo::new("Rooms".into(), &MethodInfo::new("Get", MethodKind::Unary(Selection::Queue { topics: false })), vec![]));
    /// assert!(metrics.encode().contains(r#"{method="Get",node_id="ND_1",service="Rooms"} 1"#));
    /// ```
    #[must_use]
    pub fn with_const_labels(
        mut self,
        labels: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    ) -> Self {
        let mut all: Vec<(Cow<'static, str>, String)> = self.const_labels.to_vec();
        all.extend(labels.into_iter().map(|(name, value)| (Cow::Owned(name.into()), value.into())));
        all.sort_by(|a, b| a.0.cmp(&b.0));
        self.const_labels = all.into();
        self
    }

    /// The name prefix.
    ///
    /// ```
    /// assert_eq!(psrpc_prometheus::PsrpcMetrics::with_prefix("app").prefix(), "app");
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Registers the metrics in a `prometheus-client` `registry`, under this
    /// prefix (appended to the registry's own prefix, if it has one), with
    /// this value's constant labels after the registry's own. See the
    /// [crate docs](crate#the-exposition-gos-byte-for-byte) for how that
    /// registry's encoders write them; [`encode`](Self::encode) writes them
    /// as Go does.
    ///
    /// ```
    /// use prometheus_client::registry::Registry;
    /// use psrpc::observe::Observer as _;
    /// use psrpc::{MethodInfo, MethodKind, RpcInfo, Selection};
    ///
    /// let metrics = psrpc_prometheus::PsrpcMetrics::livekit();
    /// let mut registry = Registry::default();
    /// metrics.register(&mut registry);
    /// metrics.on_request_received(&RpcInfo::new("Rooms".into(), &MethodInfo::new("Get", MethodKind::Unary(Selection::Queue { topics: false })), vec![]));
    /// let mut text = String::new();
    /// prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
    /// assert!(text.contains(r#"livekit_psrpc_requests_received_total{method="Get",service="Rooms"} 1"#));
    /// ```
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(self.clone()));
    }

    /// The series in client_golang's text format (Prometheus text 0.0.4),
    /// byte for byte what a Go service's `/metrics` holds for them: serve it
    /// with [`CONTENT_TYPE`], alone or after the application's own text.
    /// Empty until something was recorded.
    ///
    /// ```
    /// use std::time::Duration;
    /// use psrpc::observe::{Observer as _, Role};
    /// use psrpc::{MethodInfo, MethodKind, RpcInfo, Selection};
    ///
    /// let metrics = psrpc_prometheus::PsrpcMetrics::livekit();
    /// let info = RpcInfo::new("Rooms".into(), &MethodInfo::new("Get", MethodKind::Unary(Selection::Queue { topics: false })), vec![]);
    /// metrics.on_unary(Role::Client, &info, Duration::from_millis(12), Ok(()), 3, 1_500_000);
    /// let text = metrics.encode();
    /// assert!(text.starts_with("# HELP livekit_psrpc_bytes_total \n# TYPE livekit_psrpc_bytes_total counter\n"));
    /// assert!(text.contains(r#"livekit_psrpc_bytes_total{direction="tx",kind="rpc",method="Get",role="client",service="Rooms"} 1.5e+06"#));
    /// assert!(text.contains(r#"livekit_psrpc_request_time_ms_bucket{kind="rpc",method="Get",role="client",service="Rooms",le="50"} 1"#));
    /// ```
    pub fn encode(&self) -> String {
        let mut text = String::new();
        for (suffix, kind, series) in self.families() {
            let name = self.full_name(suffix);
            let kind = match kind {
                MetricType::Counter => "counter",
                MetricType::Gauge => "gauge",
                _ => "histogram",
            };
            let _ = write!(text, "# HELP {name} \n# TYPE {name} {kind}\n");
            for Series { labels, sample } in &series {
                match sample {
                    Sample::Counter(value) => {
                        write_sample(&mut text, &name, "", labels, None, &go_float(*value as f64))
                    }
                    Sample::Gauge(value) => write_sample(&mut text, &name, "", labels, None, &go_float(*value as f64)),
                    Sample::Histogram { bounds, counts, sum } => {
                        let mut cumulative = 0;
                        for (bound, count) in bounds.iter().zip(counts) {
                            cumulative += count;
                            let le = go_float(*bound);
                            write_sample(&mut text, &name, "_bucket", labels, Some(&le), &cumulative.to_string());
                        }
                        let count: u64 = counts.iter().sum();
                        write_sample(&mut text, &name, "_bucket", labels, Some("+Inf"), &count.to_string());
                        write_sample(&mut text, &name, "_sum", labels, None, &go_float(*sum as f64));
                        write_sample(&mut text, &name, "_count", labels, None, &count.to_string());
                    }
                }
            }
        }
        text
    }

    fn full_name(&self, suffix: &str) -> String {
        if self.prefix.is_empty() { suffix.to_owned() } else { format!("{}_{suffix}", self.prefix) }
    }

    /// The families that have series, in name order, each with its series
    /// sorted by label values.
    fn families(&self) -> Vec<(&'static str, MetricType, Vec<Series>)> {
        let mut families: Vec<Vec<Series>> = FAMILIES.iter().map(|_| Vec::new()).collect();
        {
            let all = self.series.read();
            for (service, methods) in all.iter() {
                for (method, m) in methods {
                    let mut add = |family: usize, labels: &[(&'static str, &str)], sample: Option<Sample>| {
                        let Some(sample) = sample else { return };
                        let mut labels: Vec<(Cow<'static, str>, String)> = labels
                            .iter()
                            .map(|(k, v)| (Cow::Borrowed(*k), (*v).to_owned()))
                            .chain([(Cow::Borrowed("service"), service.to_string())])
                            .chain([(Cow::Borrowed("method"), method.to_string())])
                            .chain(self.const_labels.iter().cloned())
                            .collect();
                        labels.sort_by(|a, b| a.0.cmp(&b.0));
                        families[family].push(Series { labels, sample });
                    };
                    for (r, role) in ROLES.iter().enumerate() {
                        for (k, kind) in KINDS.iter().enumerate() {
                            let call = &m.calls[r][k];
                            let labels = [("role", *role), ("kind", *kind)];
                            for (direction, counter) in [("rx", &call.rx), ("tx", &call.tx)] {
                                let labels = [labels[0], labels[1], ("direction", direction)];
                                add(0, &labels, counter.value().map(Sample::Counter));
                            }
                            for (code, n) in call.errors.lock().iter() {
                                add(2, &[labels[0], labels[1], ("error_code", code)], Some(Sample::Counter(*n)));
                            }
                            add(3, &labels, call.time.sample());
                        }
                        let labels = [("role", *role)];
                        add(6, &labels, m.stream_count[r].value().map(Sample::Gauge));
                        add(7, &labels, m.stream_receive[r].value().map(Sample::Counter));
                        add(8, &labels, m.stream_send_time[r].sample());
                    }
                    for (o, outcome) in OUTCOMES.iter().enumerate() {
                        add(1, &[("outcome", outcome)], m.claim_wait[o].sample());
                    }
                    add(4, &[], m.expired.value().map(Sample::Counter));
                    add(5, &[], m.received.value().map(Sample::Counter));
                }
            }
        }
        FAMILIES
            .iter()
            .zip(families)
            .filter(|(_, series)| !series.is_empty())
            .map(|(&(suffix, kind), mut series)| {
                // Go orders a family's series by their label values, in label name order.
                series.sort_by(|a, b| a.labels.iter().map(|l| &l.1).cmp(b.labels.iter().map(|l| &l.1)));
                (suffix, kind, series)
            })
            .collect()
    }

    /// Runs `f` on the series of `info`'s method.
    fn with_series<T>(&self, info: &RpcInfo, f: impl FnOnce(&MethodSeries) -> T) -> T {
        {
            let series = self.series.read();
            if let Some(method) = series.get(&*info.service).and_then(|methods| methods.get(info.method.as_ref())) {
                return f(method);
            }
        }
        let mut series = self.series.write();
        let methods = series.entry(Arc::clone(&info.service)).or_default();
        f(methods.entry(info.method.clone()).or_default())
    }

    /// Records one call: bytes both ways, and its time or its error.
    fn record_call(
        &self,
        role: Role,
        kind: usize,
        info: &RpcInfo,
        elapsed: Duration,
        error: Option<ErrorCode>,
        (rx, tx): (usize, usize),
    ) {
        self.with_series(info, |method| {
            let call = &method.calls[role_index(role)][kind];
            call.rx.add(count(rx));
            call.tx.add(count(tx));
            match error {
                None => call.time.observe(millis(elapsed)),
                Some(code) => call.error(code),
            }
        });
    }
}

/// One sample line: `<name><suffix>{labels[,le="…"]} <value>`, labels
/// escaped as Go escapes them.
fn write_sample(
    text: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(Cow<'static, str>, String)],
    le: Option<&str>,
    value: &str,
) {
    text.push_str(name);
    text.push_str(suffix);
    let all = labels.iter().map(|(k, v)| (k.clone(), v.as_str())).chain(le.map(|le| (Cow::Borrowed("le"), le)));
    for (i, (label, value)) in all.enumerate() {
        text.push(if i == 0 { '{' } else { ',' });
        text.push_str(&label);
        text.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => text.push_str("\\\\"),
                '"' => text.push_str("\\\""),
                '\n' => text.push_str("\\n"),
                c => text.push(c),
            }
        }
        text.push('"');
    }
    if !labels.is_empty() || le.is_some() {
        text.push('}');
    }
    text.push(' ');
    text.push_str(value);
    text.push('\n');
}

/// `v` as Go's text format writes a float: `strconv.FormatFloat(v, 'g', -1,
/// 64)`, shortest digits, exponent form (`1e+06`) from 1e6 up and below
/// 1e-4.
fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() };
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    let scientific = format!("{v:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        format!("{v}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

impl Collector for PsrpcMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for (suffix, kind, series) in self.families() {
            // prometheus-client appends `_total` to counters itself.
            let name = self.full_name(suffix);
            let name = match kind {
                MetricType::Counter => name.strip_suffix("_total").unwrap_or(&name).to_owned(),
                _ => name,
            };
            let mut family = encoder.encode_descriptor(&name, "", None, kind)?;
            for Series { labels, sample } in &series {
                let series = family.encode_family(labels)?;
                match sample {
                    Sample::Counter(value) => ConstCounter::new(*value).encode(series)?,
                    Sample::Gauge(value) => ConstGauge::new(*value).encode(series)?,
                    Sample::Histogram { bounds, counts, sum } => {
                        let mut buckets: Vec<(f64, u64)> = bounds.iter().copied().zip(counts.iter().copied()).collect();
                        buckets.push((f64::INFINITY, counts[bounds.len()]));
                        let mut series = series;
                        series.encode_histogram::<NoLabelSet>(*sum as f64, counts.iter().sum(), &buckets, None)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn count(bytes: usize) -> u64 {
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

/// Whole milliseconds, as LiveKit records durations.
fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

impl Observer for PsrpcMetrics {
    fn on_unary(
        &self,
        role: Role,
        info: &RpcInfo,
        elapsed: Duration,
        outcome: Result<(), &Error>,
        request_bytes: usize,
        response_bytes: usize,
    ) {
        let error = outcome.err().map(Error::code);
        self.record_call(role, 0, info, elapsed, error, (request_bytes, response_bytes));
    }

    fn on_multi(
        &self,
        role: Role,
        info: &RpcInfo,
        elapsed: Duration,
        responses: usize,
        _errors: usize,
        request_bytes: usize,
        response_bytes: usize,
    ) {
        let rx_tx = match role {
            Role::Client => (response_bytes, request_bytes),
            _ => (request_bytes, response_bytes),
        };
        let error = (responses == 0).then_some(ErrorCode::Unknown);
        self.record_call(role, 1, info, elapsed, error, rx_tx);
    }

    fn on_stream_open(&self, role: Role, info: &RpcInfo) {
        self.with_series(info, |m| m.stream_count[role_index(role)].add(1));
    }

    fn on_stream_close(&self, role: Role, info: &RpcInfo, _cause: &Error) {
        self.with_series(info, |m| m.stream_count[role_index(role)].add(-1));
    }

    fn on_stream_send(&self, role: Role, info: &RpcInfo, elapsed: Duration, outcome: Result<(), &Error>, bytes: usize) {
        self.with_series(info, |m| {
            let call = &m.calls[role_index(role)][2];
            call.tx.add(count(bytes));
            match outcome {
                Ok(()) => m.stream_send_time[role_index(role)].observe(millis(elapsed)),
                Err(error) => call.error(error.code()),
            }
        });
    }

    fn on_stream_recv(&self, role: Role, info: &RpcInfo, bytes: usize) {
        self.with_series(info, |m| {
            m.calls[role_index(role)][2].rx.add(count(bytes));
            m.stream_receive[role_index(role)].add(1);
        });
    }

    fn on_request_received(&self, info: &RpcInfo) {
        self.with_series(info, |m| m.received.add(1));
    }

    fn on_request_expired(&self, info: &RpcInfo) {
        self.with_series(info, |m| m.expired.add(1));
    }

    fn on_claim(&self, info: &RpcInfo, outcome: ClaimOutcome, wait: Duration) {
        let index = match outcome {
            ClaimOutcome::Won => 0,
            ClaimOutcome::Lost => 1,
            ClaimOutcome::Skipped => 2,
            _ => 3,
        };
        self.with_series(info, |m| m.claim_wait[index].observe(millis(wait)));
    }
}

#[cfg(test)]
mod tests {
    use super::go_float;

    /// Expected strings are what Go's `strconv.FormatFloat(v, 'g', -1, 64)` gives.
    #[test]
    fn floats_are_written_as_go_writes_them() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (10.0, "10"),
            (10000.0, "10000"),
            (999_999.0, "999999"),
            (1e6, "1e+06"),
            (1_234_567.0, "1.234567e+06"),
            (1.5e21, "1.5e+21"),
            (0.25, "0.25"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (value, go) in cases {
            assert_eq!(go_float(value), go, "{value}");
        }
    }
}
