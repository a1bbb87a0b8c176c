//! psrpc-prometheus's exposition against Go's: the same observer events go
//! into Go psrpc's Prometheus metrics (LiveKit's `github.com/livekit/protocol/rpc`,
//! scraped through promhttp by `go/metrics`) and into `PsrpcMetrics`; the
//! two texts must be equal byte for byte.
//!
//! The events are recorded directly (no calls), so durations and sizes are
//! fixed and no value needs normalising.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use psrpc::observe::{ClaimOutcome, Observer, Role};
use psrpc::{Error, ErrorCode, MethodInfo, MethodKind, RpcInfo, Selection};
use psrpc_prometheus::PsrpcMetrics;
use serde_json::{Value, json};

/// One observer event, as both sides record it.
enum Event {
    Unary { role: Role, at: (&'static str, &'static str), micros: u64, error: Option<ErrorCode>, rx: usize, tx: usize },
    Multi { role: Role, at: (&'static str, &'static str), micros: u64, responses: usize, rx: usize, tx: usize },
    StreamSend { role: Role, at: (&'static str, &'static str), micros: u64, error: Option<ErrorCode>, bytes: usize },
    StreamRecv { role: Role, at: (&'static str, &'static str), bytes: usize },
    StreamOpen { role: Role, at: (&'static str, &'static str) },
    StreamClose { role: Role, at: (&'static str, &'static str) },
    Received { at: (&'static str, &'static str) },
    Expired { at: (&'static str, &'static str) },
    Claim { at: (&'static str, &'static str), outcome: ClaimOutcome, micros: u64 },
}

use Event::*;

const CLIENT: Role = Role::Client;
const SERVER: Role = Role::Server;
const GET: (&str, &str) = ("RoomManager", "GetRoom");
const ALL: (&str, &str) = ("RoomManager", "ListRooms");
const NONE: (&str, &str) = ("RoomManager", "Nobody");
const CHAT: (&str, &str) = ("SignalRelay", "Relay");
/// Sorts before the others on both its service and its method.
const EARLY: (&str, &str) = ("AgentInternal", "AWorker");

fn events() -> Vec<Event> {
    vec![
        // Unary: fractional milliseconds (truncated), a size Go writes as
        // 1.234567e+06, errors by code, and a call past the last bucket.
        Unary { role: CLIENT, at: GET, micros: 10_900, error: None, rx: 3, tx: 1_234_567 },
        Unary { role: SERVER, at: GET, micros: 12_000, error: None, rx: 3, tx: 20 },
        Unary { role: SERVER, at: GET, micros: 999, error: None, rx: 3, tx: 20 },
        Unary { role: CLIENT, at: GET, micros: 5_000, error: Some(ErrorCode::NotFound), rx: 3, tx: 0 },
        Unary { role: SERVER, at: GET, micros: 5_000, error: Some(ErrorCode::NotFound), rx: 3, tx: 0 },
        Unary { role: CLIENT, at: GET, micros: 2_000_000, error: Some(ErrorCode::Unavailable), rx: 3, tx: 0 },
        Unary { role: CLIENT, at: EARLY, micros: 10_001_000, error: None, rx: 1, tx: 1 },
        // Multi: timed, and an error (`unknown`) when nobody answered.
        Multi { role: CLIENT, at: ALL, micros: 55_000, responses: 2, rx: 40, tx: 5 },
        Multi { role: SERVER, at: ALL, micros: 1_000, responses: 1, rx: 5, tx: 20 },
        Multi { role: CLIENT, at: NONE, micros: 1_000_000, responses: 0, rx: 0, tx: 5 },
        // Streams: the gauge up and down, sends timed or failed, receives counted.
        StreamOpen { role: CLIENT, at: CHAT },
        StreamOpen { role: SERVER, at: CHAT },
        StreamOpen { role: SERVER, at: CHAT },
        StreamSend { role: CLIENT, at: CHAT, micros: 3_000, error: None, bytes: 7 },
        StreamSend { role: SERVER, at: CHAT, micros: 4_000, error: None, bytes: 8 },
        StreamSend { role: CLIENT, at: CHAT, micros: 3_000, error: Some(ErrorCode::DeadlineExceeded), bytes: 7 },
        StreamRecv { role: CLIENT, at: CHAT, bytes: 8 },
        StreamRecv { role: SERVER, at: CHAT, bytes: 7 },
        StreamClose { role: CLIENT, at: CHAT },
        // Server lifecycle.
        Received { at: GET },
        Received { at: GET },
        Received { at: EARLY },
        Expired { at: GET },
        Claim { at: GET, outcome: ClaimOutcome::Won, micros: 2_500 },
        Claim { at: GET, outcome: ClaimOutcome::Lost, micros: 7_000 },
        Claim { at: GET, outcome: ClaimOutcome::TimedOut, micros: 1_005_000 },
        Claim { at: GET, outcome: ClaimOutcome::Skipped, micros: 0 },
    ]
}

fn role(role: Role) -> &'static str {
    role.as_str()
}

fn code(error: Option<ErrorCode>) -> &'static str {
    error.map_or("", ErrorCode::as_str)
}

fn outcome(outcome: ClaimOutcome) -> &'static str {
    match outcome {
        ClaimOutcome::Won => "granted",
        ClaimOutcome::Lost => "lost_to_peer",
        ClaimOutcome::Skipped => "skipped",
        _ => "timed_out",
    }
}

/// The event as the Go program reads it.
fn to_json(event: &Event) -> Value {
    let (at, mut line) = match *event {
        Unary { role: r, at, micros, error, rx, tx } => {
            (at, json!({"event": "unary", "role": role(r), "micros": micros, "error": code(error), "rx": rx, "tx": tx}))
        }
        Multi { role: r, at, micros, responses, rx, tx } => (
            at,
            json!({"event": "multi", "role": role(r), "micros": micros, "responses": responses, "rx": rx, "tx": tx}),
        ),
        StreamSend { role: r, at, micros, error, bytes } => (
            at,
            json!({"event": "stream_send", "role": role(r), "micros": micros, "error": code(error), "bytes": bytes}),
        ),
        StreamRecv { role: r, at, bytes } => (at, json!({"event": "stream_recv", "role": role(r), "bytes": bytes})),
        StreamOpen { role: r, at } => (at, json!({"event": "stream_open", "role": role(r)})),
        StreamClose { role: r, at } => (at, json!({"event": "stream_close", "role": role(r)})),
        Received { at } => (at, json!({"event": "received"})),
        Expired { at } => (at, json!({"event": "expired"})),
        Claim { at, outcome: o, micros } => (at, json!({"event": "claim", "outcome": outcome(o), "micros": micros})),
    };
    line["service"] = at.0.into();
    line["method"] = at.1.into();
    line
}

fn info((service, method): (&'static str, &'static str)) -> RpcInfo {
    RpcInfo::new(
        service.into(),
        &MethodInfo::new(method, MethodKind::Unary(Selection::Queue { topics: false })),
        vec![],
    )
}

fn error(code: ErrorCode) -> Error {
    Error::new(code, "recorded")
}

/// Records `event` into `metrics` through the observer interface psrpc-rs
/// calls, with the arguments that give Go's rx/tx.
fn record(metrics: &PsrpcMetrics, event: &Event) {
    let micros = Duration::from_micros;
    match *event {
        Unary { role, at, micros: us, error: e, rx, tx } => {
            let e = e.map(error);
            metrics.on_unary(role, &info(at), micros(us), e.as_ref().map_or(Ok(()), Err), rx, tx);
        }
        Multi { role, at, micros: us, responses, rx, tx } => {
            // The client counts responses as rx, the server requests.
            let (request, response) = if role == CLIENT { (tx, rx) } else { (rx, tx) };
            metrics.on_multi(role, &info(at), micros(us), responses, 0, request, response);
        }
        StreamSend { role, at, micros: us, error: e, bytes } => {
            let e = e.map(error);
            metrics.on_stream_send(role, &info(at), micros(us), e.as_ref().map_or(Ok(()), Err), bytes);
        }
        StreamRecv { role, at, bytes } => metrics.on_stream_recv(role, &info(at), bytes),
        StreamOpen { role, at } => metrics.on_stream_open(role, &info(at)),
        StreamClose { role, at } => metrics.on_stream_close(role, &info(at), &Error::stream_closed()),
        Received { at } => metrics.on_request_received(&info(at)),
        Expired { at } => metrics.on_request_expired(&info(at)),
        Claim { at, outcome, micros: us } => metrics.on_claim(&info(at), outcome, micros(us)),
    }
}

/// Go's exposition of `events` and the Content-Type promhttp chose.
fn go_exposition(binary: &Path, events: &[Event], const_labels: &str) -> (String, String) {
    let mut child = Command::new(binary)
        .arg(format!("-const-labels={const_labels}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Go metrics program");
    let mut stdin = child.stdin.take().expect("stdin");
    for event in events {
        writeln!(stdin, "{}", to_json(event)).expect("write event");
    }
    drop(stdin);
    let output = child.wait_with_output().expect("run the Go metrics program");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "the Go metrics program failed: {stderr}");
    (String::from_utf8(output.stdout).expect("UTF-8"), stderr.trim().to_owned())
}

/// The first line where `rust` and `go` differ, for the failure message.
fn first_difference(rust: &str, go: &str) -> String {
    let line = rust.lines().zip(go.lines()).position(|(r, g)| r != g);
    match line {
        Some(n) => format!(
            "line {}:\n  rust: {:?}\n  go:   {:?}",
            n + 1,
            rust.lines().nth(n).unwrap_or(""),
            go.lines().nth(n).unwrap_or("")
        ),
        None => format!("one is a prefix of the other ({} vs {} lines)", rust.lines().count(), go.lines().count()),
    }
}

#[test]
fn the_exposition_is_gos_byte_for_byte() {
    let Some(binary) = psrpc_interop::metrics_binary(Path::new(env!("CARGO_TARGET_TMPDIR"))) else { return };
    let events = events();
    let (go, content_type) = go_exposition(&binary, &events, "node_id=ND_7,node_type=CONTROLLER");

    let metrics = PsrpcMetrics::livekit().with_const_labels([("node_type", "CONTROLLER"), ("node_id", "ND_7")]);
    for event in &events {
        record(&metrics, event);
    }
    let rust = metrics.encode();

    // Every family was exercised, so the comparison covers all of them.
    assert_eq!(go.matches("# TYPE ").count(), 9, "{go}");
    assert!(go.contains("le=\"10\""), "{go}");
    assert!(rust == go, "the expositions differ at {}\n--- rust\n{rust}--- go\n{go}", first_difference(&rust, &go));
    assert_eq!(content_type, psrpc_prometheus::CONTENT_TYPE);
}

/// Without constant labels too (LiveKit's tests and tools register none).
#[test]
fn the_exposition_without_constant_labels_is_gos() {
    let Some(binary) = psrpc_interop::metrics_binary(Path::new(env!("CARGO_TARGET_TMPDIR"))) else { return };
    let events = events();
    let (go, _) = go_exposition(&binary, &events[..3], "");
    let metrics = PsrpcMetrics::livekit();
    for event in &events[..3] {
        record(&metrics, event);
    }
    let rust = metrics.encode();
    assert!(rust == go, "the expositions differ at {}\n--- rust\n{rust}--- go\n{go}", first_difference(&rust, &go));
}
