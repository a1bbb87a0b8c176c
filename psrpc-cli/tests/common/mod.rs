//! What the tests of the `psrpc` binary share: a `Greeter` service served
//! by the library, and running the binary.

#![allow(dead_code)] // each test crate uses part of it

use std::process::Stdio;
use std::time::Duration;

use psrpc::{
    Delivery, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RpcServer, Selection, ServerOptions,
    ServerStream, SharedBus,
};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Note {
    #[prost(string, tag = "1")]
    pub(crate) text: String,
    #[prost(int32, tag = "2")]
    pub(crate) count: i32,
}

impl prost::Name for Note {
    const NAME: &'static str = "Note";
    const PACKAGE: &'static str = "demo";
}

pub(crate) static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
pub(crate) static CENSUS: MethodInfo = MethodInfo::new("Census", MethodKind::Multi { topics: false });
pub(crate) static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));
pub(crate) static NEWS: MethodInfo =
    MethodInfo::new("News", MethodKind::Subscription { delivery: Delivery::Every, topics: false });

pub(crate) static JOBS: MethodInfo =
    MethodInfo::new("Jobs", MethodKind::Subscription { delivery: Delivery::Queue, topics: false });
pub(crate) static PICK: MethodInfo = MethodInfo::new("Pick", MethodKind::Unary(Selection::Affinity { topics: false }));
pub(crate) static LOCAL: MethodInfo = MethodInfo::new("Local", MethodKind::Unary(Selection::Queue { topics: true }));

pub(crate) const PROTO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/greeter.proto");

pub(crate) async fn echo(ctx: RequestContext, note: Note) -> Result<Note, Error> {
    if note.text == "fail" {
        return Err(Error::new(ErrorCode::NotFound, "no such greeting"));
    }
    let who = ctx.metadata().get("who").cloned().unwrap_or_default();
    Ok(Note { text: format!("{}{who}", note.text), count: note.count + 1 })
}

pub(crate) async fn chat(mut stream: ServerStream<Note, Note>) -> Result<(), Error> {
    while let Some(note) = stream.recv().await? {
        stream.send(&Note { text: note.text.to_uppercase(), count: note.count }).await?;
    }
    Ok(())
}

pub(crate) async fn greeter(bus: SharedBus) -> RpcServer {
    let server = RpcServer::new("Greeter", bus, ServerOptions::default());
    server.register_unary(&ECHO, vec![], echo, None).await.expect("Echo");
    server.register_unary(&CENSUS, vec![], echo, None).await.expect("Census");
    server.register_stream(&CHAT, vec![], chat, None).await.expect("Chat");
    server.register_unary(&PICK, vec![], echo, None).await.expect("Pick");
    server.register_unary(&LOCAL, vec!["eu".to_owned()], echo, None).await.expect("Local");
    server
}

pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// The binary with `args` and `PSRPC_BUS=bus`, killed when dropped.
pub(crate) fn command(bus: &str, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_psrpc"));
    command.args(args).env("PSRPC_BUS", bus).kill_on_drop(true);
    command
}

/// Starts the binary with `PSRPC_BUS=bus`.
pub(crate) fn spawn_psrpc(bus: &str, args: &[&str], stdin: bool) -> tokio::process::Child {
    command(bus, args)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the psrpc binary runs")
}

/// Waits (at most 20 s) for the binary to exit and collects what it printed.
pub(crate) async fn finish(child: tokio::process::Child) -> Output {
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

pub(crate) async fn psrpc(bus: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = spawn_psrpc(bus, args, stdin.is_some());
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).await.expect("stdin");
    }
    finish(child).await
}

/// Waits (at most 20 s) until the binary says `needle` on stderr; what it
/// says later is dropped.
pub(crate) async fn stderr_says(child: &mut tokio::process::Child, needle: &str) {
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let said = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = stderr.next_line().await.expect("stderr") {
            if line.contains(needle) {
                return true;
            }
        }
        false
    });
    assert!(said.await.expect("psrpc says it in time"), "psrpc exited before saying {needle:?}");
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
}

/// A directory of its own for one test, removed when dropped.
pub(crate) struct TempDir(std::path::PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("psrpc-cli-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
