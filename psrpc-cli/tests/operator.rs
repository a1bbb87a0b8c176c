//! The `psrpc` binary as an operator uses it on a live fleet, on NATS and
//! Redis: it never takes work from the service it inspects, closes what it
//! opened, names the server that answered, hides passwords, and every
//! command speaks JSON with `--json`.

mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use psrpc::{
    ClientOptions, Error, MethodInfo, MethodKind, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions,
    ServerStream,
};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::connect;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}"))).collect()
}

/// `psrpc sub` on a queue subscription only watches: the service's own
/// queue subscribers still receive every message, and queue calls sharing
/// the service's queue subject (NATS `SRV.Greeter.Q`) all succeed.
async fn sub_watches_without_taking(url: &str) {
    // Each server process also takes jobs, on its own connection (Go-compatible
    // queue methods and queue subscriptions of a service share one NATS queue).
    let (bus_one, bus_two) = (connect(url).await, connect(url).await);
    let one = greeter(bus_one.clone()).await;
    let two = greeter(bus_two.clone()).await;
    let (jobs_tx, mut jobs) = mpsc::unbounded_channel();
    for bus in [bus_one, bus_two] {
        let worker = RpcClient::new("Greeter", bus, ClientOptions::default()).await.expect("worker");
        let mut queue = worker.subscribe::<Note>(&JOBS, vec![]).await.expect("queue subscriber");
        let jobs_tx = jobs_tx.clone();
        tokio::spawn(async move {
            let _worker = worker;
            while let Some(job) = queue.recv().await {
                let _ = jobs_tx.send(job.count);
            }
        });
    }

    let mut watcher = spawn_psrpc(url, &["sub", "Greeter.Jobs", "--proto", PROTO, "--count", "10"], false);
    stderr_says(&mut watcher, "subscribed to Greeter.Jobs").await;
    let caller = RpcClient::new("Greeter", connect(url).await, ClientOptions::default()).await.expect("caller");
    for count in 0..10 {
        one.publish(&JOBS, vec![], &Note { text: "job".into(), count }).await.expect("publish");
        let reply = caller
            .request_single::<Note, Note>(&ECHO, vec![], &Note { text: "x".into(), count }, RequestOptions::default())
            .await
            .expect("no call is lost while psrpc sub runs");
        assert_eq!(reply.message.count, count + 1);
    }
    let mut received = Vec::new();
    for _ in 0..10 {
        let job = tokio::time::timeout(Duration::from_secs(20), jobs.recv()).await.expect("job in time");
        received.push(job.expect("subscribed"));
    }
    received.sort_unstable();
    assert_eq!(received, (0..10).collect::<Vec<_>>(), "the queue subscribers got every job once");
    let watched = finish(watcher).await;
    assert_eq!(watched.code, 0, "{}", watched.stderr);
    assert_eq!(watched.stdout.lines().count(), 10, "psrpc sub saw every job: {}", watched.stdout);
    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_watches_a_queue_without_taking_from_it_on_nats() {
    let Some(broker) = skip_or_fail(NatsServer::start_own()) else { return };
    sub_watches_without_taking(broker.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_watches_a_queue_without_taking_from_it_on_redis() {
    let Some(broker) = skip_or_fail(RedisServer::start_own()) else { return };
    sub_watches_without_taking(broker.url()).await;
}

static TALK: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));

/// Ctrl-C on `psrpc stream` closes the stream: the server's side ends.
async fn interrupt_closes_the_stream(url: &str) {
    let (ended_tx, mut ended) = mpsc::unbounded_channel();
    let server = RpcServer::new("Greeter", connect(url).await, ServerOptions::default());
    server
        .register_stream(
            &TALK,
            vec![],
            move |mut stream: ServerStream<Note, Note>| {
                let ended_tx = ended_tx.clone();
                async move {
                    let outcome = loop {
                        match stream.recv().await {
                            Ok(Some(note)) => stream.send(&note).await?,
                            Ok(None) => break "closed",
                            Err(_) => break "failed",
                        }
                    };
                    let _ = ended_tx.send(outcome);
                    Ok::<(), Error>(())
                }
            },
            None,
        )
        .await
        .expect("Chat");
    let mut child = spawn_psrpc(url, &["stream", "Greeter.Chat", "--proto", PROTO], true);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"{\"text\": \"hello\"}\n").await.expect("stdin");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let echoed = tokio::time::timeout(Duration::from_secs(20), stdout.next_line()).await.expect("echo in time");
    assert_eq!(echoed.expect("stdout").as_deref(), Some(r#"{"text":"hello"}"#));

    let pid = child.id().expect("running").to_string();
    let kill = std::process::Command::new("kill").args(["-INT", &pid]).status().expect("kill runs");
    assert!(kill.success());
    let ended = tokio::time::timeout(Duration::from_secs(20), ended.recv()).await.expect("the stream ends in time");
    assert_eq!(ended, Some("closed"), "the server saw the client close the stream");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.expect("exits").expect("status");
    assert_eq!(status.code(), Some(130));
    drop(stdin);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_closes_the_stream_on_nats() {
    let Some(broker) = skip_or_fail(NatsServer::start_own()) else { return };
    interrupt_closes_the_stream(broker.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_closes_the_stream_on_redis() {
    let Some(broker) = skip_or_fail(RedisServer::start_own()) else { return };
    interrupt_closes_the_stream(broker.url()).await;
}

/// `psrpc sub … | head -1`: the reader goes away, psrpc ends quietly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_sub_quietly() {
    let Some(broker) = skip_or_fail(NatsServer::start_own()) else { return };
    let url = broker.url();
    let server = greeter(connect(url).await).await;
    let mut child = spawn_psrpc(url, &["sub", "Greeter.News", "--proto", PROTO], false);
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let subscribed = tokio::time::timeout(Duration::from_secs(20), stderr.next_line()).await.expect("in time");
    assert!(subscribed.expect("stderr").is_some_and(|l| l.contains("subscribed")));
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    server.publish(&NEWS, vec![], &Note { text: "first".into(), count: 1 }).await.expect("publish");
    let first = tokio::time::timeout(Duration::from_secs(20), stdout.next_line()).await.expect("in time");
    assert!(first.expect("stdout").is_some_and(|l| l.contains("first")));
    drop(stdout); // like `head -1`
    // Publishes until psrpc, writing into the closed pipe, has exited.
    let exited = async {
        loop {
            if let Some(status) = child.try_wait().expect("status") {
                return status;
            }
            server.publish(&NEWS, vec![], &Note { text: "more".into(), count: 2 }).await.expect("publish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let status = tokio::time::timeout(Duration::from_secs(20), exited).await.expect("psrpc exits");
    assert_eq!(status.code(), Some(0), "a closed stdout is not an error");
    let mut said = String::new();
    while let Ok(Some(line)) = stderr.next_line().await {
        said.push_str(&line);
    }
    assert!(!said.contains("panicked") && !said.contains("Broken pipe"), "{said}");
    server.shutdown().await;
}

/// `call` names the answering server and the round trip; `--server`,
/// `--sticky`, `--count`, `-d @`, `--replies`; a multi call ends once every
/// live server answered although its timeout is ten minutes; every
/// discovery command speaks JSON.
async fn calls_and_json(url: &str) {
    let one = greeter(connect(url).await).await;
    let two = greeter(connect(url).await).await;
    let ids = [one.id().to_owned(), two.id().to_owned()];
    let call = |method: &'static str| vec!["call", method, "--proto", PROTO, "--json", "--wait", "3s"];

    let answered = psrpc(url, &[&call("Greeter.Echo")[..], &["-d", "@"]].concat(), Some(r#"{"text": "in"}"#)).await;
    assert_eq!(answered.code, 0, "{}", answered.stderr);
    let line = &json_lines(&answered.stdout)[0];
    assert_eq!(line["response"], serde_json::json!({"text": "in", "count": 1}));
    assert!(ids.iter().any(|id| line["server"] == id.as_str()), "{line}");
    assert!(line["round_trip_us"].as_u64().is_some_and(|us| us > 0), "{line}");

    let human = psrpc(url, &["call", "Greeter.Echo", "{}", "--proto", PROTO], None).await;
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(human.stderr.contains("answered by SRV_"), "{}", human.stderr);

    let queue = psrpc(url, &[&call("Greeter.Echo")[..], &["{}", "--server", &ids[1]]].concat(), None).await;
    assert_eq!(queue.code, 2, "{}", queue.stderr);
    assert!(queue.stderr.contains("needs an affinity method"), "{}", queue.stderr);
    let pinned =
        psrpc(url, &[&call("Greeter.Pick")[..], &["{}", "--server", &ids[1], "--count", "3"]].concat(), None).await;
    assert_eq!(pinned.code, 0, "{}", pinned.stderr);
    let servers: Vec<serde_json::Value> = json_lines(&pinned.stdout).iter().map(|l| l["server"].clone()).collect();
    assert_eq!(servers, vec![serde_json::json!(ids[1]); 3]);

    let sticky =
        psrpc(url, &[&call("Greeter.Pick")[..], &["{}", "--sticky", "cart-7", "--count", "4"]].concat(), None).await;
    assert_eq!(sticky.code, 0, "{}", sticky.stderr);
    let servers: Vec<serde_json::Value> = json_lines(&sticky.stdout).iter().map(|l| l["server"].clone()).collect();
    assert_eq!(servers.len(), 4);
    assert!(servers.iter().all(|s| *s == servers[0]), "one key, one server: {servers:?}");

    let census = psrpc(url, &[&call("Greeter.Census")[..], &["{}", "--timeout", "10m"]].concat(), None).await;
    assert_eq!(census.code, 0, "{}", census.stderr);
    let mut answered_by: Vec<String> =
        json_lines(&census.stdout).iter().map(|l| l["server"].as_str().expect("server").to_owned()).collect();
    answered_by.sort();
    let mut expected = ids.to_vec();
    expected.sort();
    assert_eq!(answered_by, expected, "every server once, without waiting out the timeout");
    let first =
        psrpc(url, &[&call("Greeter.Census")[..], &["{}", "--replies", "1", "--timeout", "10m"]].concat(), None).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(json_lines(&first.stdout).len(), 1);

    let local = psrpc(url, &[&call("Greeter.Local")[..], &["{}", "--topic", "eu"]].concat(), None).await;
    assert_eq!(local.code, 0, "{}", local.stderr);

    for (command, field) in [("ls", "server"), ("info", "methods"), ("stats", "stats"), ("ping", "round_trip_us")] {
        let args: Vec<&str> = match command {
            "ls" => vec!["ls", "--json", "--wait", "3s"],
            _ => vec![command, "Greeter", "--json", "--wait", "3s"],
        };
        let out = psrpc(url, &args, None).await;
        assert_eq!(out.code, 0, "{command}: {}", out.stderr);
        let lines = json_lines(&out.stdout);
        assert_eq!(lines.len(), 2, "{command}: one line per server: {}", out.stdout);
        assert!(lines.iter().all(|l| !l[field].is_null()), "{command}: {}", out.stdout);
    }
    let ping = psrpc(url, &["ping", "Greeter", "--wait", "3s"], None).await;
    assert_eq!(ping.code, 0, "{}", ping.stderr);
    assert!(ping.stdout.starts_with("SERVICE") && ids.iter().all(|id| ping.stdout.contains(id)), "{}", ping.stdout);
    let nobody = psrpc(url, &["ping", "Nobody"], None).await;
    assert_eq!(nobody.code, 3, "{}", nobody.stderr);

    let described = psrpc(url, &["describe", "Greeter", "--json", "--wait", "3s"], None).await;
    assert_eq!(described.code, 0, "{}", described.stderr);
    let echo = json_lines(&described.stdout).into_iter().find(|l| l["method"] == "Echo").expect("Echo described");
    assert_eq!((echo["kind"].as_str(), echo["servers"].as_u64()), (Some("unary:queue"), Some(2)));
    let local = psrpc(url, &["describe", "Greeter.Local", "--wait", "3s"], None).await;
    assert_eq!(local.code, 0, "{}", local.stderr);
    assert!(local.stdout.contains("unary:queue:topics") && local.stdout.contains("eu"), "{}", local.stdout);

    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_json_on_nats() {
    let Some(broker) = skip_or_fail(NatsServer::start_own()) else { return };
    calls_and_json(broker.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_json_on_redis() {
    let Some(broker) = skip_or_fail(RedisServer::start_own()) else { return };
    calls_and_json(broker.url()).await;
}

/// Mistakes get a clear message and exit code before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_are_named() {
    let Some(broker) = skip_or_fail(NatsServer::start_own()) else { return };
    let url = broker.url();
    let server = greeter(connect(url).await).await;

    let no_topic = psrpc(url, &["call", "Greeter.Local", "{}", "--proto", PROTO], None).await;
    assert_eq!(no_topic.code, 2, "{}", no_topic.stderr);
    assert!(no_topic.stderr.contains("--topic"), "{}", no_topic.stderr);
    let sub_no_topic = psrpc(url, &["sub", "Greeter.Local", "--proto", PROTO], None).await;
    assert_eq!(sub_no_topic.code, 2, "{}", sub_no_topic.stderr);

    let subscription = psrpc(url, &["call", "Greeter.News", "{}", "--proto", PROTO], None).await;
    assert_eq!(subscription.code, 2, "{}", subscription.stderr);
    assert!(subscription.stderr.contains("is a subscription: use `psrpc sub Greeter.News`"), "{}", subscription.stderr);
    assert!(!subscription.stderr.contains("request_single"), "{}", subscription.stderr);
    let stream = psrpc(url, &["call", "Greeter.Chat", "{}", "--proto", PROTO], None).await;
    assert_eq!(stream.code, 2, "{}", stream.stderr);
    assert!(stream.stderr.contains("psrpc stream"), "{}", stream.stderr);

    let dir = TempDir::new("1");
    let broken = dir.path().join("broken.proto");
    std::fs::write(&broken, "syntax = \"proto3\";\n\nmessage A {\n  string a = 1\n}\n").expect("write");
    let bad = psrpc(url, &["call", "A.B", "{}", "--proto", broken.to_str().expect("utf-8")], None).await;
    assert_eq!(bad.code, 4, "{}", bad.stderr);
    assert!(bad.stderr.contains("broken.proto:5:1: expected ';'"), "{}", bad.stderr);
    // Named before connecting: the bus here is unreachable.
    let offline = psrpc("nats://127.0.0.1:1", &["call", "Greeter.Local", "{}", "--proto", PROTO], None).await;
    assert_eq!(offline.code, 2, "{}", offline.stderr);
    let missing = psrpc(url, &["call", "A.B", "{}", "--proto", "/nowhere/x.proto"], None).await;
    assert_eq!(missing.code, 4, "{}", missing.stderr);
    assert!(missing.stderr.contains("/nowhere/x.proto: no such file"), "{}", missing.stderr);
    server.shutdown().await;
}

/// `--timeout` bounds connecting: a port that accepts and never speaks
/// NATS fails with exit code 6 instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_bounds_connecting() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let url = format!("nats://{}", silent.local_addr().expect("address"));
    let out = psrpc(&url, &["ls", "--timeout", "300ms"], None).await;
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stderr.contains("within --timeout"), "{}", out.stderr);
}

/// Passwords never show: not in `--help`, not in errors, not in `context ls`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_show() {
    let secret = "s3cretPW";
    for url in [
        format!("redis://admin:{secret}@127.0.0.1:1"),
        format!("nats://admin:{secret}@127.0.0.1:1"),
        format!("nats://{secret}@127.0.0.1:1"),
        format!("http://admin:{secret}@example"),
        format!("redis+sentinel://admin:{secret}@127.0.0.1:1/m?sentinel_password={secret}"),
        format!("redis://admin:{secret}@127.0.0.1:1:2:3"),
    ] {
        for args in [&["--help"][..], &["ls", "--timeout", "2s"], &["call", "--help"]] {
            let out = psrpc(&url, args, None).await;
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "{args:?} {url}: {}{}",
                out.stdout,
                out.stderr
            );
        }
    }
    let dir = TempDir::new("2");
    let config = dir.path().join("contexts.toml");
    let with_config = |args: &[&str]| {
        let mut command = command("", args);
        command.env_remove("PSRPC_BUS").env("PSRPC_CONFIG", &config).stdout(Stdio::piped()).stderr(Stdio::piped());
        command
    };
    let added = with_config(&["context", "add", "prod", &format!("redis://app:{secret}@10.0.0.1:6379")]).output().await;
    assert!(added.expect("runs").status.success());
    let listed = with_config(&["context", "ls"]).output().await.expect("runs");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains("redis://app:***@10.0.0.1:6379") && !listed.contains(secret), "{listed}");
}

/// Saved contexts: `context add … --use` makes commands without `--bus`
/// reach that bus; `--context` picks another; an unknown one is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_pick_the_bus() {
    let Some(broker) = skip_or_fail(NatsServer::start_own()) else { return };
    let server = greeter(connect(broker.url()).await).await;
    let dir = TempDir::new("3");
    let config = dir.path().join("psrpc").join("contexts.toml");
    let run = |args: &[&str]| {
        let mut command = command("", args);
        command.env_remove("PSRPC_BUS").env("PSRPC_CONFIG", &config).stdout(Stdio::piped()).stderr(Stdio::piped());
        command.output()
    };
    assert!(run(&["context", "add", "dev", broker.url(), "--use"]).await.expect("runs").status.success());
    assert!(run(&["context", "add", "nowhere", "nats://127.0.0.1:1"]).await.expect("runs").status.success());
    let ls = run(&["ls", "--wait", "3s"]).await.expect("runs");
    assert!(String::from_utf8_lossy(&ls.stdout).contains(server.id()), "{ls:?}");
    let elsewhere = run(&["ls", "--context", "nowhere"]).await.expect("runs");
    assert_eq!(elsewhere.status.code(), Some(6), "{elsewhere:?}");
    let listed = run(&["context", "ls", "--json"]).await.expect("runs");
    let lines = json_lines(&String::from_utf8_lossy(&listed.stdout));
    assert_eq!(lines.iter().filter(|l| l["current"] == true).map(|l| l["name"].clone()).collect::<Vec<_>>(), ["dev"]);
    let unknown = run(&["context", "use", "prod"]).await.expect("runs");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("dev, nowhere"), "{unknown:?}");
    assert!(run(&["context", "rm", "dev"]).await.expect("runs").status.success());
    let after = run(&["context", "ls", "--json"]).await.expect("runs");
    assert_eq!(json_lines(&String::from_utf8_lossy(&after.stdout)).len(), 1);
    server.shutdown().await;
}

/// `describe --proto` needs no bus: schemas and a JSON template that
/// `call` accepts as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_from_the_proto_gives_a_template_call_accepts() {
    let out = psrpc("nats://127.0.0.1:1", &["describe", "Greeter.Echo", "--proto", PROTO, "--json"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = &json_lines(&out.stdout)[0];
    assert_eq!(line["kind"], "unary:queue");
    assert_eq!(line["request"]["type"], "demo.Note");
    assert_eq!(line["request"]["fields"], serde_json::json!({"text": "string", "count": "int32"}));
    assert_eq!(line["template"], serde_json::json!({"text": "", "count": 0}));
    let human = psrpc("nats://127.0.0.1:1", &["describe", "Greeter", "--proto", PROTO], None).await;
    assert_eq!(human.code, 0, "{}", human.stderr);
    for expected in
        ["Greeter.Echo  unary:queue", "Greeter.News  subscription:every", "demo.Note { text: string, count: int32 }"]
    {
        assert!(human.stdout.contains(expected), "{expected} in {}", human.stdout);
    }

    let Some(broker) = skip_or_fail(NatsServer::start_own()) else { return };
    let server = greeter(connect(broker.url()).await).await;
    let template = line["template"].to_string();
    let called = psrpc(broker.url(), &["call", "Greeter.Echo", &template, "--proto", PROTO], None).await;
    assert_eq!(called.code, 0, "{}", called.stderr);
    server.shutdown().await;
}

/// Completions and the man page come from the command definitions.
#[tokio::test]
async fn completions_and_man_page() {
    let bash = psrpc("", &["completions", "bash"], None).await;
    assert_eq!(bash.code, 0, "{}", bash.stderr);
    assert!(bash.stdout.contains("_psrpc()") && bash.stdout.contains("describe"), "{}", bash.stdout);
    let zsh = psrpc("", &["completions", "zsh"], None).await;
    assert!(zsh.stdout.starts_with("#compdef psrpc"), "{}", zsh.stdout);
    let man = psrpc("", &["man"], None).await;
    assert_eq!(man.code, 0, "{}", man.stderr);
    assert!(man.stdout.contains(".TH psrpc") && man.stdout.contains("Exit codes"), "{}", &man.stdout[..200]);
    let dir = TempDir::new("4");
    let pages = psrpc("", &["man", "--dir", dir.path().to_str().expect("utf-8")], None).await;
    assert_eq!(pages.code, 0, "{}", pages.stderr);
    for page in ["psrpc.1", "psrpc-call.1", "psrpc-context.1"] {
        assert!(dir.path().join(page).is_file(), "{page}");
    }
}

/// Many calls in a row from `--count` all land, counted by the servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_repeats_the_call() {
    let Some(broker) = skip_or_fail(RedisServer::start_own()) else { return };
    let url = broker.url();
    let calls = Arc::new(AtomicUsize::new(0));
    let server = RpcServer::new("Greeter", connect(url).await, ServerOptions::default());
    let counter = calls.clone();
    server
        .register_unary(
            &ECHO,
            vec![],
            move |ctx, note| {
                counter.fetch_add(1, Ordering::SeqCst);
                echo(ctx, note)
            },
            None,
        )
        .await
        .expect("Echo");
    let out = psrpc(url, &["call", "Greeter.Echo", "{}", "--proto", PROTO, "--count", "5"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 5);
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    server.shutdown().await;
}
