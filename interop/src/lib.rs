//! Interop with the real Go psrpc: the Go test peer under `go/` (built with
//! `go build` per psrpc version, once per test run), a driver for its
//! processes, and [`Twin`], the Rust server that behaves as the Go peer's.
//!
//! The peer serves or calls `MyService` from `proto/examples/my_service.proto`
//! (see `go/peer/main.go` for its flags and JSON-lines output). A missing Go
//! toolchain skips the tests outside CI and fails them under `CI=true`.
//!
//! ```no_run
//! # async fn demo() {
//! use psrpc_interop::{GoPeer, GoVersion};
//! let Some(binary) = psrpc_interop::peer_binary(GoVersion::Latest, std::path::Path::new("target/tmp")) else {
//!     return;
//! };
//! let server = GoPeer::server(&binary, "nats://127.0.0.1:4222", "go1", "eu", &[]).await;
//! let result = psrpc_interop::run_client(&binary, "nats://127.0.0.1:4222", &["--scenario", "single"]).await;
//! assert_eq!(result["ok"], true);
//! server.stop().await;
//! # }
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use psrpc::{Error, ErrorCode, MethodInfo, MethodKind, RequestContext, Selection, ServerStream};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Generated from `proto/examples/my_service.proto` by `build.rs` (psrpc-build).
#[allow(missing_docs, unreachable_pub, dead_code)]
pub mod my_service {
    include!(concat!(env!("OUT_DIR"), "/_.rs"));
}

use my_service::{MyClientMessage, MyRequest, MyResponse, MyServerMessage, MyServiceServerImpl};

/// The Go psrpc releases the peer is built against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GoVersion {
    /// The newest release (`go/go.mod`).
    Latest,
    /// The newest 0.7.x (`go/go.v077.mod`, build tag `psrpc07`).
    V07,
}

impl GoVersion {
    /// Every version, newest first.
    pub const ALL: [GoVersion; 2] = [GoVersion::Latest, GoVersion::V07];

    /// The psrpc version the peer of this kind is built against.
    pub fn label(self) -> &'static str {
        match self {
            GoVersion::Latest => "v0.8.2",
            GoVersion::V07 => "v0.7.7",
        }
    }

    fn build_args(self) -> &'static [&'static str] {
        match self {
            GoVersion::Latest => &[],
            GoVersion::V07 => &["-modfile=go.v077.mod", "-tags=psrpc07"],
        }
    }
}

/// `MyService`'s one method beyond the Go README's: a single-server topic
/// method (answered without a claim), registered by hand on both sides.
pub static SINGLE_SERVER_RPC: MethodInfo =
    MethodInfo::new("SingleServerRPC", MethodKind::Unary(Selection::SingleServer));

/// How many replies a server stream sends before the server closes it with
/// `aborted` (both the Go peer and [`Twin`]).
pub const STREAM_CLOSE_AFTER: usize = 3;

/// The Go toolchain, if installed.
fn go_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/local/go/bin")])
        .map(|dir| dir.join("go"))
        .find(|candidate| candidate.is_file())
}

/// The Go peer binary for `version`, built into `out_dir` on first use in this
/// process (Go's build cache makes later runs fast; tests pass Cargo's
/// `CARGO_TARGET_TMPDIR`). `None` (with a notice) when Go is not installed
/// outside CI; panics under `CI=true` or when the build fails.
pub fn peer_binary(version: GoVersion, out_dir: &Path) -> Option<PathBuf> {
    built(GoPackage::Peer, version, out_dir)
}

/// The Go twin of psrpc-bench (`go/bench`) for `version`, built as
/// [`peer_binary`] builds the peer.
pub fn bench_binary(version: GoVersion, out_dir: &Path) -> Option<PathBuf> {
    built(GoPackage::Bench, version, out_dir)
}

/// The Go program under `go/metrics`, which records events into Go psrpc's
/// Prometheus metrics and prints what Prometheus would scrape (see its
/// `main.go`), built as [`peer_binary`] builds the peer. A module of its own:
/// it depends on LiveKit's `github.com/livekit/protocol`, whose `rpc`
/// package holds those metrics, against the psrpc release of
/// [`GoVersion::Latest`].
///
/// ```no_run
/// let Some(binary) = psrpc_interop::metrics_binary(std::path::Path::new("target/tmp")) else { return };
/// let output = std::process::Command::new(binary).arg("-const-labels=node_id=ND_1").output().expect("run");
/// assert!(output.status.success());
/// ```
pub fn metrics_binary(out_dir: &Path) -> Option<PathBuf> {
    built(GoPackage::Metrics, GoVersion::Latest, out_dir)
}

/// The Go programs under `go/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum GoPackage {
    /// `go/peer`, the interop peer.
    Peer,
    /// `go/bench`, the benchmark twin.
    Bench,
    /// `go/metrics`, LiveKit's psrpc metrics (a module of its own).
    Metrics,
}

impl GoPackage {
    fn dir(self) -> &'static str {
        match self {
            GoPackage::Peer => "peer",
            GoPackage::Bench => "bench",
            GoPackage::Metrics => "metrics",
        }
    }

    /// Where `go build` runs (the module's directory) and what it builds.
    fn build_in(self, go: &Path) -> (PathBuf, String) {
        match self {
            GoPackage::Metrics => (go.join(self.dir()), ".".to_owned()),
            _ => (go.to_owned(), format!("./{}", self.dir())),
        }
    }
}

/// `package` for `version`, built on first use in this process.
fn built(package: GoPackage, version: GoVersion, out_dir: &Path) -> Option<PathBuf> {
    type Built = HashMap<(GoPackage, GoVersion), Option<PathBuf>>;
    static BUILT: OnceLock<Mutex<Built>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    built.entry((package, version)).or_insert_with(|| build(package, version, out_dir)).clone()
}

fn build(package: GoPackage, version: GoVersion, out_dir: &Path) -> Option<PathBuf> {
    let Some(go) = go_binary() else {
        if psrpc_test_support::broker::in_ci() {
            panic!("the Go toolchain (go) is not installed; the Go interop tests need it under CI=true");
        }
        eprintln!("skipping: go not on PATH (set CI=true to make this a failure)");
        return None;
    };
    let (source, target) = package.build_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("go"));
    let binary = out_dir.join(format!("go-{}-{}", package.dir(), version.label()));
    let status = std::process::Command::new(go)
        .current_dir(&source)
        .arg("build")
        .args(version.build_args())
        .arg("-o")
        .arg(&binary)
        .arg(target)
        .status()
        .expect("run go build");
    assert!(status.success(), "go build of the {} {} failed", version.label(), package.dir());
    Some(binary)
}

/// The JSON lines a Go peer process printed, in order.
#[derive(Debug)]
pub struct Events {
    lines: mpsc::UnboundedReceiver<Value>,
    /// Events passed over by [`Events::wait_for`], kept for [`Events::rest`].
    skipped: Vec<Value>,
}

impl Events {
    /// How long [`Events::wait_for`] waits before it calls the peer hung.
    pub const PATIENCE: Duration = Duration::from_secs(60);

    /// The next event that satisfies `want` (others stay for [`Events::rest`]);
    /// panics when the peer exits first, or after [`Events::PATIENCE`] (a
    /// peer that quiet is hung: no timing is judged here).
    pub async fn wait_for(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        let within = Self::PATIENCE;
        let Events { lines, skipped } = self;
        let found = tokio::time::timeout(within, async {
            while let Some(event) = lines.recv().await {
                if want(&event) {
                    return Some(event);
                }
                skipped.push(event);
            }
            None
        })
        .await;
        match found {
            Ok(Some(event)) => event,
            Ok(None) => panic!("the Go peer exited before the expected event"),
            Err(_) => panic!("no expected event from the Go peer within {within:?}"),
        }
    }

    /// Every event not yet returned by [`Events::wait_for`], until the process
    /// closed its output.
    pub async fn rest(mut self) -> Vec<Value> {
        let mut all = self.skipped;
        while let Some(event) = self.lines.recv().await {
            all.push(event);
        }
        all
    }
}

fn spawn(binary: &Path, args: &[&str]) -> (Child, ChildStdin, Events) {
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the Go peer");
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str(&line) {
                Ok(event) => {
                    let _ = tx.send(event);
                }
                Err(_) => eprintln!("go peer: {line}"),
            }
        }
    });
    (child, stdin, Events { lines: rx, skipped: Vec::new() })
}

/// A Go peer serving `MyService` (killed when dropped).
#[derive(Debug)]
pub struct GoPeer {
    child: Child,
    stdin: ChildStdin,
    /// What it printed after `ready`.
    pub events: Events,
}

impl GoPeer {
    /// Starts a Go server named `name` serving `region`'s topics on `bus_url`
    /// and waits until it is ready. `extra` are further peer flags.
    pub async fn server(binary: &Path, bus_url: &str, name: &str, region: &str, extra: &[&str]) -> GoPeer {
        let mut args = vec!["--bus", bus_url, "--role", "server", "--name", name, "--region", region];
        args.extend_from_slice(extra);
        let (child, stdin, mut events) = spawn(binary, &args);
        events.wait_for(|e| e["event"] == "ready").await;
        GoPeer { child, stdin, events }
    }

    /// Publishes `text` to the subscription method `method` and waits until it is sent.
    pub async fn publish(&mut self, method: &str, text: &str) {
        self.stdin.write_all(format!("{method} {text}\n").as_bytes()).await.expect("write to the Go peer");
        let event = self.events.wait_for(|e| e["event"] == "published").await;
        assert_eq!(event["ok"], true, "{method} publish failed: {event}");
    }

    /// Shuts the server down gracefully and returns what it printed since `ready`.
    pub async fn stop(mut self) -> Vec<Value> {
        drop(self.stdin);
        let Ok(events) = tokio::time::timeout(Duration::from_secs(10), self.events.rest()).await else {
            panic!("the Go server did not shut down within 10 s");
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        assert!(events.iter().any(|e| e["event"] == "stopped"), "the Go server did not stop cleanly: {events:?}");
        events
    }
}

/// Runs a Go client to completion and returns its result line.
pub async fn run_client(binary: &Path, bus_url: &str, extra: &[&str]) -> Value {
    let (child, stdin, events) = start_client(binary, bus_url, extra);
    finish_client(child, stdin, events).await
}

/// Starts a Go client; its events arrive on the returned [`Events`].
pub fn start_client(binary: &Path, bus_url: &str, extra: &[&str]) -> (Child, ChildStdin, Events) {
    let mut args = vec!["--bus", bus_url, "--role", "client"];
    args.extend_from_slice(extra);
    spawn(binary, &args)
}

/// Waits for a client started by [`start_client`] and returns its result line.
pub async fn finish_client(mut child: Child, stdin: ChildStdin, events: Events) -> Value {
    drop(stdin);
    let events = tokio::time::timeout(Duration::from_secs(30), events.rest()).await.expect("Go client finished");
    let _ = child.wait().await;
    events.into_iter().rfind(|e| e.get("scenario").is_some()).expect("the Go client printed a result")
}

/// The Rust `MyService` server that behaves as the Go peer's server: the
/// request text drives it (`error CODE MESSAGE`, `metadata`, `sleep MS`,
/// otherwise `TEXT from NAME`), streams echo and close after
/// [`STREAM_CLOSE_AFTER`] replies, and it counts what it handled.
#[derive(Debug, Default)]
pub struct Twin {
    /// Part of every answer.
    pub name: String,
    /// Texts of the unary requests it ran, in order.
    pub handled: Mutex<Vec<String>>,
    /// Streams opened to it.
    pub streams: AtomicUsize,
    /// Metadata of the last stream opened to it.
    pub stream_metadata: Mutex<HashMap<String, String>>,
}

impl Twin {
    /// A twin answering as `name`.
    pub fn new(name: &str) -> Arc<Twin> {
        Arc::new(Twin { name: name.to_owned(), ..Twin::default() })
    }

    /// Runs one unary request the way the Go peer does.
    pub async fn answer(&self, ctx: &RequestContext, req: MyRequest) -> Result<MyResponse, Error> {
        self.handled.lock().unwrap_or_else(|e| e.into_inner()).push(req.text.clone());
        let fields: Vec<&str> = req.text.splitn(3, ' ').collect();
        match fields.as_slice() {
            ["error", code, message] => {
                Err(Error::from_wire(code, *message, Vec::new()).with_detail(&MyResponse { text: "detail".into() }))
            }
            ["metadata"] => {
                let sorted: std::collections::BTreeMap<_, _> = ctx.metadata().iter().collect();
                Ok(MyResponse { text: serde_json::to_string(&sorted).unwrap_or_default() })
            }
            ["sleep", ms] => {
                let ms = ms.parse().unwrap_or(0);
                match tokio::time::timeout_at(ctx.deadline(), tokio::time::sleep(Duration::from_millis(ms))).await {
                    Ok(()) => Ok(MyResponse { text: format!("{} from {}", req.text, self.name) }),
                    Err(_) => Err(Error::new(ErrorCode::DeadlineExceeded, "deadline passed")),
                }
            }
            _ => Ok(MyResponse { text: format!("{} from {}", req.text, self.name) }),
        }
    }

    /// How many unary requests it ran.
    pub fn handled_count(&self) -> usize {
        self.handled.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// [`Twin`] behind an `Arc`, as the generated server wants it.
#[derive(Debug, Clone)]
pub struct SharedTwin(pub Arc<Twin>);

impl MyServiceServerImpl for SharedTwin {
    async fn normal_rpc(&self, ctx: RequestContext, req: MyRequest) -> Result<MyResponse, Error> {
        self.0.answer(&ctx, req).await
    }

    async fn intensive_rpc(&self, ctx: RequestContext, req: MyRequest) -> Result<MyResponse, Error> {
        self.0.answer(&ctx, req).await
    }

    fn intensive_rpc_affinity(&self, _ctx: &RequestContext, _req: &MyRequest) -> f32 {
        1.0
    }

    async fn get_stats(&self, _ctx: RequestContext, _req: MyRequest) -> Result<MyResponse, Error> {
        Ok(MyResponse { text: format!("stats of {}", self.0.name) })
    }

    async fn exchange_updates(&self, mut stream: ServerStream<MyServerMessage, MyClientMessage>) -> Result<(), Error> {
        self.0.streams.fetch_add(1, Ordering::SeqCst);
        if let Some(ctx) = stream.context() {
            *self.0.stream_metadata.lock().unwrap_or_else(|e| e.into_inner()) = ctx.metadata().clone();
        }
        let mut replies = 0;
        while stream.recv().await?.is_some() {
            stream.send(&MyServerMessage {}).await?;
            replies += 1;
            if replies == STREAM_CLOSE_AFTER {
                return Err(Error::new(
                    ErrorCode::Aborted,
                    format!("server closes after {STREAM_CLOSE_AFTER} messages"),
                ));
            }
        }
        Ok(())
    }

    async fn get_region_stats(&self, ctx: RequestContext, req: MyRequest) -> Result<MyResponse, Error> {
        self.get_stats(ctx, req).await
    }
}

/// Starts a [`Twin`] server named `name` on `bus`, serving `region`'s topics
/// (including [`SINGLE_SERVER_RPC`]).
pub async fn twin_server(
    bus: psrpc::SharedBus,
    name: &str,
    region: &str,
) -> (my_service::MyServiceServer<SharedTwin>, Arc<Twin>) {
    twin_server_with(bus, name, region, Default::default()).await
}

/// [`twin_server`] with server options of the caller's.
pub async fn twin_server_with(
    bus: psrpc::SharedBus,
    name: &str,
    region: &str,
    options: psrpc::ServerOptions,
) -> (my_service::MyServiceServer<SharedTwin>, Arc<Twin>) {
    let twin = Twin::new(name);
    let server =
        my_service::MyServiceServer::new(SharedTwin(Arc::clone(&twin)), bus, options).await.expect("serve MyService");
    server.register_get_region_stats_topic(region).await.expect("register the region");
    let handler = Arc::clone(&twin);
    server
        .engine()
        .register_unary(
            &SINGLE_SERVER_RPC,
            vec![region.to_owned()],
            move |ctx, req: MyRequest| {
                let handler = Arc::clone(&handler);
                async move { handler.answer(&ctx, req).await }
            },
            None,
        )
        .await
        .expect("register SingleServerRPC");
    (server, twin)
}
