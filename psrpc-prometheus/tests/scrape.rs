//! Calls of every kind (single, affinity, multi, stream, errors, expired requests)
//! on the in-process bus, NATS and Redis; the scraped text has LiveKit's
//! names and labels with the expected counts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use psrpc::observe::{Observer, Role};
use psrpc::{
    ClientOptions, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcInfo,
    RpcServer, Selection, ServerOptions, SharedBus,
};
use psrpc_prometheus::PsrpcMetrics;
use psrpc_protocol::envelope::Request;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::BrokerBus;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use psrpc_test_support::{BusFactory, SameBus};
use tokio::time::Instant;

fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

#[derive(Clone, PartialEq, prost::Message)]
struct Msg {
    #[prost(string, tag = "1")]
    text: String,
}

fn msg(text: &str) -> Msg {
    Msg { text: text.into() }
}

static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
static AFFINE: MethodInfo = MethodInfo::new("Affine", MethodKind::Unary(Selection::Affinity { topics: false }));
static EVERYONE: MethodInfo = MethodInfo::new("Everyone", MethodKind::Multi { topics: false });
static NOBODY: MethodInfo = MethodInfo::new("Nobody", MethodKind::Multi { topics: false });
static MISSING: MethodInfo = MethodInfo::new("Missing", MethodKind::Unary(Selection::Queue { topics: false }));
static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));
static FAIL: MethodInfo = MethodInfo::new("Fail", MethodKind::Unary(Selection::SingleServer));

/// The scraped series: `name{labels}` (labels as written) → value.
fn scrape(metrics: &PsrpcMetrics) -> HashMap<String, f64> {
    metrics
        .encode()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The series `name` with `labels` and service `svc`, labels in name order
/// (as Go writes them).
fn series(name: &str, svc: &str, labels: &[(&str, &str)]) -> String {
    let mut all: Vec<(&str, &str)> = labels.to_vec();
    all.push(("service", svc));
    all.sort();
    let all: Vec<String> = all.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("livekit_psrpc_{name}{{{}}}", all.join(","))
}

/// Waits (at most 5 s) until every series has its value: server-side
/// reports may land just after the client saw its answer.
async fn expect(metrics: &PsrpcMetrics, expected: &[(String, f64)]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let scraped = scrape(metrics);
        let wrong: Vec<_> =
            expected.iter().filter(|(s, v)| scraped.get(s) != Some(v)).map(|(s, v)| (s, v, scraped.get(s))).collect();
        if wrong.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "series differ (series, want, got): {wrong:#?}\n{}", metrics.encode());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn echo(_: RequestContext, m: Msg) -> Result<Msg, Error> {
    Ok(Msg { text: format!("{}!", m.text) })
}

async fn echo_stream(mut stream: psrpc::ServerStream<Msg, Msg>) -> Result<(), Error> {
    while let Some(m) = stream.recv().await? {
        stream.send(&Msg { text: format!("{}!", m.text) }).await?;
    }
    Ok(())
}

/// `queue_receivers`: how many servers a queue request reaches (Redis
/// hands claimed queue requests to every server, the other buses to one).
async fn every_kind(factory: &dyn BusFactory, queue_receivers: f64) {
    let svc = format!("Metered{}", psrpc_protocol::id::new_id(""));
    let metrics = PsrpcMetrics::livekit();
    let server_options = || ServerOptions::default().observer(Arc::new(metrics.clone()));
    let mut servers = Vec::new();
    for affinity in [0.9_f32, 0.1] {
        let s = RpcServer::new(svc.clone(), factory.connect().await, server_options());
        s.register_unary(&ECHO, vec![], echo, None).await.expect("register");
        let affinity_fn: psrpc::AffinityFn<Msg> = Arc::new(move |_, _| affinity);
        s.register_unary(&AFFINE, vec![], echo, Some(affinity_fn)).await.expect("register");
        s.register_unary(&EVERYONE, vec![], echo, None).await.expect("register");
        servers.push(s);
    }
    servers[1].register_stream(&CHAT, vec![], echo_stream, None).await.expect("register");
    let fail = |_: RequestContext, _: Msg| async { Err::<Msg, _>(Error::new(ErrorCode::NotFound, "nope")) };
    servers[0].register_unary(&FAIL, vec!["t".into()], fail, None).await.expect("register");

    let client_options = ClientOptions::default()
        .timeout(Duration::from_secs(2))
        .selection_timeout(Duration::from_millis(200))
        .observer(Arc::new(metrics.clone()));
    let client = RpcClient::new(svc.clone(), factory.connect().await, client_options).await.expect("client");
    let options = RequestOptions::default;

    for text in ["a", "b", "c"] {
        client.request_single::<Msg, Msg>(&ECHO, vec![], &msg(text), options()).await.expect("echo");
    }
    let affine = client.request_single::<Msg, Msg>(&AFFINE, vec![], &msg("hi"), options()).await.expect("affine");
    assert_eq!(affine.server_id, servers[0].id());
    let err = client.request_single::<Msg, Msg>(&FAIL, vec!["t".into()], &msg("x"), options()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    let err = client.request_single::<Msg, Msg>(&MISSING, vec![], &msg("x"), options()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable);
    let answers = client
        .request_multi::<Msg, Msg>(&EVERYONE, vec![], &msg("all"), options().expected_responses(2))
        .await
        .expect("multi")
        .collect_all()
        .await;
    assert_eq!(answers.len(), 2);
    let silence = client
        .request_multi::<Msg, Msg>(&NOBODY, vec![], &msg("?"), options().timeout(Duration::from_millis(50)))
        .await
        .expect("multi")
        .collect_all()
        .await;
    assert!(silence.is_empty());

    // A stream: two messages each way, then closed by the client.
    let mut chat = client.open_stream::<Msg, Msg>(&CHAT, vec![], options()).await.expect("open");
    for text in ["x", "y"] {
        chat.send(&msg(text)).await.expect("send");
        assert_eq!(chat.recv().await.expect("recv"), Some(msg(&format!("{text}!"))));
    }
    chat.close(None).await.expect("close");

    // A request that arrives expired is dropped unhandled.
    let stale = Request {
        request_id: "REQ_stale0000001".into(),
        client_id: "CLI_nobody000001".into(),
        sent_at: unix_nanos(SystemTime::now() - Duration::from_secs(10)),
        expiry: unix_nanos(SystemTime::now() - Duration::from_secs(5)),
        raw_request: Bytes::from(prost::Message::encode_to_vec(&msg("old"))),
        ..Default::default()
    };
    let bus = factory.connect().await;
    let ch = psrpc::transport::channel::request_channel(&svc, "Fail", &["t"], true);
    let local = if bus.frames_carry_local_channel() { &*ch.local } else { "" };
    bus.publish(&ch, psrpc_protocol::frame::encode_envelope(&stale, local)).await.expect("publish");

    let size = |text: &str| prost::Message::encoded_len(&msg(text)) as f64;
    let (req, res) = (size("a"), size("a!"));
    let s = svc.as_str();
    let timed =
        |role, kind, method| series("request_time_ms_count", s, &[("role", role), ("kind", kind), ("method", method)]);
    let bytes = |role, kind, method, direction| {
        series("bytes_total", s, &[("role", role), ("kind", kind), ("method", method), ("direction", direction)])
    };
    let errors = |role, kind, method, code| {
        series("error_total", s, &[("role", role), ("kind", kind), ("method", method), ("error_code", code)])
    };
    let expected = [
        // Single (queue): three calls, each granted to one server.
        (timed("client", "rpc", "Echo"), 3.0),
        (timed("server", "rpc", "Echo"), 3.0),
        (bytes("client", "rpc", "Echo", "rx"), 3.0 * req),
        (bytes("client", "rpc", "Echo", "tx"), 3.0 * res),
        (bytes("server", "rpc", "Echo", "rx"), 3.0 * req),
        (series("requests_received_total", s, &[("method", "Echo")]), 3.0 * queue_receivers),
        (series("claim_wait_time_ms_count", s, &[("method", "Echo"), ("outcome", "granted")]), 3.0),
        // Affinity: both servers claim, the better one wins.
        (timed("client", "rpc", "Affine"), 1.0),
        (timed("server", "rpc", "Affine"), 1.0),
        (series("requests_received_total", s, &[("method", "Affine")]), 2.0),
        (series("claim_wait_time_ms_count", s, &[("method", "Affine"), ("outcome", "granted")]), 1.0),
        (series("claim_wait_time_ms_count", s, &[("method", "Affine"), ("outcome", "lost_to_peer")]), 1.0),
        // Errors: the handler's code on both ends; no server at all.
        (errors("client", "rpc", "Fail", "not_found"), 1.0),
        (errors("server", "rpc", "Fail", "not_found"), 1.0),
        (errors("client", "rpc", "Missing", "unavailable"), 1.0),
        // Multi: one client call, two server handlings; no answer is an error.
        (timed("client", "multirpc", "Everyone"), 1.0),
        (timed("server", "multirpc", "Everyone"), 2.0),
        (bytes("client", "multirpc", "Everyone", "rx"), 2.0 * size("all!")),
        (bytes("client", "multirpc", "Everyone", "tx"), size("all")),
        (errors("client", "multirpc", "Nobody", "unknown"), 1.0),
        // Stream: sends timed on both ends, receives counted, bytes by
        // direction, and no stream left open once both ends closed.
        (series("stream_send_time_ms_count", s, &[("role", "client"), ("method", "Chat")]), 2.0),
        (series("stream_send_time_ms_count", s, &[("role", "server"), ("method", "Chat")]), 2.0),
        (series("stream_receive_total", s, &[("role", "client"), ("method", "Chat")]), 2.0),
        (series("stream_receive_total", s, &[("role", "server"), ("method", "Chat")]), 2.0),
        (bytes("client", "stream", "Chat", "tx"), 2.0 * size("x")),
        (bytes("client", "stream", "Chat", "rx"), 2.0 * size("x!")),
        (series("stream_count", s, &[("role", "client"), ("method", "Chat")]), 0.0),
        (series("stream_count", s, &[("role", "server"), ("method", "Chat")]), 0.0),
        // Expired on arrival.
        (series("requests_expired_total", s, &[("method", "Fail")]), 1.0),
    ];
    expect(&metrics, &expected).await;

    // Successful calls are timed, failed ones only counted.
    let scraped = scrape(&metrics);
    let untimed = timed("client", "rpc", "Fail");
    assert_eq!(scraped.get(&untimed), None);
}

#[tokio::test]
async fn every_kind_on_the_in_process_bus() {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    every_kind(&SameBus(bus), 1.0).await;
}

#[tokio::test]
async fn every_kind_on_nats() {
    let Some(server) = skip_or_fail(NatsServer::start()) else { return };
    every_kind(&BrokerBus(server.url().to_owned()), 1.0).await;
}

#[tokio::test]
async fn every_kind_on_redis() {
    let Some(server) = skip_or_fail(RedisServer::start()) else { return };
    every_kind(&BrokerBus(server.url().to_owned()), 2.0).await;
}

/// Stream reports, driven directly: the gauge follows opens and closes,
/// sends are timed or counted as errors, and bytes go to `tx` for sends and
/// `rx` for receives.
#[test]
fn stream_reports_follow_livekits_recording() {
    let metrics = PsrpcMetrics::livekit();
    let info = RpcInfo::new(
        "Streamer".into(),
        &MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false })),
        vec![],
    );
    metrics.on_stream_open(Role::Server, &info);
    metrics.on_stream_open(Role::Server, &info);
    metrics.on_stream_close(Role::Server, &info, &Error::stream_closed());
    metrics.on_stream_send(Role::Client, &info, Duration::from_millis(3), Ok(()), 50);
    metrics.on_stream_send(Role::Client, &info, Duration::from_millis(3), Err(&Error::request_timed_out()), 7);
    metrics.on_stream_recv(Role::Client, &info, 60);
    let scraped = scrape(&metrics);
    let get = |name: &str, labels: &[(&str, &str)]| scraped.get(&series(name, "Streamer", labels)).copied();
    assert_eq!(get("stream_count", &[("role", "server"), ("method", "Chat")]), Some(1.0));
    assert_eq!(get("stream_send_time_ms_count", &[("role", "client"), ("method", "Chat")]), Some(1.0));
    assert_eq!(get("stream_receive_total", &[("role", "client"), ("method", "Chat")]), Some(1.0));
    let error = [("role", "client"), ("kind", "stream"), ("method", "Chat"), ("error_code", "deadline_exceeded")];
    assert_eq!(get("error_total", &error), Some(1.0));
    let bytes = |direction| [("role", "client"), ("kind", "stream"), ("method", "Chat"), ("direction", direction)];
    assert_eq!(get("bytes_total", &bytes("tx")), Some(57.0));
    assert_eq!(get("bytes_total", &bytes("rx")), Some(60.0));
}

/// Durations land in LiveKit's buckets, in whole milliseconds.
#[test]
fn durations_fill_livekits_buckets() {
    let metrics = PsrpcMetrics::livekit();
    let info = RpcInfo::new(
        "Timed".into(),
        &MethodInfo::new("Get", MethodKind::Unary(Selection::Queue { topics: false })),
        vec![],
    );
    metrics.on_unary(Role::Client, &info, Duration::from_micros(10_900), Ok(()), 1, 1);
    metrics.on_claim(&info, psrpc::observe::ClaimOutcome::TimedOut, Duration::from_millis(1005));
    let scraped = scrape(&metrics);
    let call = [("role", "client"), ("kind", "rpc"), ("method", "Get")];
    let bucket = |le: &str| {
        let labels = format!("kind=\"rpc\",method=\"Get\",role=\"client\",service=\"Timed\",le=\"{le}\"");
        scraped.get(&format!("livekit_psrpc_request_time_ms_bucket{{{labels}}}")).copied()
    };
    // 10.9 ms counts as 10 ms: inside the 10 ms bucket.
    assert_eq!(bucket("10"), Some(1.0));
    assert_eq!(scraped.get(&series("request_time_ms_sum", "Timed", &call)), Some(&10.0));
    let claim = |le: &str| {
        let labels = format!("method=\"Get\",outcome=\"timed_out\",service=\"Timed\",le=\"{le}\"");
        scraped.get(&format!("livekit_psrpc_claim_wait_time_ms_bucket{{{labels}}}")).copied()
    };
    assert_eq!(claim("1000"), Some(0.0));
    assert_eq!(claim("3000"), Some(1.0));
}

/// Registered in a `prometheus-client` registry and written in its
/// Prometheus text format, the series are Go's: names, labels in name order,
/// `le` values.
#[test]
fn a_registry_writes_the_same_series() {
    let metrics = PsrpcMetrics::livekit().with_const_labels([("node_id", "ND_1")]);
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    let info = RpcInfo::new(
        "Timed".into(),
        &MethodInfo::new("Get", MethodKind::Unary(Selection::Queue { topics: false })),
        vec![],
    );
    metrics.on_unary(Role::Client, &info, Duration::from_millis(7), Ok(()), 1, 2);
    metrics.on_unary(Role::Server, &info, Duration::from_millis(7), Err(&Error::new(ErrorCode::NotFound, "x")), 1, 0);
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).expect("encode");
    let labels = r#"kind="rpc",method="Get",node_id="ND_1",role="client",service="Timed""#;
    assert!(text.contains(&format!("livekit_psrpc_request_time_ms_bucket{{{labels},le=\"10\"}} 1\n")), "{text}");
    assert!(text.contains("# TYPE livekit_psrpc_error_total counter\n"), "{text}");
    let error = r#"error_code="not_found",kind="rpc",method="Get",node_id="ND_1",role="server",service="Timed""#;
    assert!(text.contains(&format!("livekit_psrpc_error_total{{{error}}} 1\n")), "{text}");
}
