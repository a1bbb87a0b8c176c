//! A distributed in-memory chat store: each store keeps the messages it
//! saved in memory; an HTTP gateway saves a message on whichever store takes
//! it (a single RPC) and fetches every store's messages (a multi RPC),
//! merged and ordered.
//!
//! ```sh
//! # three stores and the gateway in one process, in-process bus:
//! cargo run -p psrpc-kube --example chat_store -- --stores 3 --http 127.0.0.1:8080
//! # or as separate processes on NATS:
//! cargo run -p psrpc-kube --example chat_store -- --bus nats://127.0.0.1:4222 --role store --id store-a
//! cargo run -p psrpc-kube --example chat_store -- --bus nats://127.0.0.1:4222 --role store --id store-b
//! cargo run -p psrpc-kube --example chat_store -- --bus nats://127.0.0.1:4222 --role gateway --http 127.0.0.1:8080
//! curl -s -XPOST localhost:8080/messages -d '{"room":"lobby","author":"ada","text":"hi"}' -H 'content-type: application/json'
//! curl -s 'localhost:8080/messages?room=lobby'
//! # a scripted check instead of the HTTP server:
//! cargo run -p psrpc-kube --example chat_store -- --stores 3 --selftest
//! ```
//!
//! On Kubernetes (`deploy/kubernetes/`) every pod runs a store and the
//! gateway with `--discover kubernetes://chat-store:http`: the store's server
//! id is the pod name, and a fetch expects exactly the ready pods, so it
//! ends as soon as each of them answered and names the ones that did not.
//! `--discover-dns` polls the headless Service's DNS instead (no API
//! permissions), and a fetch expects as many answers as there are ready pods.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, ensure};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt as _;
use psrpc::{ClientOptions, Error, ErrorCode, RequestContext, RequestOptions, ServerOptions, SharedBus};
use psrpc_kube::{DnsOptions, Membership, expect_ready_count, expect_ready_pods};

/// A message as written: the body of a save.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct SaveRequest {
    /// The room.
    #[prost(string, tag = "1")]
    pub room: String,
    /// Who writes.
    #[prost(string, tag = "2")]
    pub author: String,
    /// The text.
    #[prost(string, tag = "3")]
    pub text: String,
}

/// A stored chat message.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct ChatMessage {
    /// What was written (flattened into the JSON).
    #[prost(message, optional, tag = "1")]
    #[serde(flatten)]
    pub written: Option<SaveRequest>,
    /// When the store saved it (Unix nanoseconds, by the store's clock:
    /// across machines the order is as good as their clock sync).
    #[prost(int64, tag = "4")]
    pub saved_at_ns: i64,
    /// The store's sequence number (orders a store's messages with equal times).
    #[prost(uint64, tag = "5")]
    pub seq: u64,
    /// The store that keeps it.
    #[prost(string, tag = "6")]
    pub store: String,
}

impl ChatMessage {
    fn room(&self) -> &str {
        self.written.as_ref().map_or("", |w| w.room.as_str())
    }

    fn text(&self) -> &str {
        self.written.as_ref().map_or("", |w| w.text.as_str())
    }
}

/// What to fetch.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FetchRequest {
    /// The room; empty for every room.
    #[prost(string, tag = "1")]
    pub room: String,
}

/// One store's messages.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FetchReply {
    /// The messages, in the order the store saved them.
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<ChatMessage>,
}

#[psrpc::service]
trait ChatStore {
    /// Saved by whichever store takes the request.
    fn save(&self, req: SaveRequest) -> ChatMessage;
    /// Every store answers with its messages.
    #[psrpc(multi)]
    fn fetch(&self, req: FetchRequest) -> FetchReply;
}

/// One store: messages in memory.
struct Store {
    id: String,
    messages: Mutex<Vec<ChatMessage>>,
}

impl ChatStoreServerImpl for Store {
    async fn save(&self, _ctx: RequestContext, req: SaveRequest) -> Result<ChatMessage, Error> {
        if req.room.is_empty() || req.text.is_empty() {
            return Err(Error::new(ErrorCode::InvalidArgument, "room and text are required"));
        }
        let mut messages = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        let message = ChatMessage {
            written: Some(req),
            saved_at_ns: now_ns(),
            seq: messages.len() as u64,
            store: self.id.clone(),
        };
        messages.push(message.clone());
        Ok(message)
    }

    async fn fetch(&self, _ctx: RequestContext, req: FetchRequest) -> Result<FetchReply, Error> {
        let messages = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        let messages = messages.iter().filter(|m| req.room.is_empty() || m.room() == req.room).cloned().collect();
        Ok(FetchReply { messages })
    }
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// Every store's messages, merged and ordered, and which stores answered.
#[derive(Debug, serde::Serialize)]
struct Fetched {
    messages: Vec<ChatMessage>,
    answered: BTreeSet<String>,
    /// Expected stores (from discovery) that did not answer in time.
    missing: Vec<String>,
}

/// How the gateway knows which stores must answer a fetch.
#[derive(Clone)]
enum Audience {
    /// Nobody tells: collect answers for the whole (short) timeout.
    Unknown,
    /// EndpointSlices name the ready pods, which are the stores' server ids.
    PodNames(Membership),
    /// DNS counts the ready pods but names them by address.
    PodCount(Membership),
}

/// The gateway's view of the stores.
#[derive(Clone)]
struct Gateway {
    client: ChatStoreClient,
    audience: Audience,
}

impl Gateway {
    async fn save(&self, request: SaveRequest) -> Result<ChatMessage, Error> {
        self.client.save(&request, RequestOptions::default()).await
    }

    async fn fetch(&self, room: &str) -> Result<Fetched, Error> {
        // With discovery the call ends when every ready pod answered; without
        // it, it collects for the whole (short) timeout.
        let options = match &self.audience {
            Audience::Unknown => RequestOptions::default().timeout(Duration::from_millis(500)),
            Audience::PodNames(pods) => {
                expect_ready_pods(pods, RequestOptions::default().timeout(Duration::from_secs(3)))
            }
            Audience::PodCount(pods) => {
                expect_ready_count(pods, RequestOptions::default().timeout(Duration::from_secs(3)))
            }
        };
        let mut responses = self.client.fetch(&FetchRequest { room: room.to_owned() }, options).await?;
        let mut fetched = Fetched { messages: Vec::new(), answered: BTreeSet::new(), missing: Vec::new() };
        while let Some(response) = responses.next().await {
            match response.result {
                Ok(reply) => {
                    fetched.answered.insert(response.server_id);
                    fetched.messages.extend(reply.messages);
                }
                Err(error) => eprintln!("store {} failed: {error}", response.server_id),
            }
        }
        fetched.missing = responses.missing();
        fetched.messages.sort_by(|a, b| (a.saved_at_ns, &a.store, a.seq).cmp(&(b.saved_at_ns, &b.store, b.seq)));
        Ok(fetched)
    }
}

/// The HTTP API: `POST /messages` (JSON `SaveRequest`), `GET /messages[?room=R]`
/// and `GET /healthz` (the readiness probe).
fn http_api(gateway: Gateway) -> Router {
    Router::new()
        .route("/messages", get(get_messages).post(post_message))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(gateway)
}

async fn post_message(
    State(gateway): State<Gateway>,
    Json(request): Json<SaveRequest>,
) -> Result<Json<ChatMessage>, (StatusCode, String)> {
    gateway.save(request).await.map(Json).map_err(http_error)
}

async fn get_messages(State(gateway): State<Gateway>, uri: Uri) -> Result<Json<Fetched>, (StatusCode, String)> {
    let room = uri.query().unwrap_or_default().split('&').find_map(|p| p.strip_prefix("room=")).unwrap_or_default();
    gateway.fetch(room).await.map(Json).map_err(http_error)
}

fn http_error(error: Error) -> (StatusCode, String) {
    (StatusCode::from_u16(error.to_http()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), error.to_string())
}

/// Starts a store with server id `id` on `bus`.
async fn start_store(bus: SharedBus, id: String) -> anyhow::Result<ChatStoreServer<Store>> {
    let store = Store { id: id.clone(), messages: Mutex::new(Vec::new()) };
    Ok(ChatStoreServer::new(store, bus, ServerOptions::default().server_id(id)).await?)
}

/// Saves messages through the gateway and checks the merged fetch.
async fn selftest(gateway: &Gateway, stores: usize) -> anyhow::Result<()> {
    let mut saved = Vec::new();
    for i in 0..12 {
        let room = if i % 3 == 0 { "ops" } else { "lobby" };
        let request =
            SaveRequest { room: room.into(), author: format!("user-{}", i % 4), text: format!("message {i}") };
        saved.push(gateway.save(request).await?);
    }
    let lobby = gateway.fetch("lobby").await?;
    let texts: Vec<&str> = lobby.messages.iter().map(ChatMessage::text).collect();
    let expected: Vec<String> = (0..12).filter(|i| i % 3 != 0).map(|i| format!("message {i}")).collect();
    ensure!(texts == expected, "lobby came back as {texts:?}");
    let everything = gateway.fetch("").await?;
    ensure!(everything.messages.len() == 12, "fetched {} of 12 messages", everything.messages.len());
    let holders: BTreeSet<&str> = saved.iter().map(|m| m.store.as_str()).collect();
    ensure!(everything.answered.len() == stores, "{} of {stores} stores answered", everything.answered.len());
    println!(
        "selftest: 12 messages saved across {} store(s) {holders:?}; fetched back merged and ordered from {:?}",
        holders.len(),
        everything.answered
    );
    let invalid = gateway.save(SaveRequest::default()).await.expect_err("an empty message is refused");
    ensure!(invalid.code() == ErrorCode::InvalidArgument, "{invalid}");
    Ok(())
}

/// What `--help` prints.
const USAGE: &str = "\
chat_store: a distributed in-memory chat store on psrpc

USAGE:
    chat_store [OPTIONS]

OPTIONS:
    --bus URL              local (default) or a NATS URL (nats://user:pass@host:4222?tls_ca=…)
    --role ROLE            store, gateway or both (default)
    --id ID                the store's server id (default: the pod name, or \"store\")
    --stores N             how many stores this process runs (default 1)
    --http ADDR            the gateway's HTTP address (default 127.0.0.1:8080)
    --discover TARGET      expect the ready pods of kubernetes://service[.namespace]:port
                           (EndpointSlices; needs list and watch on endpointslices)
    --discover-dns TARGET  expect as many answers as the headless Service's DNS names
    --selftest             save and fetch a few messages, then exit
    -h, --help             print this help

Logs go to standard error; RUST_LOG sets the level (default info).
";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let flag = |name: &str| {
        let args: Vec<String> = std::env::args().collect();
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
    };
    let role = flag("--role").unwrap_or_else(|| "both".into());
    let bus: SharedBus = match flag("--bus").as_deref() {
        None | Some("local") => Arc::new(psrpc::local::LocalBus::new()),
        Some(url) => Arc::new(psrpc::nats::NatsBus::connect(url, Default::default()).await?),
    };
    let mut stores = Vec::new();
    if role != "gateway" {
        let base = flag("--id").or_else(psrpc_kube::pod_name).unwrap_or_else(|| "store".into());
        let count: usize = flag("--stores").map_or(Ok(1), |n| n.parse()).context("--stores")?;
        for i in 0..count {
            let id = if count == 1 { base.clone() } else { format!("{base}-{i}") };
            stores.push(start_store(bus.clone(), id).await?);
        }
    }
    if role == "store" {
        println!("{} store(s) serving; Ctrl-C to stop", stores.len());
        tokio::signal::ctrl_c().await?;
    } else {
        let audience = if let Some(target) = flag("--discover") {
            Audience::PodNames(psrpc_kube::discover(&target.parse()?).await?)
        } else if let Some(target) = flag("--discover-dns") {
            Audience::PodCount(psrpc_kube::watch_headless_service(&target.parse()?, DnsOptions::default())?)
        } else {
            Audience::Unknown
        };
        if let Audience::PodNames(pods) | Audience::PodCount(pods) = &audience {
            // A refusal of the API server (a Role without list/watch on
            // endpointslices, a stale token) ends discovery: psrpc-kube
            // logs it, and it ends the gateway, naming the permission.
            pods.ready().await.context("discovering the stores' pods")?;
        }
        let client = ChatStoreClient::new(bus, ClientOptions::default()).await?;
        let gateway = Gateway { client, audience };
        if std::env::args().any(|a| a == "--selftest") {
            selftest(&gateway, stores.len()).await?;
        } else {
            let addr: SocketAddr = flag("--http").unwrap_or_else(|| "127.0.0.1:8080".into()).parse()?;
            let listener = tokio::net::TcpListener::bind(addr).await?;
            println!("chat gateway on http://{addr} with {} local store(s)", stores.len());
            axum::serve(listener, http_api(gateway)).with_graceful_shutdown(shutdown_signal()).await?;
        }
    }
    for store in stores {
        store.shutdown().await;
    }
    Ok(())
}

/// Ctrl-C, or SIGTERM as Kubernetes sends it before killing a pod.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        Some(()) = async { term.as_mut()?.recv().await } => {}
    }
}
