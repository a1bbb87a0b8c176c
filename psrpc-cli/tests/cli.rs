//! The `psrpc` binary against live servers on NATS and Redis (the
//! in-process bus is not reachable from another process; the library tests
//! cover discovery there).

mod common;

use common::*;
use psrpc::{RpcServer, ServerOptions};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::connect;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;

/// `psrpc sub` for two messages of `News`, published once it says it is subscribed.
async fn sub_two(url: &str, publisher: &RpcServer) -> Output {
    let mut child = spawn_psrpc(url, &["sub", "Greeter.News", "--proto", PROTO, "--count", "2"], false);
    stderr_says(&mut child, "subscribed to Greeter.News").await;
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
