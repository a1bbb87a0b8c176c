//! `psrpc tap` against live servers on NATS and Redis: the tap sees every
//! kind of frame of a service, decodes it with the `.proto`, and takes
//! nothing from the service (every call still succeeds, a queue
//! subscriber still gets its message).

use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt as _;
use psrpc::{
    ClientOptions, Delivery, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient,
    RpcServer, Selection, ServerOptions, SharedBus,
};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::connect;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use serde_json::Value;
use tokio::io::AsyncBufReadExt as _;

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

/// A queue method: one server claims each call.
static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
/// Every server answers.
static CENSUS: MethodInfo = MethodInfo::new("Census", MethodKind::Multi { topics: false });
/// A queue subscription (not in the .proto: the tap shows its size). On a
/// topic, so that on NATS its queue subject is not Echo's.
static ALERTS: MethodInfo =
    MethodInfo::new("Alerts", MethodKind::Subscription { delivery: Delivery::Queue, topics: true });

const PROTO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/greeter.proto");
/// Bounds every wait; never a synchronisation.
const GUARD: Duration = Duration::from_secs(20);

async fn echo(_: RequestContext, note: Note) -> Result<Note, Error> {
    if note.text == "fail" {
        return Err(Error::new(ErrorCode::NotFound, "no such greeting"));
    }
    Ok(Note { text: note.text, count: note.count + 1 })
}

async fn greeter(bus: SharedBus) -> RpcServer {
    let server = RpcServer::new("Greeter", bus, ServerOptions::default());
    server.register_unary(&ECHO, vec![], echo, None).await.expect("Echo");
    server.register_unary(&CENSUS, vec![], echo, None).await.expect("Census");
    server
}

/// Starts `psrpc tap ARGS` and returns once it says it is tapping.
async fn start_tap(url: &str, args: &[&str]) -> tokio::process::Child {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_psrpc"))
        .arg("tap")
        .args(args)
        .env("PSRPC_BUS", url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the psrpc binary runs");
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let tapping = tokio::time::timeout(GUARD, async {
        while let Some(line) = stderr.next_line().await.expect("stderr") {
            if line.starts_with("psrpc: tapping ") {
                return Ok(());
            }
            eprintln!("psrpc tap: {line}");
        }
        Err("psrpc tap exited before tapping")
    });
    tapping.await.expect("psrpc tap starts").expect("psrpc tap starts");
    // Keep reading stderr, so the tap never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    child
}

/// Waits for the tap to exit (after its `--count`); its JSON lines.
async fn printed(child: tokio::process::Child) -> Vec<Value> {
    let out = tokio::time::timeout(GUARD, child.wait_with_output()).await.expect("psrpc tap ends").expect("output");
    assert_eq!(out.status.code(), Some(0), "psrpc tap failed");
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

fn of_request<'a>(events: &'a [Value], request_id: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["request_id"] == request_id).collect()
}

/// The kinds of `events`, sorted: on NATS, frames on different subjects
/// may reach the tap in another order than they were published (a call's
/// request is only sure to come before its claims and responses).
fn kinds(events: &[&Value]) -> Vec<String> {
    let mut kinds: Vec<String> = events.iter().map(|e| e["kind"].as_str().expect("kind").to_owned()).collect();
    kinds.sort();
    kinds
}

async fn calls(client: &RpcClient) {
    let hi = Note { text: "hi".into(), count: 0 };
    let reply = client.request_single::<Note, Note>(&ECHO, vec![], &hi, RequestOptions::default()).await;
    assert_eq!(reply.expect("Echo succeeds while tapped").message.count, 1);
    let fail = Note { text: "fail".into(), count: 0 };
    let failed = client.request_single::<Note, Note>(&ECHO, vec![], &fail, RequestOptions::default()).await;
    assert_eq!(failed.expect_err("the handler's error").code(), ErrorCode::NotFound);
    let options = RequestOptions::default().expected_responses(2);
    let answers: Vec<_> =
        client.request_multi::<Note, Note>(&CENSUS, vec![], &hi, options).await.expect("Census").collect().await;
    assert_eq!(answers.len(), 2, "both servers answered");
    assert!(answers.iter().all(|a| a.result.is_ok()), "{answers:?}");
}

async fn exercise(url: &str) {
    let one = greeter(connect(url).await).await;
    let _two = greeter(connect(url).await).await;
    let client = RpcClient::new("Greeter", connect(url).await, ClientOptions::default()).await.expect("client");
    let subscriber = RpcClient::new("Greeter", connect(url).await, ClientOptions::default()).await.expect("subscriber");
    let mut alerts = subscriber.subscribe::<Note>(&ALERTS, vec!["ops".to_owned()]).await.expect("subscribe");

    // Echo: request, claim, claim response, response; twice. Census:
    // request and two responses. Alerts: one publication.
    let tap = start_tap(url, &["Greeter", "--proto", PROTO, "--json", "--count", "12"]).await;
    calls(&client).await;
    one.publish(&ALERTS, vec!["ops".to_owned()], &Note { text: "alert".into(), count: 7 }).await.expect("publish");
    let alert = tokio::time::timeout(GUARD, alerts.recv()).await.expect("the queue subscriber gets it");
    assert_eq!(alert.expect("open").text, "alert");
    let events = printed(tap).await;
    assert_eq!(events.len(), 12, "{events:#?}");

    let request = |text: &str| {
        events
            .iter()
            .find(|e| e["kind"] == "request" && e["method"] == "Echo" && e["message"]["text"] == text)
            .unwrap_or_else(|| panic!("the {text} request in {events:#?}"))
    };
    let hi = request("hi");
    assert!(hi["client_id"].as_str().is_some_and(|id| id.starts_with("CLI_")), "{hi}");
    let call = of_request(&events, hi["request_id"].as_str().expect("request id"));
    assert_eq!(kinds(&call), ["claim", "claim-response", "request", "response"], "{call:#?}");
    let at = |kind: &str| call.iter().position(|e| e["kind"] == kind).expect(kind);
    assert!(at("request") < at("claim") && at("request") < at("response"), "the request comes first: {call:#?}");
    assert!(call.iter().all(|e| e["method"] == "Echo" && e["service"] == "Greeter"), "{call:#?}");
    let response = *call.iter().find(|e| e["kind"] == "response").expect("response");
    let claim = call.iter().find(|e| e["kind"] == "claim").expect("claim");
    assert_eq!(response["message"], serde_json::json!({ "text": "hi", "count": 1 }), "{response}");
    assert!(response["latency_us"].is_u64() && response["server_id"].is_string(), "{response}");
    assert_eq!(claim["server_id"], response["server_id"], "the claimant answered");

    let failed = of_request(&events, request("fail")["request_id"].as_str().expect("request id"));
    let error = &failed.last().expect("a response")["error"];
    assert_eq!((&error["code"], &error["message"]), (&Value::from("not_found"), &Value::from("no such greeting")));

    let census: Vec<_> = events.iter().filter(|e| e["method"] == "Census").collect();
    assert_eq!(kinds(&census), ["request", "response", "response"], "{census:#?}");
    assert!(census[1..].iter().all(|e| e["latency_us"].is_u64()), "{census:#?}");
    let publication = events.iter().find(|e| e["kind"] == "publication").expect("the alert");
    assert_eq!((&publication["method"], publication["size"].is_u64()), (&Value::from("Alerts"), true), "{publication}");

    // METHOD shows that method's calls only. Human lines: the two Echo
    // calls of one round (all 8 frames, whatever order NATS gives them).
    let human = start_tap(url, &["Greeter.Echo", "--proto", PROTO, "--count", "8"]).await;
    calls(&client).await;
    let out = tokio::time::timeout(GUARD, human.wait_with_output()).await.expect("psrpc tap ends").expect("output");
    let lines: Vec<String> = String::from_utf8(out.stdout).expect("UTF-8").lines().map(str::to_owned).collect();
    let request = lines.iter().find(|l| l.contains("  request  ")).unwrap_or_else(|| panic!("{lines:#?}"));
    for part in ["Greeter.Echo  req=REQ_", "client=CLI_", r#"{"text":"hi"}"#] {
        assert!(request.contains(part), "{part} in {request}");
    }
    let response = lines.iter().find(|l| l.contains("  response  ")).unwrap_or_else(|| panic!("{lines:#?}"));
    for part in ["Greeter.Echo  req=REQ_", "server=SRV_", "ms  {", r#""count":1"#] {
        assert!(response.contains(part), "{part} in {response}");
    }

    // Payload sizes without a .proto.
    let tap = start_tap(url, &["Greeter.Census", "--json", "--count", "6"]).await;
    calls(&client).await;
    calls(&client).await;
    let census = printed(tap).await;
    assert_eq!(
        kinds(&census.iter().collect::<Vec<_>>()),
        ["request", "request", "response", "response", "response", "response"]
    );
    assert!(census.iter().all(|e| e["method"] == "Census" && e["size"].is_u64()), "{census:#?}");
}

/// The library's tap ends when its bus closes.
async fn closing_the_bus_ends_its_taps(url: &str) {
    let bus = connect(url).await;
    let mut tap = bus.tap("Greeter", 8).await.expect("tap");
    bus.close().await;
    let ended = tokio::time::timeout(GUARD, async { while tap.recv().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the tap ended with its bus");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats() {
    let Some(broker) = skip_or_fail(NatsServer::start_own()) else { return };
    exercise(broker.url()).await;
    closing_the_bus_ends_its_taps(broker.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis() {
    let Some(broker) = skip_or_fail(RedisServer::start_own()) else { return };
    exercise(broker.url()).await;
    closing_the_bus_ends_its_taps(broker.url()).await;
}
