//! `psrpc permissions` against brokers configured with exactly what it
//! prints: a nats-server whose users have the printed subject permissions,
//! and a Redis whose users have the printed ACL. A server and a client of
//! namespace `a` with their rules serve and call every kind of method and
//! see each other in discovery; a user with the rules of namespace `b`
//! can neither receive `a`'s requests nor inject requests into `a`: the
//! broker refuses.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use psrpc::discovery::{Registry, RegistryOptions};
use psrpc::transport::channel::request_channel;
use psrpc::{ClientOptions, ErrorCode, MessageBus as _, RequestOptions, RpcClient, RpcServer, SharedBus};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::connect;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use serde_json::Value;
use tokio::sync::mpsc;

const PASSWORD: &str = "s3cret";

/// What `psrpc permissions --json` prints for `Greeter`.
async fn permissions(broker: &str, role: &str, namespace: &str) -> Value {
    let args = [
        "--json",
        "permissions",
        "Greeter",
        "--proto",
        PROTO,
        "--broker",
        broker,
        "--role",
        role,
        "--namespace",
        namespace,
    ];
    let out = psrpc("", &args, None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).expect("one JSON object")
}

/// A server of namespace `a` and a client of it, each with its own user,
/// serve and call every kind of method and find each other by discovery.
async fn every_kind(server_url: &str, client_url: &str) -> RpcServer {
    let server_bus = connect(server_url).await;
    let server = greeter(server_bus.clone()).await;
    let client_bus = connect(client_url).await;
    let client =
        RpcClient::new("Greeter", client_bus.clone(), ClientOptions::default().timeout(Duration::from_secs(5)))
            .await
            .expect("client");
    let note = Note { text: "hi".into(), count: 1 };
    let reply = client.request_single::<Note, Note>(&ECHO, vec![], &note, RequestOptions::default()).await;
    assert_eq!(reply.expect("queue call").message.count, 2);
    let reply = client.request_single::<Note, Note>(&PICK, vec![], &note, RequestOptions::default()).await;
    assert_eq!(reply.expect("affinity call").server_id, server.id());
    let reply = client.request_single::<Note, Note>(&LOCAL, vec!["eu".into()], &note, RequestOptions::default()).await;
    assert_eq!(reply.expect("call on a topic").message.count, 2);
    let census =
        client.request_multi::<Note, Note>(&CENSUS, vec![], &note, RequestOptions::default().expected_responses(1));
    let answers = census.await.expect("multi call").collect_all().await;
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].server_id, server.id());

    let mut chat = client.open_stream::<Note, Note>(&CHAT, vec![], RequestOptions::default()).await.expect("stream");
    chat.send(&note).await.expect("send");
    assert_eq!(chat.recv().await.expect("open").expect("reply").text, "HI");
    chat.close(None).await.expect("close");

    let mut news = client.subscribe::<Note>(&NEWS, vec![]).await.expect("subscribe News");
    // The queue subscriber of Jobs lives in the server's process, with the
    // server's permissions: on NATS a service's queue methods and queue
    // subscriptions share one queue subject (docs/WIRE.md section 5), so a
    // queue subscriber in another process would share the Echo requests
    // and the server would share the jobs.
    let worker = RpcClient::new("Greeter", server_bus, ClientOptions::default()).await.expect("worker");
    let mut jobs = worker.subscribe::<Note>(&JOBS, vec![]).await.expect("subscribe Jobs");
    server.publish(&NEWS, vec![], &note).await.expect("publish News");
    server.publish(&JOBS, vec![], &note).await.expect("publish Jobs");
    assert_eq!(news.recv().await, Some(note.clone()));
    assert_eq!(jobs.recv().await, Some(note));

    let registry = Registry::new(client_bus, RegistryOptions::default()).await.expect("registry");
    let listed = registry.wait_for("Greeter", Duration::from_secs(30)).await.expect("listed");
    assert_eq!(listed.iter().map(|i| i.server_id.as_str()).collect::<Vec<_>>(), [server.id()]);
    server
}

/// `Note` frames of a queue request on `Greeter.Echo`, as a rogue client
/// would inject them (their content does not matter: the broker refuses
/// the publish before anyone reads it).
fn echo_requests() -> psrpc::transport::channel::Channel {
    request_channel("Greeter", "Echo", &[] as &[&str], true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_users_with_the_printed_permissions() {
    let dir = TempDir::new("nats-permissions");
    let mut users = Vec::new();
    for (user, role, namespace) in [
        ("server_a", "server", "a"),
        ("client_a", "client", "a"),
        ("server_b", "server", "b"),
        ("client_b", "client", "b"),
    ] {
        let printed = permissions("nats", role, namespace).await;
        users.push(format!(
            "{{ user: \"{user}\", password: \"{PASSWORD}\", permissions: {{ publish: {{ allow: {} }}, subscribe: {{ allow: {} }} }} }}",
            printed["publish"], printed["subscribe"]
        ));
    }
    let config = dir.path().join("nats.conf");
    std::fs::write(&config, format!("authorization {{\n  users = [\n    {}\n  ]\n}}\n", users.join(",\n    ")))
        .expect("config");
    let Some(nats) = skip_or_fail(NatsServer::start_with(&["-c", &config.display().to_string()])) else { return };
    let port = nats.url().rsplit(':').next().expect("port").to_owned();
    let url = |user: &str, namespace: &str| format!("nats://{user}:{PASSWORD}@127.0.0.1:{port}?namespace={namespace}");

    let server = every_kind(&url("server_a", "a"), &url("client_a", "a")).await;

    // A user of namespace `b` in namespace `a`: the broker refuses its
    // subscription to `a`'s requests and its publish of a request. NATS
    // says so asynchronously, as a server error on the connection.
    for (user, subscribe) in [("server_b", true), ("client_b", false)] {
        let (violations, mut seen) = mpsc::unbounded_channel();
        let options = psrpc::nats::ConnectOptions::new().event_callback(move |event| {
            let violations = violations.clone();
            async move {
                let _ = violations.send(format!("{event:?}"));
            }
        });
        let rogue = psrpc::nats::NatsBus::connect(&url(user, "a"), options).await.expect("connects");
        let subject = if subscribe {
            // The subscribe itself never completes: its readiness probe is refused too.
            let bus = rogue.clone();
            tokio::spawn(async move { bus.subscribe_queue(&echo_requests(), 8).await.map(drop) });
            "Subscription to \\\"a.SRV.Greeter.Q\\\""
        } else {
            rogue.publish(&echo_requests(), "injected".into()).await.expect("sent (NATS refuses it later)");
            "Publish to \\\"a.SRV.Greeter.Q\\\""
        };
        loop {
            let event = seen.recv().await.expect("the server reports the violation");
            if event.contains("Permissions Violation") && event.contains(subject) {
                break;
            }
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_users_with_the_printed_acl() {
    let Some(redis) = skip_or_fail(RedisServer::start_own()) else { return };
    let admin = redis::Client::open(redis.url()).expect("admin client");
    let mut admin = admin.get_multiplexed_async_connection().await.expect("admin connection");
    for (user, role, namespace) in [
        ("server_a", "server", "a"),
        ("client_a", "client", "a"),
        ("server_b", "server", "b"),
        ("client_b", "client", "b"),
    ] {
        let printed = permissions("redis", role, namespace).await;
        let mut acl = redis::cmd("ACL");
        acl.arg("SETUSER").arg(user).arg("reset").arg("on").arg(format!(">{PASSWORD}"));
        for rule in printed["rules"].as_array().expect("rules") {
            acl.arg(rule.as_str().expect("a rule"));
        }
        let () = acl.query_async(&mut admin).await.expect("ACL SETUSER");
    }
    let host = redis.url().strip_prefix("redis://").expect("redis URL").to_owned();
    let url = |user: &str, namespace: &str| format!("redis://{user}:{PASSWORD}@{host}?namespace={namespace}");

    let server = every_kind(&url("server_a", "a"), &url("client_a", "a")).await;

    // A user of namespace `b` in namespace `a`: Redis refuses at once, and
    // the error names the channel.
    let rogue_server = connect(&url("server_b", "a")).await;
    let err = rogue_server.subscribe_queue(&echo_requests(), 8).await.expect_err("refused");
    assert_eq!(psrpc::Error::from(err).code(), ErrorCode::PermissionDenied);
    let rogue = RpcServer::new("Greeter", rogue_server, psrpc::ServerOptions::default());
    let err = rogue.register_unary(&ECHO, vec![], echo, None).await.expect_err("cannot serve a's requests");
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    assert!(err.message().contains("channel a|Greeter|Echo|"), "names the channel: {err}");

    let rogue_client: SharedBus = connect(&url("client_b", "a")).await;
    let err = rogue_client.publish(&echo_requests(), "injected".into()).await.expect_err("refused");
    let err = psrpc::Error::from(err);
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    assert!(err.message().contains("a|Greeter|Echo|REQ"), "{err}");
    let err =
        RpcClient::new("Greeter", Arc::clone(&rogue_client), ClientOptions::default()).await.expect_err("no client");
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    server.shutdown().await;
}
