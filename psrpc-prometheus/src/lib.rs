//! # psrpc-prometheus: Prometheus metrics for psrpc-rs
//!
//! [`PsrpcMetrics`] is an [`Observer`] that records every call a psrpc-rs
//! client or server makes into Prometheus histograms, counters and a gauge,
//! under the names, labels and buckets LiveKit's Go services export for Go
//! psrpc. A Rust service and a Go service of one fleet land in the same
//! series, and the dashboards and alerts written for one work for both.
//!
//! ```
//! use std::sync::Arc;
//! use prometheus_client::registry::Registry;
//! use psrpc_prometheus::PsrpcMetrics;
//!
//! let metrics = PsrpcMetrics::livekit();
//! let mut registry = Registry::default();
//! metrics.register(&mut registry);
//!
//! let client_options = psrpc::ClientOptions::default().observer(Arc::new(metrics.clone()));
//! let server_options = psrpc::ServerOptions::default().observer(Arc::new(metrics));
//!
//! // Series appear once a call recorded into them.
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert_eq!(text, "# EOF\n");
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
//! `tx`; `outcome` is `granted`, `lost_to_peer` or `timed_out`.
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
//! ## Why `prometheus-client`
//!
//! This crate uses `prometheus-client`, the Prometheus project's own Rust
//! client, rather than the `prometheus` crate: it keeps no global registry
//! (the metrics go into the [`Registry`] the application owns, next to its
//! own), its label sets are typed (here: shared service names, no string
//! built per call), it needs no protobuf and no `lazy_static`, and it writes
//! the OpenMetrics text format every Prometheus server scrapes.
//!
//! ## Feature flags
//! None.
//!
//! [`Observer`]: psrpc_core::observe::Observer

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::RwLock;
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use psrpc_core::error::{Error, ErrorCode};
use psrpc_core::info::RpcInfo;
use psrpc_core::observe::{ClaimOutcome, Observer, Role};

/// The prefix LiveKit's Go services use (`livekit` namespace, `psrpc`
/// subsystem).
pub const LIVEKIT_PREFIX: &str = "livekit_psrpc";

/// Buckets of `request_time_ms` and `stream_send_time_ms`, in milliseconds.
pub const REQUEST_TIME_BUCKETS: [f64; 10] = [10., 50., 100., 300., 500., 1000., 1500., 2000., 5000., 10000.];

/// Buckets of `claim_wait_time_ms`, in milliseconds.
pub const CLAIM_WAIT_BUCKETS: [f64; 10] = [1., 5., 10., 25., 50., 100., 250., 500., 1000., 3000.];

/// The labels of one series. Every family uses this one type; the labels a
/// family does not have stay `None` and are not written.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Labels {
    role: Option<&'static str>,
    kind: Option<&'static str>,
    service: Arc<str>,
    method: Cow<'static, str>,
    /// `error_code`, `direction` or `outcome`, with its value.
    extra: Option<(&'static str, &'static str)>,
}

impl EncodeLabelSet for Labels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), fmt::Error> {
        use prometheus_client::encoding::EncodeLabel as _;
        if let Some(role) = self.role {
            ("role", role).encode(encoder.encode_label())?;
        }
        if let Some(kind) = self.kind {
            ("kind", kind).encode(encoder.encode_label())?;
        }
        ("service", &*self.service).encode(encoder.encode_label())?;
        ("method", self.method.as_ref()).encode(encoder.encode_label())?;
        if let Some(extra) = self.extra {
            extra.encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

impl Labels {
    fn call(role: Role, kind: &'static str, info: &RpcInfo) -> Self {
        Labels { role: Some(role.as_str()), ..Labels::lifecycle(info) }.kind(kind)
    }

    fn stream(role: Role, info: &RpcInfo) -> Self {
        Labels { role: Some(role.as_str()), ..Labels::lifecycle(info) }
    }

    fn lifecycle(info: &RpcInfo) -> Self {
        Labels { role: None, kind: None, service: Arc::clone(&info.service), method: info.method.clone(), extra: None }
    }

    fn kind(mut self, kind: &'static str) -> Self {
        self.kind = Some(kind);
        self
    }

    fn extra(mut self, name: &'static str, value: &'static str) -> Self {
        self.extra = Some((name, value));
        self
    }
}

type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn request_time_histogram() -> Histogram {
    Histogram::new(REQUEST_TIME_BUCKETS)
}

fn claim_wait_histogram() -> Histogram {
    Histogram::new(CLAIM_WAIT_BUCKETS)
}

/// The metric families; clones share them.
#[derive(Debug)]
struct Families {
    request_time: HistogramFamily,
    stream_send_time: HistogramFamily,
    stream_receive: Family<Labels, Counter>,
    stream_count: Family<Labels, Gauge>,
    errors: Family<Labels, Counter>,
    bytes: Family<Labels, Counter>,
    requests_received: Family<Labels, Counter>,
    requests_expired: Family<Labels, Counter>,
    claim_wait_time: HistogramFamily,
    /// Each method's series, resolved once: a report costs one read lock and
    /// two string lookups instead of building and hashing a label set per
    /// series it touches.
    series: RwLock<SeriesByMethod>,
}

/// Series by service, then method.
type SeriesByMethod = HashMap<Arc<str>, HashMap<Cow<'static, str>, MethodSeries>>;

/// A metric of one series, resolved from its family on first use (series
/// appear in the output only once something was recorded into them).
#[derive(Debug)]
struct Lazy<M>(OnceLock<M>);

impl<M> Default for Lazy<M> {
    fn default() -> Self {
        Lazy(OnceLock::new())
    }
}

impl<M: Clone> Lazy<M> {
    fn get(&self, resolve: impl FnOnce() -> M) -> &M {
        self.0.get_or_init(resolve)
    }
}

/// The series of one call kind of one method, for one role.
#[derive(Debug, Default)]
struct CallSeries {
    time: Lazy<Histogram>,
    rx: Lazy<Counter>,
    tx: Lazy<Counter>,
}

/// The series of one method.
#[derive(Debug, Default)]
struct MethodSeries {
    /// By role (client, server) and kind (rpc, multirpc, stream).
    calls: [[CallSeries; 3]; 2],
    /// By role: `stream_count`, `stream_send_time_ms`, `stream_receive_total`.
    stream_count: [Lazy<Gauge>; 2],
    stream_send_time: [Lazy<Histogram>; 2],
    stream_receive: [Lazy<Counter>; 2],
    received: Lazy<Counter>,
    expired: Lazy<Counter>,
    /// By outcome: granted, lost to peer, timed out.
    claim_wait: [Lazy<Histogram>; 3],
}

const KINDS: [&str; 3] = ["rpc", "multirpc", "stream"];

fn role_index(role: Role) -> usize {
    match role {
        Role::Client => 0,
        _ => 1,
    }
}

/// psrpc metrics in Prometheus form: an [`Observer`] to install on clients
/// and servers, and the metric families to [`register`](Self::register).
/// Cheap to clone; clones record into the same series.
///
/// See the [crate docs](crate) for the metrics.
#[derive(Clone, Debug)]
pub struct PsrpcMetrics {
    prefix: String,
    families: Arc<Families>,
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
    /// assert!(text.contains(r#"myapp_rpc_requests_received_total{service="Rooms",method="Get"} 1"#));
    /// ```
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        let families = Families {
            request_time: Family::new_with_constructor(request_time_histogram),
            stream_send_time: Family::new_with_constructor(request_time_histogram),
            stream_receive: Family::default(),
            stream_count: Family::default(),
            errors: Family::default(),
            bytes: Family::default(),
            requests_received: Family::default(),
            requests_expired: Family::default(),
            claim_wait_time: Family::new_with_constructor(claim_wait_histogram),
            series: RwLock::default(),
        };
        PsrpcMetrics { prefix: prefix.into(), families: Arc::new(families) }
    }

    /// The name prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Registers the metric families in `registry`, under this prefix
    /// (appended to the registry's own prefix, if it has one). Constant
    /// labels (LiveKit's `ConstLabels`, e.g. the node id) come from the
    /// registry: build it with `Registry::with_labels` or register into
    /// `registry.sub_registry_with_labels(…)`.
    ///
    /// ```
    /// use prometheus_client::registry::Registry;
    /// let mut registry = Registry::default();
    /// let node = registry.sub_registry_with_label(("node_id".into(), "node-7".into()));
    /// psrpc_prometheus::PsrpcMetrics::livekit().register(node);
    /// ```
    pub fn register(&self, registry: &mut Registry) {
        let registry = if self.prefix.is_empty() { registry } else { registry.sub_registry_with_prefix(&self.prefix) };
        let f = &self.families;
        // prometheus-client appends `_total` to counter names when encoding.
        registry.register("request_time_ms", "Duration of successful psrpc calls", f.request_time.clone());
        registry.register(
            "stream_send_time_ms",
            "Duration of successful psrpc stream sends",
            f.stream_send_time.clone(),
        );
        registry.register("stream_receive", "psrpc stream messages received", f.stream_receive.clone());
        registry.register("stream_count", "Open psrpc streams", f.stream_count.clone());
        registry.register("error", "Failed psrpc calls and stream sends", f.errors.clone());
        registry.register("bytes", "psrpc message bytes", f.bytes.clone());
        registry.register("requests_received", "psrpc requests that reached a server", f.requests_received.clone());
        registry.register(
            "requests_expired",
            "psrpc requests dropped unhandled because they arrived expired",
            f.requests_expired.clone(),
        );
        registry.register(
            "claim_wait_time_ms",
            "Time from a server's claim to the client's decision",
            f.claim_wait_time.clone(),
        );
    }

    /// A registry holding only these metrics, encoded in the text format
    /// (for a `/metrics` endpoint that serves nothing else).
    ///
    /// ```
    /// let text = psrpc_prometheus::PsrpcMetrics::livekit().encode();
    /// assert!(text.ends_with("# EOF\n"));
    /// ```
    pub fn encode(&self) -> String {
        let mut registry = Registry::default();
        self.register(&mut registry);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }

    /// Runs `f` on the series of `info`'s method.
    fn with_series<T>(&self, info: &RpcInfo, f: impl FnOnce(&MethodSeries) -> T) -> T {
        {
            let series = self.families.series.read();
            if let Some(method) = series.get(&*info.service).and_then(|methods| methods.get(info.method.as_ref())) {
                return f(method);
            }
        }
        let mut series = self.families.series.write();
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
        let f = &self.families;
        let labels = || Labels::call(role, KINDS[kind], info);
        self.with_series(info, |method| {
            let call = &method.calls[role_index(role)][kind];
            call.rx.get(|| f.bytes.get_or_create(&labels().extra("direction", "rx")).clone()).inc_by(count(rx));
            call.tx.get(|| f.bytes.get_or_create(&labels().extra("direction", "tx")).clone()).inc_by(count(tx));
            if error.is_none() {
                call.time.get(|| f.request_time.get_or_create(&labels()).clone()).observe(millis(elapsed));
            }
        });
        if let Some(code) = error {
            f.errors.get_or_create(&labels().extra("error_code", code.as_str())).inc();
        }
    }
}

fn count(bytes: usize) -> u64 {
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

/// Whole milliseconds, as LiveKit records durations.
fn millis(elapsed: Duration) -> f64 {
    elapsed.as_millis() as f64
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
        let f = &self.families;
        self.with_series(info, |m| {
            m.stream_count[role_index(role)]
                .get(|| f.stream_count.get_or_create(&Labels::stream(role, info)).clone())
                .inc()
        });
    }

    fn on_stream_close(&self, role: Role, info: &RpcInfo, _cause: &Error) {
        let f = &self.families;
        self.with_series(info, |m| {
            m.stream_count[role_index(role)]
                .get(|| f.stream_count.get_or_create(&Labels::stream(role, info)).clone())
                .dec()
        });
    }

    fn on_stream_send(&self, role: Role, info: &RpcInfo, elapsed: Duration, outcome: Result<(), &Error>, bytes: usize) {
        let f = &self.families;
        let labels = || Labels::call(role, "stream", info);
        self.with_series(info, |m| {
            let call = &m.calls[role_index(role)][2];
            call.tx.get(|| f.bytes.get_or_create(&labels().extra("direction", "tx")).clone()).inc_by(count(bytes));
            if outcome.is_ok() {
                let time = &m.stream_send_time[role_index(role)];
                time.get(|| f.stream_send_time.get_or_create(&Labels::stream(role, info)).clone())
                    .observe(millis(elapsed));
            }
        });
        if let Err(error) = outcome {
            f.errors.get_or_create(&labels().extra("error_code", error.code().as_str())).inc();
        }
    }

    fn on_stream_recv(&self, role: Role, info: &RpcInfo, bytes: usize) {
        let f = &self.families;
        self.with_series(info, |m| {
            let rx = &m.calls[role_index(role)][2].rx;
            rx.get(|| f.bytes.get_or_create(&Labels::call(role, "stream", info).extra("direction", "rx")).clone())
                .inc_by(count(bytes));
            let received = &m.stream_receive[role_index(role)];
            received.get(|| f.stream_receive.get_or_create(&Labels::stream(role, info)).clone()).inc();
        });
    }

    fn on_request_received(&self, info: &RpcInfo) {
        let f = &self.families;
        self.with_series(info, |m| {
            m.received.get(|| f.requests_received.get_or_create(&Labels::lifecycle(info)).clone()).inc()
        });
    }

    fn on_request_expired(&self, info: &RpcInfo) {
        let f = &self.families;
        self.with_series(info, |m| {
            m.expired.get(|| f.requests_expired.get_or_create(&Labels::lifecycle(info)).clone()).inc()
        });
    }

    fn on_claim(&self, info: &RpcInfo, outcome: ClaimOutcome, wait: Duration) {
        let f = &self.families;
        let (index, label) = match outcome {
            ClaimOutcome::Won => (0, "granted"),
            ClaimOutcome::Lost => (1, "lost_to_peer"),
            _ => (2, "timed_out"),
        };
        self.with_series(info, |m| {
            let labels = || Labels::lifecycle(info).extra("outcome", label);
            m.claim_wait[index].get(|| f.claim_wait_time.get_or_create(&labels()).clone()).observe(millis(wait))
        });
    }
}
