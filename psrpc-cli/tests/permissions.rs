//! `psrpc permissions` against brokers configured with exactly what it
//! prints: a nats-server whose users have the printed subject permissions,
//! and a Redis whose users have the printed ACL. A server and a client of
//! namespace `a` with their rules serve and call every kind of method and
//! see each other in discovery; a user with the rules of namespace `b`, or
//! of another service, can neither receive `a`'s requests nor inject
//! requests into `a`: the broker refuses, and the refused side fails with
//! `permission_denied` naming the channel or subject.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use psrpc::discovery::{Registry, RegistryOptions};
use psrpc::transport::channel::request_channel;
use psrpc::{ClientOptions, ErrorCode, MessageBus as _, RequestOptions, RpcClient, RpcServer, SharedBus};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::connect;
use psrpc_test_support::nats_permissions::{NatsUser, PermittedNats};
use psrpc_test_support::redis::RedisServer;
use serde_json::Value;

const PASSWORD: &str = "s3cret";

/// A service other than `Greeter`, and its `.proto`.
const OTHER: (&str, &str) = ("MyService", concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/examples/my_service.proto"));

/// What `psrpc permissions --json` prints for `Greeter`.
async fn permissions(broker: &str, role: &str, namespace: &str) -> Value {
    permissions_of(("Greeter", PROTO), broker, role, namespace).await
}

/// What `psrpc permissions --json` prints for `service` of `proto`.
async fn permissions_of((service, proto): (&str, &str), broker: &str, role: &str, namespace: &str) -> Value {
    let args = [
        "--json",
        "permissions",
        service,
        "--proto",
        proto,
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
    // The queue subscriber of Jobs lives in the server's process, on its
    // connection: on NATS a service's queue methods and queue subscriptions
    // share one queue subject (docs/WIRE.md section 5), so a queue
    // subscriber in another process would share the Echo requests and the
    // server would share the jobs. That process is a client too (a client
    // subscribes its response channel): its user has the rules of both
    // roles (on Redis the roles' rules are the same).
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

/// The subjects of a printed NATS allow list (`"publish"` or `"subscribe"`).
fn subjects(printed: &Value, list: &str) -> Vec<String> {
    printed[list].as_array().expect("a list").iter().map(|s| s.as_str().expect("a subject").to_owned()).collect()
}

/// A NATS user allowed to publish what `publish` allows and to subscribe
/// to what `subscribe` allows (two printed rule sets).
fn nats_user(name: &str, publish: &Value, subscribe: &Value) -> NatsUser {
    NatsUser::new(name, subjects(publish, "publish"), subjects(subscribe, "subscribe"))
}

/// `err` is `permission_denied` and names `subject`.
fn refused(err: &psrpc::Error, subject: &str) {
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    assert!(err.message().contains(&format!("subject {subject}")), "names {subject}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_users_with_the_printed_permissions() {
    let greeter = |role: &'static str, namespace: &'static str| permissions("nats", role, namespace);
    let other = |role: &'static str| permissions_of(OTHER, "nats", role, "a");
    let (server_a, client_a, server_b, client_b) = (
        greeter("server", "a").await,
        greeter("client", "a").await,
        greeter("server", "b").await,
        greeter("client", "b").await,
    );
    // The process of `every_kind`'s server is also a client (its Jobs worker).
    let server_process_a = greeter("both", "a").await;
    let (other_server, other_client) = (other("server").await, other("client").await);
    let users = [
        nats_user("server_a", &server_process_a, &server_process_a),
        nats_user("client_a", &client_a, &client_a),
        nats_user("server_b", &server_b, &server_b),
        nats_user("client_b", &client_b, &client_b),
        // Users of another service in namespace `a`.
        nats_user("other_server_a", &other_server, &other_server),
        nats_user("other_client_a", &other_client, &other_client),
        // Hears Greeter's answers but publishes only the other service's requests.
        nats_user("caller_a", &other_client, &client_a),
        // Receives Greeter's requests but publishes only the other service's answers.
        nats_user("mute_server_a", &other_server, &server_a),
    ];
    let Some(nats) = skip_or_fail(PermittedNats::start(&users)) else { return };
    let url = |user: &str| format!("{}?namespace=a", nats.url(user));
    let nats_bus = |user: &str| {
        let url = url(user);
        async move { psrpc::nats::NatsBus::connect(&url, Default::default()).await }
    };

    let server = every_kind(&url("server_a"), &url("client_a")).await;

    // Users of namespace `b`: the readiness subject of `a` is refused, so
    // they cannot even connect in `a`.
    for user in ["server_b", "client_b"] {
        let err = psrpc::Error::from(nats_bus(user).await.expect_err("refused"));
        refused(&err, "a._PSRPC.ready.");
    }

    // Users of another service in `a`: their subscription to `a`'s
    // requests and their publish of a request are refused.
    let rogue_server = connect(&url("other_server_a")).await;
    let err = rogue_server.subscribe_queue(&echo_requests(), 8).await.expect_err("refused");
    refused(&psrpc::Error::from(err), "a.SRV.Greeter.Q");
    let rogue = RpcServer::new("Greeter", rogue_server, psrpc::ServerOptions::default());
    let err = rogue.register_unary(&ECHO, vec![], echo, None).await.expect_err("cannot serve a's requests");
    refused(&err, "a.SRV.Greeter");
    let rogue_client = connect(&url("other_client_a")).await;
    let err = rogue_client.publish(&echo_requests(), "injected".into()).await.expect_err("refused");
    refused(&psrpc::Error::from(err), "a.SRV.Greeter.Q");
    let err = RpcClient::new("Greeter", rogue_client, ClientOptions::default()).await.expect_err("no client");
    refused(&err, "a.CLI.Greeter.");

    // A client whose request is refused fails with permission_denied, not
    // at its (long) deadline.
    let caller = RpcClient::new("Greeter", connect(&url("caller_a")).await, long_calls()).await.expect("client");
    let note = Note { text: "hi".into(), count: 1 };
    let err = caller.request_single::<Note, Note>(&ECHO, vec![], &note, RequestOptions::default()).await;
    refused(&err.expect_err("refused"), "a.SRV.Greeter.Q");
    server.shutdown().await;

    // A server that may not answer: its claim is refused (logged, counted);
    // the broker cannot tell the caller, which gets no answer.
    let mute_bus = nats_bus("mute_server_a").await.expect("connects");
    let mute = RpcServer::new("Greeter", Arc::new(mute_bus.clone()), psrpc::ServerOptions::default());
    mute.register_unary(&ECHO, vec![], echo, None).await.expect("may receive requests");
    let client =
        RpcClient::new("Greeter", connect(&url("client_a")).await, ClientOptions::default()).await.expect("client");
    let err = client.request_single::<Note, Note>(&ECHO, vec![], &note, RequestOptions::default()).await;
    assert_eq!(err.expect_err("no answer").code(), ErrorCode::Unavailable);
    let answer = psrpc::transport::channel::response_channel("Greeter", "CLI_x");
    let err = mute_bus.publish(&answer, "answer".into()).await.expect_err("refused");
    refused(&psrpc::Error::from(err), "a.CLI.Greeter.CLI_x.RES");
    assert!(mute_bus.permission_violations() >= 1);
    mute.shutdown().await;
}

/// Client options whose calls wait far longer than a refusal takes.
fn long_calls() -> ClientOptions {
    ClientOptions::default().timeout(Duration::from_secs(600))
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
