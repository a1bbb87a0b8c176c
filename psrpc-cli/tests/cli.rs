//! The `psrpc` binary against live servers on NATS and Redis (the
//! in-process bus is not reachable from another process; the library tests
//! cover discovery there).

use std::process::Stdio;
use std::time::Duration;

use psrpc::{
    Delivery, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RpcServer, Selection, ServerOptions,
    ServerStream, SharedBus,
};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::connect;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

#[derive(Clone, PartialEq, prost::Message)]
struct Note {
    #[prost(string, tag = "1")]
    text: String,
    #[prost(int32, tag = "2")]
    count: i32,
}

impl prost::Name for Note {
    const NAME: &'static str = "Note";
    const PACKAGE: &'static str = "demo";
}

static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
static CENSUS: MethodInfo = MethodInfo::new("Census", MethodKind::Multi { topics: false });
static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));
static NEWS: MethodInfo =
    MethodInfo::new("News", MethodKind::Subscription { delivery: Delivery::Every, topics: false });

const PROTO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/greeter.proto");

async fn echo(ctx: RequestContext, note: Note) -> Result<Note, Error> {
    if note.text == "fail" {
        return Err(Error::new(ErrorCode::NotFound, "no such greeting"));
    }
    let who = ctx.metadata().get("who").cloned().unwrap_or_default();
    Ok(Note { text: format!("{}{who}", note.text), count: note.count + 1 })
}

async fn chat(mut stream: ServerStream<Note, Note>) -> Result<(), Error> {
    while let Some(note) = stream.recv().await? {
        stream.send(&Note { text: note.text.to_uppercase(), count: note.count }).await?;
    }
    Ok(())
}

async fn greeter(bus: SharedBus) -> RpcServer {
    let server = RpcServer::new("Greeter", bus, ServerOptions::default());
    server.register_unary(&ECHO, vec![], echo, None).await.expect("Echo");
    server.register_unary(&CENSUS, vec![], echo, None).await.expect("Census");
    server.register_stream(&CHAT, vec![], chat, None).await.expect("Chat");
    server
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Starts the binary with `PSRPC_BUS=bus`.
fn spawn_psrpc(bus: &str, args: &[&str], stdin: bool) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_psrpc"))
        .args(args)
        .env("PSRPC_BUS", bus)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the psrpc binary runs")
}

/// Waits (at most 20 s) for the binary to exit and collects what it printed.
async fn finish(child: tokio::process::Child) -> Output {
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("psrpc finished")
        .expect("output");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn psrpc(bus: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = spawn_psrpc(bus, args, stdin.is_some());
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).await.expect("stdin");
    }
    finish(child).await
}

/// `psrpc sub` for two messages of `News`, published once it says it is subscribed.
async fn sub_two(url: &str, publisher: &RpcServer) -> Output {
    let mut child = spawn_psrpc(url, &["sub", "Greeter.News", "--proto", PROTO, "--count", "2"], false);
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let subscribed = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = stderr.next_line().await.expect("stderr") {
            if line.contains("subscribed to Greeter.News") {
                return true;
            }
        }
        false
    });
    assert!(subscribed.await.expect("psrpc sub subscribes"), "psrpc sub exited before subscribing");
    for count in 0..2 {
        publisher.publish(&NEWS, vec![], &Note { text: "news".into(), count }).await.expect("publish");
    }
    finish(child).await
}

async fn exercise(url: &str) {
    let one = greeter(connect(url).await).await;
    let two = greeter(connect(url).await).await;
    let call = |method: &'static str, json: &'static str| ["call", method, json, "--proto", PROTO];

    let ls = psrpc(url, &["ls", "--wait", "2s"], None).await;
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    assert!(
        ls.stdout.starts_with("SERVICE") && ls.stdout.contains(one.id()) && ls.stdout.contains(two.id()),
        "{}",
        ls.stdout
    );

    let info = psrpc(url, &["info", "Greeter", "--wait", "2s"], None).await;
    assert_eq!(info.code, 0, "{}", info.stderr);
    for expected in ["Echo", "unary:queue", "Census", "multi", "Chat", "stream:queue", one.id()] {
        assert!(info.stdout.contains(expected), "{expected} in {}", info.stdout);
    }

    let reply =
        psrpc(url, &[&call("Greeter.Echo", r#"{"text": "hi ", "count": 1}"#)[..], &["-H", "who=ada"]].concat(), None)
            .await;
    assert_eq!(reply.code, 0, "{}", reply.stderr);
    let json: serde_json::Value = serde_json::from_str(reply.stdout.trim()).expect("JSON out");
    assert_eq!(json, serde_json::json!({"text": "hi ada", "count": 2}));

    // The servers count a call before they answer it: the statistics show it.
    let counted = |stdout: &str| {
        stdout.starts_with("SERVER")
            && stdout.lines().filter(|l| l.contains("Echo")).any(|l| l.split_whitespace().nth(2) == Some("1"))
    };
    let stats = psrpc(url, &["stats", "Greeter", "--wait", "2s"], None).await;
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert!(counted(&stats.stdout), "{}", stats.stdout);

    let census = psrpc(url, &[&call("Greeter.Census", "{}")[..], &["--multi", "--timeout", "1s"]].concat(), None).await;
    assert_eq!(census.code, 0, "{}", census.stderr);
    assert_eq!(census.stdout.lines().count(), 2, "one line per server: {}", census.stdout);

    let bad = psrpc(url, &call("Greeter.Echo", r#"{"nope": 1}"#), None).await;
    assert_eq!(bad.code, 4, "{}", bad.stderr);
    assert!(bad.stderr.contains("nope") && bad.stderr.contains("demo.Note"), "{}", bad.stderr);
    let bad_type = psrpc(url, &call("Greeter.Echo", r#"{"count": "many"}"#), None).await;
    assert_eq!(bad_type.code, 4, "{}", bad_type.stderr);

    let failed = psrpc(url, &call("Greeter.Echo", r#"{"text": "fail"}"#), None).await;
    assert_eq!(failed.code, 5, "{}", failed.stderr);
    assert!(failed.stderr.contains("not_found") && failed.stderr.contains("no such greeting"), "{}", failed.stderr);

    let not_in_proto = psrpc(url, &call("Greeter.Nope", "{}"), None).await;
    assert_eq!(not_in_proto.code, 3, "{}", not_in_proto.stderr);
    assert!(not_in_proto.stderr.contains("Echo"), "lists the methods: {}", not_in_proto.stderr);
    let not_served = psrpc(url, &call("Greeter.Missing", "{}"), None).await;
    assert_eq!(not_served.code, 3, "{}", not_served.stderr);
    assert!(
        not_served.stderr.contains("unimplemented") && not_served.stderr.contains("Missing"),
        "{}",
        not_served.stderr
    );
    let ghost = psrpc(url, &call("Ghost.Boo", "{}"), None).await;
    assert_eq!(ghost.code, 6, "{}", ghost.stderr);
    assert!(ghost.stderr.contains("Ghost"), "{}", ghost.stderr);
    let unknown = psrpc(url, &["info", "Nobody"], None).await;
    assert_eq!(unknown.code, 3, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("Greeter"), "names the services on the bus: {}", unknown.stderr);

    let chat = psrpc(
        url,
        &["stream", "Greeter.Chat", "--proto", PROTO, "--linger", "300ms"],
        Some("{\"text\": \"a\"}\n{\"text\": \"b\", \"count\": 7}\n"),
    )
    .await;
    assert_eq!(chat.code, 0, "{}", chat.stderr);
    let lines: Vec<serde_json::Value> =
        chat.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(lines, [serde_json::json!({"text": "A"}), serde_json::json!({"text": "B", "count": 7})]);

    let sub = sub_two(url, &one).await;
    assert_eq!(sub.code, 0, "{}", sub.stderr);
    assert_eq!(sub.stdout.lines().count(), 2, "{}", sub.stdout);
    assert!(sub.stdout.lines().all(|l| l.contains("\"text\":\"news\"")), "{}", sub.stdout);

    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats() {
    let Some(broker) = skip_or_fail(NatsServer::start_own()) else { return };
    exercise(broker.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis() {
    let Some(broker) = skip_or_fail(RedisServer::start_own()) else { return };
    exercise(broker.url()).await;
}

/// `--native` reaches a service in the native wire mode; without it the
/// server reports the mismatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_services_are_called_with_native() {
    let Some(broker) = skip_or_fail(NatsServer::start_own()) else { return };
    let url = broker.url();
    let options = ServerOptions::default().wire_mode(psrpc::WireMode::Native);
    let server = RpcServer::new("Greeter", connect(url).await, options);
    server.register_unary(&ECHO, vec![], echo, None).await.expect("Echo");
    let call = ["call", "Greeter.Echo", r#"{"text": "hi"}"#, "--proto", PROTO];

    let native = psrpc(url, &[&call[..], &["--native"]].concat(), None).await;
    assert_eq!(native.code, 0, "{}", native.stderr);
    let json: serde_json::Value = serde_json::from_str(native.stdout.trim()).expect("JSON out");
    assert_eq!(json, serde_json::json!({"text": "hi", "count": 1}));

    let mismatched = psrpc(url, &call, None).await;
    assert_eq!(mismatched.code, 5, "{}", mismatched.stderr);
    assert!(mismatched.stderr.contains("failed_precondition"), "{}", mismatched.stderr);
    assert!(mismatched.stderr.contains("wire mode"), "{}", mismatched.stderr);
    server.shutdown().await;
}

#[tokio::test]
async fn help_shows_examples_and_exit_codes() {
    let help = psrpc("nats://127.0.0.1:1", &["--help"], None).await;
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Examples:") && help.stdout.contains("Exit codes:"), "{}", help.stdout);
    let bad_bus = psrpc("http://example", &["ls"], None).await;
    assert_eq!(bad_bus.code, 2, "{}", bad_bus.stderr);
    let unreachable = psrpc("nats://127.0.0.1:1", &["ls"], None).await;
    assert_eq!(unreachable.code, 6, "{}", unreachable.stderr);
}
