//! Secrets never leak: no password, token or key given to a bus shows in the
//! `Debug` or `Display` of an option, a bus or an error, nor in anything
//! logged — every `tracing` event and span field at TRACE level, from every
//! crate, and every `log` record (redis-rs logs through `log`) — whether the
//! broker is unreachable, refuses the credentials, or accepts them and
//! later goes away.
//!
//! Metrics and traces: psrpc-prometheus labels are the service, method,
//! role, kind, direction and error code (plus constant labels the user
//! gives), never a bus URL; psrpc-otel records the error message of a
//! failed call (`exception.message`), so the tests also check the messages
//! of calls failing on a bus whose broker is gone.

use std::io::Write;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use psrpc::nats::{ConnectOptions, NatsBus};
use psrpc::redis::{RedisBus, RedisBusOptions};
use psrpc::{
    ClientOptions, Error, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection,
    ServerOptions, SharedBus,
};
use psrpc_integration_tests::Note;
use psrpc_test_support::broker::{free_port, skip_or_fail};
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;

static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));

// --- everything logged, at TRACE level --------------------------------------

static LOGGED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Captured;

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGGED.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct LogRecords;

impl log::Log for LogRecords {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}\n", record.level(), record.target(), record.args());
        LOGGED.lock().expect("log buffer").extend_from_slice(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Captures every tracing event (with its spans' fields, and span
/// lifecycles with theirs) and every `log` record from here on.
fn capture_everything() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_ansi(false)
            .with_writer(|| Captured)
            .init();
        log::set_logger(&LogRecords).expect("the only logger");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Fails if any of `secrets` is in `text`.
fn assert_hidden(secrets: &[&str], what: &str, text: &str) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} shows the secret {secret:?}: {text}");
    }
}

/// `{:?}` and `{}` of `value`, checked.
fn assert_formats_hide<T: std::fmt::Debug + std::fmt::Display>(secrets: &[&str], what: &str, value: &T) {
    assert_hidden(secrets, what, &format!("{value:?}"));
    assert_hidden(secrets, what, &format!("{value}"));
    assert_hidden(secrets, what, &format!("{value:#?}"));
}

fn assert_nothing_logged(secrets: &[&str]) {
    let logged = String::from_utf8_lossy(&LOGGED.lock().expect("log buffer")).into_owned();
    assert!(!logged.is_empty(), "the capture works");
    assert_hidden(secrets, "the log", &logged);
}

fn unreachable_port() -> u16 {
    free_port()
}

async fn echo(_: RequestContext, note: Note) -> Result<Note, Error> {
    Ok(note)
}

/// A call over `bus` (server and client on it) succeeds.
async fn a_call_works(bus: SharedBus) -> (RpcServer, RpcClient) {
    let server = RpcServer::new("Secrets", bus.clone(), ServerOptions::default());
    server.register_unary(&ECHO, (), echo, None).await.expect("register");
    let options = ClientOptions::default().timeout(Duration::from_secs(3));
    let client = RpcClient::new("Secrets", bus, options).await.expect("client");
    let note = Note { text: "hi".into() };
    let reply = client.request_single::<Note, Note>(&ECHO, (), &note, RequestOptions::default()).await.expect("call");
    assert_eq!(reply.message, note);
    (server, client)
}

// --- Redis --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_urls_options_and_errors_hide_passwords() {
    capture_everything();
    const SECRETS: &[&str] =
        &["RedisPw0unreach", "SentinelPw0unreach", "BadUrlPw0secret", "ClusterPw0unreach", "QueryPw0secret"];
    let options = RedisBusOptions::default().response_timeout(Duration::from_millis(500));
    assert_hidden(SECRETS, "RedisBusOptions", &format!("{options:?}"));

    let port = unreachable_port();
    let urls = [
        format!("redis://ada:RedisPw0unreach@127.0.0.1:{port}/0"),
        format!("redis://:RedisPw0unreach@127.0.0.1:{port}"),
        format!("rediss://ada:RedisPw0unreach@127.0.0.1:{port}?tls_insecure=true"),
        format!("redis+sentinel://ada:RedisPw0unreach@127.0.0.1:{port}/mymaster?sentinel_password=SentinelPw0unreach"),
        format!("redis+sentinel://127.0.0.1:{port}/m?sentinel_username=sam&sentinel_password=SentinelPw0unreach"),
        format!("redis+cluster://ada:ClusterPw0unreach@127.0.0.1:{port}"),
        // Not URLs psrpc takes: the error shows them redacted.
        "redis://ada:BadUrlPw0secret@127.0.0.1:notaport".to_owned(),
        "redis://ada:BadUrlPw0secret@".to_owned(),
        "redis+sentinel://ada:BadUrlPw0secret@h1:1,h2:2/m?sentinel_password=BadUrlPw0secret&bogus=1".to_owned(),
        "redis+sentinel://ada:BadUrlPw0secret@h1:1".to_owned(),
        "http://ada:BadUrlPw0secret@h1:1".to_owned(),
        "ada:BadUrlPw0secret@nowhere".to_owned(),
        "redis://ada:BadUrlPw0secret@127.0.0.1:1?tls_ca=/no/such/file.pem".to_owned(),
        format!("redis://127.0.0.1:{port}/0?password=QueryPw0secret"),
        format!("redis://127.0.0.1:{port}/0?bogus=1&password=QueryPw0secret"),
        format!("redis+sentinel://127.0.0.1:{port}/m?password=QueryPw0secret"),
    ];
    for url in &urls {
        let err = RedisBus::connect(url, options.clone()).await.expect_err("no Redis there");
        assert_formats_hide(SECRETS, "a Redis connection error", &err);
    }

    // The same, given as connection infos.
    use redis::IntoConnectionInfo as _;
    let info = |url: String| url.into_connection_info().expect("a connection info");
    let node = info(format!("redis://ada:RedisPw0unreach@127.0.0.1:{port}"));
    let sentinel = info(format!("redis://:SentinelPw0unreach@127.0.0.1:{port}"));
    let sentinels = [format!("127.0.0.1:{port}")];
    let sentinels: Vec<&str> = sentinels.iter().map(String::as_str).collect();
    let err = RedisBus::connect_sentinel(&sentinels, "mymaster", node.clone(), sentinel, options.clone())
        .await
        .expect_err("no Sentinel there");
    assert_formats_hide(SECRETS, "a Sentinel connection error", &err);
    let seeds = vec![info(format!("redis://ada:ClusterPw0unreach@127.0.0.1:{port}"))];
    let err = RedisBus::connect_cluster(seeds, psrpc::redis::ClusterPubSub::Classic, options.clone())
        .await
        .expect_err("no cluster there");
    assert_formats_hide(SECRETS, "a cluster connection error", &err);
    let client = redis::Client::open(node).expect("a client");
    let err = RedisBus::from_client(client, options.clone()).await.expect_err("no Redis there");
    assert_formats_hide(SECRETS, "a Redis connection error (from a client)", &err);
    assert_nothing_logged(SECRETS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_refusing_or_accepting_a_password_never_shows_it() {
    capture_everything();
    const SECRETS: &[&str] = &["RedisPw1real", "RedisPw1wrong"];
    let Some(mut redis) = skip_or_fail(RedisServer::start_with(&["--requirepass", "RedisPw1real"])) else { return };
    let port = redis.port_of_url();
    let options = RedisBusOptions::default().response_timeout(Duration::from_secs(1));

    for wrong in [
        format!("redis://:RedisPw1wrong@127.0.0.1:{port}"),
        format!("redis://default:RedisPw1wrong@127.0.0.1:{port}"),
        format!("redis://127.0.0.1:{port}"),
    ] {
        let err = RedisBus::connect(&wrong, options.clone()).await.expect_err("refused");
        assert_formats_hide(SECRETS, "a refused Redis connection", &err);
    }

    let bus = RedisBus::connect(&format!("redis://:RedisPw1real@127.0.0.1:{port}"), options.clone())
        .await
        .expect("the right password");
    assert_hidden(SECRETS, "RedisBus", &format!("{bus:?}"));
    let bus: SharedBus = Arc::new(bus);
    let (_server, client) = a_call_works(bus.clone()).await;

    // The broker goes: calls fail, the bus reconnects in the background.
    redis.stop();
    let note = Note { text: "gone".into() };
    let timeout = RequestOptions::default().timeout(Duration::from_millis(500));
    let err = client.request_single::<Note, Note>(&ECHO, (), &note, timeout).await.expect_err("no broker");
    assert_formats_hide(SECRETS, "a call's error", &err);
    assert_hidden(SECRETS, "a call's error message (psrpc-otel's exception.message)", err.message());
    let err = bus.publish(&psrpc::transport::channel::response_channel("S", "C"), vec![1].into()).await;
    if let Err(err) = err {
        assert_formats_hide(SECRETS, "a publish error", &err);
    }
    bus.close().await;
    assert_nothing_logged(SECRETS);
}

// --- NATS ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_urls_and_errors_hide_passwords_and_tokens() {
    capture_everything();
    const SECRETS: &[&str] = &["NatsPw0unreach", "NatsTok0unreach"];
    let with_password = ConnectOptions::new().user_and_password("ada".into(), "NatsPw0unreach".into());
    assert_hidden(SECRETS, "ConnectOptions", &format!("{with_password:?}"));
    assert_hidden(SECRETS, "ConnectOptions", &format!("{:?}", ConnectOptions::new().token("NatsTok0unreach".into())));
    let port = unreachable_port();
    let urls = [
        format!("nats://ada:NatsPw0unreach@127.0.0.1:{port}"),
        format!("nats://NatsTok0unreach@127.0.0.1:{port}"),
        format!("tls://ada:NatsPw0unreach@127.0.0.1:{port}"),
        format!("nats://ada:NatsPw0unreach@127.0.0.1:{port},nats://NatsTok0unreach@127.0.0.1:{port}"),
        "nats://ada:NatsPw0unreach@127.0.0.1:notaport".to_owned(),
        "nats://ada:NatsPw0unreach@".to_owned(),
        "ada:NatsPw0unreach@nowhere:4222".to_owned(),
    ];
    for url in &urls {
        let err = NatsBus::connect(url, ConnectOptions::new()).await.expect_err("no NATS there");
        assert_formats_hide(SECRETS, "a NATS connection error", &err);
    }
    let err = NatsBus::connect(&format!("nats://127.0.0.1:{port}"), with_password).await.expect_err("no NATS there");
    assert_formats_hide(SECRETS, "a NATS connection error (credentials in the options)", &err);
    assert_nothing_logged(SECRETS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_refusing_or_accepting_credentials_never_shows_them() {
    capture_everything();
    const SECRETS: &[&str] = &["NatsPw1real", "NatsPw1wrong", "NatsTok1wrong"];
    let Some(mut nats) = skip_or_fail(NatsServer::start_with(&["--user", "ada", "--pass", "NatsPw1real"])) else {
        return;
    };
    let port = nats.port_of_url();
    for wrong in [
        format!("nats://ada:NatsPw1wrong@127.0.0.1:{port}"),
        format!("nats://NatsTok1wrong@127.0.0.1:{port}"),
        format!("nats://127.0.0.1:{port}"),
    ] {
        let err = NatsBus::connect(&wrong, ConnectOptions::new()).await.expect_err("refused");
        assert_formats_hide(SECRETS, "a refused NATS connection", &err);
    }
    let options = ConnectOptions::new().user_and_password("ada".into(), "NatsPw1wrong".into());
    let err = NatsBus::connect(&format!("nats://127.0.0.1:{port}"), options).await.expect_err("refused");
    assert_formats_hide(SECRETS, "a refused NATS connection (credentials in the options)", &err);

    let bus = NatsBus::connect(&format!("nats://ada:NatsPw1real@127.0.0.1:{port}"), ConnectOptions::new())
        .await
        .expect("the right password");
    assert_hidden(SECRETS, "NatsBus", &format!("{bus:?}"));
    let bus: SharedBus = Arc::new(bus);
    let (_server, client) = a_call_works(bus.clone()).await;

    nats.stop();
    let note = Note { text: "gone".into() };
    let timeout = RequestOptions::default().timeout(Duration::from_millis(500));
    let err = client.request_single::<Note, Note>(&ECHO, (), &note, timeout).await.expect_err("no broker");
    assert_formats_hide(SECRETS, "a call's error", &err);
    assert_hidden(SECRETS, "a call's error message (psrpc-otel's exception.message)", err.message());
    bus.close().await;
    assert_nothing_logged(SECRETS);
}

/// The port of a broker started here, from its URL.
trait PortOfUrl {
    fn port_of_url(&self) -> u16;
}

impl<B: std::ops::Deref<Target = psrpc_test_support::broker::Broker>> PortOfUrl for B {
    fn port_of_url(&self) -> u16 {
        let url = self.url();
        url.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).expect("a port in the URL")
    }
}

/// Request metadata may carry credentials (an `authorization` entry): no
/// span or event records metadata values, on the client or the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_metadata_is_never_logged() {
    capture_everything();
    const SECRETS: &[&str] = &["MetaTok0bearer"];
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let (_server, client) = a_call_works(bus).await;
    let note = Note { text: "hi".into() };
    let options = RequestOptions::default().metadata("authorization", "Bearer MetaTok0bearer");
    client.request_single::<Note, Note>(&ECHO, (), &note, options).await.expect("call");
    assert_nothing_logged(SECRETS);
}
