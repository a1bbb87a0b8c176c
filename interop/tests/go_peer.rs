//! psrpc-rs against the real Go psrpc, for each Go release ([`GoVersion::ALL`])
//! and each broker (NATS, Redis): Go servers with Rust clients and the other
//! way round for every RPC kind, errors, metadata, server-closed streams and
//! expired requests, and fleets of Go and Rust servers of one service.
//!
//! Every test uses topics with characters that need escaping on both buses.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use psrpc::{ClientOptions, ErrorCode, RequestOptions, ServerOptions, StreamKeepalive, WireMode};
use psrpc_interop::my_service::{MyClientMessage, MyRequest, MyResponse, MyServiceClient, MyUpdate};
use psrpc_interop::{
    Events, GoPeer, GoVersion, SINGLE_SERVER_RPC, STREAM_CLOSE_AFTER, finish_client, run_client, start_client,
    twin_server, twin_server_with,
};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::connect;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use serde_json::{Value, json};

/// A topic that every bus has to escape: space, slash, dot, pipe, non-ASCII.
const REGION: &str = "eu west/🚀.é|x";

/// One NATS and one Redis server for a test: private ones, or the shared
/// brokers named by `PSRPC_NATS_URL` / `PSRPC_REDIS_URL`.
struct Brokers {
    _nats: NatsServer,
    _redis: RedisServer,
    urls: [String; 2],
    _turn: Option<std::sync::MutexGuard<'static, ()>>,
}

/// On shared brokers the tests of this file take turns: the Go peer's
/// service, method and topic names are fixed by its proto, so two tests at
/// once would serve each other's calls. Private brokers need no turns.
static TURNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn brokers() -> Option<Brokers> {
    let nats = skip_or_fail(NatsServer::start())?;
    let redis = skip_or_fail(RedisServer::start())?;
    let shared = !nats.is_local() || !redis.is_local();
    // A test that failed while holding its turn passes it on all the same.
    let turn = shared.then(|| TURNS.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let urls = [nats.url().to_owned(), redis.url().to_owned()];
    Some(Brokers { _nats: nats, _redis: redis, urls, _turn: turn })
}

/// The brokers of a test and the Go peer of every version.
struct Setup {
    brokers: Brokers,
    peers: Vec<(GoVersion, PathBuf)>,
}

impl Setup {
    /// Every Go peer on every broker: the peer's binary, the broker's URL
    /// and, for messages, `Go <version> <role> on <url>`.
    fn cases(&self, role: &str) -> Vec<(&Path, &str, String)> {
        let mut cases = Vec::new();
        for (version, binary) in &self.peers {
            for url in &self.brokers.urls {
                cases.push((binary.as_path(), url.as_str(), format!("Go {} {role} on {url}", version.label())));
            }
        }
        cases
    }
}

/// The brokers and the Go peer of every version, or `None` to skip.
fn setup() -> Option<Setup> {
    let brokers = brokers()?;
    let mut peers = Vec::new();
    for version in GoVersion::ALL {
        peers.push((version, psrpc_interop::peer_binary(version, std::path::Path::new(env!("CARGO_TARGET_TMPDIR")))?));
    }
    Some(Setup { brokers, peers })
}

async fn rust_client(url: &str) -> MyServiceClient {
    MyServiceClient::new(connect(url).await, ClientOptions::default()).await.expect("client")
}

fn ask(text: &str) -> MyRequest {
    MyRequest { text: text.to_owned() }
}

fn handled(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "handled")
        .map(|e| e["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Shuts a Rust server down, failing if that takes more than 10 s (its
/// handlers, streams included, drain first).
async fn shut_down<S: psrpc_interop::my_service::MyServiceServerImpl>(
    server: &psrpc_interop::my_service::MyServiceServer<S>,
    what: &str,
) {
    let drained = tokio::time::timeout(Duration::from_secs(10), server.shutdown()).await;
    assert!(drained.is_ok(), "{what}: the Rust server did not shut down within 10 s");
}

/// Runs a Go client for `REGION` with `args`.
async fn go_client(binary: &std::path::Path, url: &str, args: &[&str]) -> Value {
    let mut all = vec!["--region", REGION];
    all.extend_from_slice(args);
    run_client(binary, url, &all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_server_rust_client_every_kind() {
    let Some(setup) = setup() else { return };
    for (binary, url, what) in setup.cases("server") {
        let mut go = GoPeer::server(binary, url, "go1", REGION, &[]).await;
        let client = rust_client(url).await;

        let reply = client.normal_rpc(&ask("hello"), RequestOptions::default()).await.expect(&what);
        assert_eq!(reply.text, "hello from go1", "{what}");
        let reply = client.intensive_rpc(&ask("crunch"), RequestOptions::default()).await.expect(&what);
        assert_eq!(reply.text, "crunch from go1", "{what}");
        let reply = client
            .engine()
            .request_single::<MyRequest, MyResponse>(
                &SINGLE_SERVER_RPC,
                vec![REGION.to_owned()],
                &ask("direct"),
                RequestOptions::default(),
            )
            .await
            .expect(&what);
        assert_eq!(reply.message.text, "direct from go1", "{what}");

        let one = || RequestOptions::default().timeout(Duration::from_secs(2)).expected_responses(1);
        let stats = client.get_stats(&ask("stats"), one()).await.expect(&what).collect_all().await;
        let texts: Vec<_> = stats.into_iter().map(|r| r.result.expect(&what).text).collect();
        assert_eq!(texts, ["stats of go1"], "{what}");
        let stats = client.get_region_stats(REGION, &ask("stats"), one()).await.expect(&what).collect_all().await;
        let texts: Vec<_> = stats.into_iter().map(|r| r.result.expect(&what).text).collect();
        assert_eq!(texts, ["stats of go1"], "{what}");

        // Our keepalive frames (Go ignores them) and Go's silence keep the stream up.
        let keepalive = StreamKeepalive::new(Duration::from_millis(50), Duration::from_millis(150));
        let streaming = MyServiceClient::new(connect(url).await, ClientOptions::default().stream_keepalive(keepalive))
            .await
            .expect(&what);
        let mut stream = streaming.exchange_updates(RequestOptions::default()).await.expect(&what);
        for _ in 0..2 {
            stream.send(&MyClientMessage {}).await.expect(&what);
            assert!(stream.recv().await.expect(&what).is_some(), "{what}: no stream reply");
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        stream.close(None).await.expect(&what);

        // Subscribed after the queue calls: on NATS a queue subscription
        // shares the service's queue subject with the servers.
        let mut queue = client.subscribe_process_update().await.expect(&what);
        let mut state = client.subscribe_update_state().await.expect(&what);
        let mut regional = client.subscribe_update_region_state(REGION).await.expect(&what);
        for (method, sub) in
            [("ProcessUpdate", &mut queue), ("UpdateState", &mut state), ("UpdateRegionState", &mut regional)]
        {
            let text = format!("{method} news");
            // Published until it arrives: a subscription is not known to be live on the broker at once.
            let deadline = Instant::now() + Events::PATIENCE;
            let update = loop {
                go.publish(method, &text).await;
                if let Ok(Some(update)) = tokio::time::timeout(Duration::from_millis(100), sub.recv()).await {
                    break update;
                }
                assert!(Instant::now() < deadline, "{what}: no {method} at all");
            };
            assert_eq!(update.text, text, "{what}");
        }

        let events = go.stop().await;
        assert_eq!(handled(&events), ["hello", "crunch", "direct"], "{what}");
        assert_eq!(events.iter().filter(|e| e["event"] == "stream").count(), 1, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_server_go_client_every_kind() {
    let Some(setup) = setup() else { return };
    for (binary, url, what) in setup.cases("client") {
        let (server, twin) = twin_server(connect(url).await, "rust1", REGION).await;
        let server = Arc::new(server);

        for (scenario, text) in
            [("single", "hello from rust1"), ("affinity", "hello from rust1"), ("single-server", "hello from rust1")]
        {
            let result = go_client(binary, url, &["--scenario", scenario]).await;
            assert_eq!((&result["ok"], &result["text"]), (&json!(true), &json!(text)), "{what}: {result}");
        }
        for scenario in ["multi", "topic"] {
            let result = go_client(binary, url, &["--scenario", scenario, "--timeout", "1s"]).await;
            assert_eq!(result["texts"], json!(["stats of rust1"]), "{what}: {result}");
        }
        let result = go_client(binary, url, &["--scenario", "stream", "--count", "2"]).await;
        assert_eq!((&result["ok"], &result["replies"]), (&json!(true), &json!(2)), "{what}: {result}");
        assert_eq!(twin.streams.load(std::sync::atomic::Ordering::SeqCst), 1, "{what}");

        let (child, stdin, mut events) =
            start_client(binary, url, &["--scenario", "subscribe", "--region", REGION, "--timeout", "5s"]);
        events.wait_for(|e| e["event"] == "subscribed").await;
        let publisher = Arc::clone(&server);
        let publishing = tokio::spawn(async move {
            for seq in 0.. {
                let update = MyUpdate { text: format!("news {seq}") };
                publisher.publish_process_update(&update).await.expect("publish");
                publisher.publish_update_state(&update).await.expect("publish");
                publisher.publish_update_region_state(REGION, &update).await.expect("publish");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let result = finish_client(child, stdin, events).await;
        publishing.abort();
        assert_eq!(result["ok"], true, "{what}: {result}");
        for method in ["ProcessUpdate", "UpdateState", "UpdateRegionState"] {
            assert!(result["texts"][method].as_str().is_some_and(|t| t.starts_with("news ")), "{what}: {result}");
        }

        assert_eq!(twin.handled_count(), 3, "{what}");
        shut_down(&server, &what).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_with_codes_and_details_both_ways() {
    let Some(setup) = setup() else { return };
    for (binary, url, what) in setup.cases("peer") {
        let go = GoPeer::server(binary, url, "go1", REGION, &[]).await;
        let client = rust_client(url).await;
        for (code, expected) in [
            ("not_found", ErrorCode::NotFound),
            ("upstream_client_error", ErrorCode::UpstreamClientError),
            ("no_such_code", ErrorCode::Unknown),
        ] {
            let err = client
                .normal_rpc(&ask(&format!("error {code} it went wrong")), RequestOptions::default())
                .await
                .expect_err(&what);
            assert_eq!((err.code(), err.message()), (expected, "it went wrong"), "{what}");
            assert_eq!(err.detail::<MyResponse>(), Some(MyResponse { text: "detail".into() }), "{what}");
        }
        go.stop().await;

        let (server, _twin) = twin_server(connect(url).await, "rust1", REGION).await;
        for code in ["not_found", "upstream_client_error", "resource_exhausted"] {
            let text = format!("error {code} it went wrong");
            let result = run_client(binary, url, &["--text", &text]).await;
            assert_eq!(
                (&result["ok"], &result["code"], &result["message"], &result["details"]),
                (&json!(false), &json!(code), &json!("it went wrong"), &json!(["detail"])),
                "{what}: {result}"
            );
        }
        shut_down(&server, &what).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_reaches_handlers_both_ways() {
    let Some(setup) = setup() else { return };
    let expected = BTreeMap::from([("region", REGION), ("tenant", "t-1")]);
    for (binary, url, what) in setup.cases("peer") {
        let go = GoPeer::server(binary, url, "go1", REGION, &[]).await;
        let client = rust_client(url).await;
        let options = || RequestOptions::default().metadata("region", REGION).metadata("tenant", "t-1");
        let reply = client.normal_rpc(&ask("metadata"), options()).await.expect(&what);
        assert_eq!(serde_json::from_str::<BTreeMap<&str, &str>>(&reply.text).expect(&what), expected, "{what}");
        let stream = client.exchange_updates(options()).await.expect(&what);
        let stream_id = stream.stream_id().to_owned();
        stream.close(None).await.expect(&what);
        let events = go.stop().await;
        let opened = events.iter().find(|e| e["event"] == "stream").expect(&what);
        // The Go handler also sees our keepalive announcement (WIRE.md, 6.4).
        let mut announced = expected.clone();
        announced.insert("psrpc-rs-keepalive", &stream_id);
        assert_eq!(opened["metadata"], json!(announced), "{what}");

        let (server, twin) = twin_server(connect(url).await, "rust1", REGION).await;
        let metadata = format!("region={REGION},tenant=t-1");
        let result = run_client(binary, url, &["--text", "metadata", "--metadata", &metadata]).await;
        let text = result["text"].as_str().expect(&what);
        assert_eq!(serde_json::from_str::<BTreeMap<&str, &str>>(text).expect(&what), expected, "{what}");
        let result = run_client(binary, url, &["--scenario", "stream", "--metadata", &metadata]).await;
        assert_eq!(result["ok"], true, "{what}: {result}");
        let seen = twin.stream_metadata.lock().expect("lock").clone();
        assert_eq!(seen.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<BTreeMap<_, _>>(), expected);
        shut_down(&server, &what).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_close_streams_with_a_cause_both_ways() {
    let Some(setup) = setup() else { return };
    let cause = format!("server closes after {STREAM_CLOSE_AFTER} messages");
    for (binary, url, what) in setup.cases("peer") {
        let go = GoPeer::server(binary, url, "go1", REGION, &[]).await;
        let client = rust_client(url).await;
        let mut stream = client.exchange_updates(RequestOptions::default()).await.expect(&what);
        for _ in 0..STREAM_CLOSE_AFTER {
            stream.send(&MyClientMessage {}).await.expect(&what);
            assert!(stream.recv().await.expect(&what).is_some(), "{what}: no reply");
        }
        let err = stream.recv().await.expect_err(&what);
        assert_eq!((err.code(), err.message()), (ErrorCode::Aborted, cause.as_str()), "{what}");
        go.stop().await;

        let (server, _twin) = twin_server(connect(url).await, "rust1", REGION).await;
        let count = STREAM_CLOSE_AFTER.to_string();
        let result = run_client(binary, url, &["--scenario", "stream", "--count", &count]).await;
        assert_eq!(
            (&result["server_closed"], &result["replies"], &result["code"], &result["message"]),
            (&json!(true), &json!(STREAM_CLOSE_AFTER), &json!("aborted"), &json!(cause)),
            "{what}: {result}"
        );
        shut_down(&server, &what).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_requests_end_at_the_deadline_both_ways() {
    let Some(setup) = setup() else { return };
    for (binary, url, what) in setup.cases("peer") {
        let mut go = GoPeer::server(binary, url, "go1", REGION, &[]).await;
        let client = rust_client(url).await;
        let options = RequestOptions::default().timeout(Duration::from_millis(300));
        let err = client.normal_rpc(&ask("sleep 2000"), options).await.expect_err(&what);
        assert_eq!(err.code(), ErrorCode::DeadlineExceeded, "{what}: {err}");
        // The Go handler's context ends at the request's expiry, not after its sleep.
        go.events.wait_for(|e| e["event"] == "deadline").await;
        // A request that expired on the way is not handled (the next one is).
        let expired = RequestOptions::default().timeout(Duration::from_micros(1));
        client.normal_rpc(&ask("expired"), expired).await.expect_err(&what);
        client.normal_rpc(&ask("after"), RequestOptions::default()).await.expect(&what);
        let events = go.stop().await;
        assert_eq!(handled(&events), ["sleep 2000", "after"], "{what}");

        let (server, twin) = twin_server(connect(url).await, "rust1", REGION).await;
        let result = run_client(binary, url, &["--text", "sleep 2000", "--timeout", "300ms"]).await;
        assert_eq!(result["code"], "deadline_exceeded", "{what}: {result}");
        assert!(result["elapsed_ms"].as_u64().is_some_and(|ms| ms < 1500), "{what}: {result}");
        for scenario in ["single", "single-server"] {
            let result =
                go_client(binary, url, &["--scenario", scenario, "--text", "expired", "--timeout", "1us"]).await;
            // Go reports `unavailable` ("no response from servers") or `deadline_exceeded`.
            assert_eq!(result["ok"], false, "{what}: {result}");
        }
        let result = run_client(binary, url, &["--text", "after"]).await;
        assert_eq!(result["ok"], true, "{what}: {result}");
        assert_eq!(*twin.handled.lock().expect("lock"), ["sleep 2000", "after"], "{what}");
        shut_down(&server, &what).await;
    }
}

/// A call no server claims before its own timeout (500 ms, inside the 1 s
/// selection timeout): the Go client and the Rust client end it with the
/// same code and message, `unavailable` "no response from servers", at the
/// request timeout, for queue and affinity calls and stream opens
/// (docs/WIRE.md, "Failure table").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_claimed_fails_alike_in_go_and_rust() {
    let Some(setup) = setup() else { return };
    for (binary, url, what) in setup.cases("client") {
        let client = rust_client(url).await;
        let options = || RequestOptions::default().timeout(Duration::from_millis(500));
        let timed = |started: Instant, outcome: Result<(), psrpc::Error>| (outcome, started.elapsed());
        let rust = [
            ("single", timed(Instant::now(), client.normal_rpc(&ask("nobody"), options()).await.map(drop))),
            ("affinity", timed(Instant::now(), client.intensive_rpc(&ask("nobody"), options()).await.map(drop))),
            ("stream", timed(Instant::now(), client.exchange_updates(options()).await.map(drop))),
        ];
        for (scenario, (outcome, elapsed)) in rust {
            let ended_by_its_timeout = Duration::from_millis(500) <= elapsed && elapsed < Duration::from_secs(1);
            assert!(ended_by_its_timeout, "{what} {scenario}: Rust ended at {elapsed:?}");
            let go = go_client(binary, url, &["--scenario", scenario, "--text", "nobody", "--timeout", "500ms"]).await;
            let err = outcome.expect_err(&what);
            let rust = json!({"ok": false, "code": err.code().as_str(), "message": err.message()});
            let go_fields = json!({"ok": go["ok"], "code": go["code"], "message": go["message"]});
            assert_eq!(rust, go_fields, "{what} {scenario}: Rust {err}, Go {go}");
            assert_eq!(go_fields["code"], "unavailable", "{what} {scenario}: {go}");
            assert_eq!(go_fields["message"], "no response from servers", "{what} {scenario}: {go}");
            if let Some(ms) = go["elapsed_ms"].as_u64() {
                assert!((500..1000).contains(&ms), "{what} {scenario}: Go ended at {ms} ms, not its timeout");
            }
        }
    }
}

/// Go servers of both releases and a Rust server of one service on one bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_fleets_share_every_kind() {
    const CALLS: usize = 60;
    let Some(setup) = setup() else { return };
    for url in &setup.brokers.urls {
        let mut fleet = Vec::new();
        for (version, binary) in &setup.peers {
            fleet.push(GoPeer::server(binary, url, &format!("go-{}", version.label()), REGION, &[]).await);
        }
        let (server, twin) = twin_server(connect(url).await, "rust", REGION).await;
        let names: HashSet<String> =
            setup.peers.iter().map(|(v, _)| format!("go-{}", v.label())).chain(["rust".to_owned()]).collect();
        let client = rust_client(url).await;

        // Queue and affinity calls: each handled exactly once, by some server.
        let calls = (0..CALLS).map(|i| {
            let client = client.clone();
            async move {
                let text = format!("burst-{i}");
                let reply = if i % 2 == 0 {
                    client.normal_rpc(&ask(&text), RequestOptions::default()).await
                } else {
                    client.intensive_rpc(&ask(&text), RequestOptions::default()).await
                };
                (text, reply.expect("answered"))
            }
        });
        let mut answered_by = HashSet::new();
        for (text, reply) in join_all(calls).await {
            let (echo, server) = reply.text.split_once(" from ").expect("an echo");
            assert_eq!(echo, text, "{url}");
            answered_by.insert(server.to_owned());
        }
        // A Go client's queue calls too.
        let (_, binary) = &setup.peers[0];
        let count = CALLS.to_string();
        let result = run_client(binary, url, &["--scenario", "burst", "--count", &count]).await;
        assert_eq!((&result["ok"], result["answers"].as_object().map(|a| a.len())), (&json!(true), Some(CALLS)));

        // Multi and topic calls: every server answers.
        let all = || RequestOptions::default().timeout(Duration::from_secs(2)).expected_responses(names.len());
        for responses in [
            client.get_stats(&ask("stats"), all()).await.expect(url).collect_all().await,
            client.get_region_stats(REGION, &ask("stats"), all()).await.expect(url).collect_all().await,
        ] {
            let texts: HashSet<String> = responses.into_iter().map(|r| r.result.expect(url).text).collect();
            assert_eq!(texts, names.iter().map(|n| format!("stats of {n}")).collect(), "{url}");
        }

        // Streams: each opened on exactly one server.
        const STREAMS: usize = 9;
        for _ in 0..STREAMS {
            let mut stream = client.exchange_updates(RequestOptions::default()).await.expect(url);
            stream.send(&MyClientMessage {}).await.expect(url);
            assert!(stream.recv().await.expect(url).is_some(), "{url}: no stream reply");
            stream.close(None).await.expect(url);
        }

        let mut go_handled = Vec::new();
        let mut go_streams = 0;
        for go in fleet {
            let events = go.stop().await;
            go_handled.extend(handled(&events));
            go_streams += events.iter().filter(|e| e["event"] == "stream").count();
        }
        let rust_handled = twin.handled.lock().expect("lock").clone();
        let mut all_handled: Vec<&String> = go_handled.iter().chain(&rust_handled).collect();
        all_handled.sort();
        let distinct: HashSet<&&String> = all_handled.iter().collect();
        assert_eq!(all_handled.len(), 2 * CALLS, "{url}: every queue request handled once");
        assert_eq!(distinct.len(), CALLS, "{url}: each burst text from both clients");
        // Which implementation wins a request is a race (on Redis, for the queue
        // lock), so the split is reported, not asserted.
        eprintln!(
            "{url}: Go handled {}, Rust {}; Rust client answered by {answered_by:?}",
            go_handled.len(),
            rust_handled.len()
        );
        assert_eq!(go_streams + twin.streams.load(std::sync::atomic::Ordering::SeqCst), STREAMS, "{url}");
        shut_down(&server, url).await;
    }
}

/// Go psrpc can gzip payloads (`WithBusCompression`: `Msg.value` gzipped and
/// `Msg.compression = 1` when that makes it smaller); its readers decompress on
/// that flag whatever their own configuration, and so does psrpc-rs: a
/// compressing Go server's responses and a compressing Go client's requests
/// both get through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_frames_a_compressing_go_peer_sends() {
    let Some(setup) = setup() else { return };
    for (binary, url, what) in setup.cases("peer") {
        let go = GoPeer::server(binary, url, "go1", REGION, &["--compress", "6"]).await;
        let client = rust_client(url).await;
        let options = RequestOptions::default().timeout(Duration::from_secs(1));
        let text = "compressible ".repeat(200);
        let reply = client.normal_rpc(&ask(&text), options).await.expect(&what);
        assert_eq!(reply.text, format!("{text} from go1"), "{what}");
        go.stop().await;

        let (server, _twin) = twin_server(connect(url).await, "rust1", REGION).await;
        let result = go_client(binary, url, &["--scenario", "single", "--text", &text, "--compress", "6"]).await;
        let expected = format!("{text} from rust1");
        assert_eq!((&result["ok"], &result["text"]), (&json!(true), &json!(expected)), "{what}: {result}");
        shut_down(&server, &what).await;
    }
}

/// The other way: a psrpc-rs client and server publishing through
/// [`psrpc::compress::CompressingBus`] gzip large values, and Go peers of
/// both releases (without compression of their own) read them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_peers_read_frames_a_compressing_rust_peer_sends() {
    use psrpc::compress::{CompressingBus, CompressionOptions};
    let Some(setup) = setup() else { return };
    let compressing = |bus: psrpc::SharedBus| -> psrpc::SharedBus {
        Arc::new(CompressingBus::new(bus, CompressionOptions::default()))
    };
    for (binary, url, what) in setup.cases("peer") {
        let text = "compressible ".repeat(200);
        let go = GoPeer::server(binary, url, "go1", REGION, &[]).await;
        let client =
            MyServiceClient::new(compressing(connect(url).await), ClientOptions::default()).await.expect("client");
        let options = RequestOptions::default().timeout(Duration::from_secs(1));
        let reply = client.normal_rpc(&ask(&text), options).await.expect(&what);
        assert_eq!(reply.text, format!("{text} from go1"), "{what}");
        go.stop().await;

        let (server, _twin) = twin_server(compressing(connect(url).await), "rust1", REGION).await;
        let result = go_client(binary, url, &["--scenario", "single", "--text", &text]).await;
        let expected = format!("{text} from rust1");
        assert_eq!((&result["ok"], &result["text"]), (&json!(true), &json!(expected)), "{what}: {result}");
        shut_down(&server, &what).await;
    }
}

/// A Go client (always in the Go-compatible mode) calling a service whose
/// only server runs in psrpc-rs's native wire mode hears of the mismatch at
/// once: `failed_precondition` with a message naming it, not a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_callers_of_a_native_rust_server_hear_of_the_mismatch() {
    let Some(setup) = setup() else { return };
    for (binary, url, what) in setup.cases("peer") {
        let native = ServerOptions::default().wire_mode(WireMode::Native);
        let (server, twin) = twin_server_with(connect(url).await, "rust1", REGION, native).await;
        let result = go_client(binary, url, &["--scenario", "single", "--text", "hi"]).await;
        assert_eq!(
            (&result["ok"], &result["code"]),
            (&json!(false), &json!("failed_precondition")),
            "{what}: {result}"
        );
        let message = result["message"].as_str().unwrap_or_default();
        assert!(message.contains("wire mode"), "{what}: {result}");
        let handled = twin.handled.lock().unwrap_or_else(|e| e.into_inner()).len();
        assert_eq!(handled, 0, "{what}: the handler never runs");
        shut_down(&server, &what).await;
    }
}

/// Counts a server's claims by outcome.
#[derive(Debug, Default)]
struct Claims(std::sync::Mutex<BTreeMap<&'static str, usize>>);

impl psrpc::observe::Observer for Claims {
    fn on_claim(&self, _: &psrpc::RpcInfo, outcome: psrpc::observe::ClaimOutcome, _: Duration) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(outcome.as_str()).or_default() += 1;
    }
}

impl Claims {
    fn seen(&self) -> BTreeMap<&'static str, usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// Claim skipping against Go 0.7.7 and 0.8.2, both directions, with and
/// without the option. A Go server built with `WithServerSkipClaim` answers
/// a psrpc-rs client's queue calls with a handling claim, and the client
/// then publishes the request alone (no claim response): one frame per call
/// where a bidding Go server costs it two. A psrpc-rs server with
/// `skip_claim` announces every queue call of a Go client (its observer
/// hears `skipped`); without the option it bids and is chosen (`won`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_skipping_interoperates_both_ways() {
    const CALLS: usize = 5;
    let Some(setup) = setup() else { return };
    for (binary, url, what) in setup.cases("peer") {
        for (skip, frames_per_call) in [(true, 1), (false, 2)] {
            let extra: &[&str] = if skip { &["--skip-claim"] } else { &[] };
            let go = GoPeer::server(binary, url, "go1", REGION, extra).await;
            let counted = psrpc_test_support::faulty::CuttableBus::new(connect(url).await);
            let bus = Arc::clone(&counted) as psrpc::SharedBus;
            let client = MyServiceClient::new(bus, ClientOptions::default()).await.expect("client");
            let before = counted.published();
            for i in 0..CALLS {
                let reply = client.normal_rpc(&ask(&format!("q{i}")), RequestOptions::default()).await.expect(&what);
                assert_eq!(reply.text, format!("q{i} from go1"), "{what}");
            }
            let published = counted.published() - before;
            assert_eq!(
                published,
                CALLS * frames_per_call,
                "{what}, Go server skip_claim={skip}: frames the client sent"
            );
            // The affinity method is never announced: the call still works.
            let reply = client.intensive_rpc(&ask("crunch"), RequestOptions::default()).await.expect(&what);
            assert_eq!(reply.text, "crunch from go1", "{what}");
            go.stop().await;

            let claims = Arc::new(Claims::default());
            let options = ServerOptions::default()
                .skip_claim(skip)
                .observer(Arc::clone(&claims) as psrpc::observe::SharedObserver);
            let (server, twin) = twin_server_with(connect(url).await, "rust1", REGION, options).await;
            let count = CALLS.to_string();
            let result = go_client(binary, url, &["--scenario", "burst", "--count", &count]).await;
            assert_eq!(result["ok"], json!(true), "{what}, Rust server skip_claim={skip}: {result}");
            for i in 0..CALLS {
                assert_eq!(result["answers"][format!("burst-{i}")], json!(format!("burst-{i} from rust1")), "{what}");
            }
            let outcome = if skip { "skipped" } else { "won" };
            assert_eq!(claims.seen(), BTreeMap::from([(outcome, CALLS)]), "{what}, Rust server skip_claim={skip}");
            let handled = twin.handled.lock().unwrap_or_else(|e| e.into_inner()).len();
            assert_eq!(handled, CALLS, "{what}: each call handled once");
            shut_down(&server, &what).await;
        }
    }
}
