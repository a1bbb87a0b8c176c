//! Every example binary runs as the README shows it, on the in-process bus:
//! the one-shot examples exit 0 with their closing line, and the gateway
//! answers HTTP, then drains on SIGTERM.
//!
//! The binaries come from `cargo build --examples` (a no-op after
//! `cargo test`, which builds the examples already).
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The path of example `name`, built with the profile of this test binary.
fn example(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // This test runs from `<target>/<profile dir>/deps/`.
        let exe = std::env::current_exe().expect("test binary path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("profile directory");
        let target_dir = profile_dir.parent().expect("target directory");
        let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") => "dev",
            Some(other) => other,
            None => panic!("profile directory {} has no name", profile_dir.display()),
        };
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--examples", "-p", "psrpc-examples", "--profile", profile])
            .arg("--target-dir")
            .arg(target_dir)
            .status()
            .expect("run cargo build --examples");
        assert!(status.success(), "cargo build --examples: {status}");
        profile_dir.join("examples")
    })
    .join(name)
}

/// Runs example `name` to its end and returns its standard output.
fn run_to_end(name: &str) -> String {
    let output = Command::new(example(name)).output().expect("start the example");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{name}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn quickstart_runs_every_kind() {
    assert!(run_to_end("quickstart").contains("all RPC kinds succeeded"));
}

#[test]
fn my_service_runs_every_kind_in_both_roles() {
    assert!(run_to_end("my_service").contains("every RPC kind succeeded"));
}

#[test]
fn region_sharded_answers_each_region_from_its_own_shard() {
    let stdout = run_to_end("region_sharded");
    for region in ["us-west", "eu-west", "ap-south"] {
        assert!(stdout.contains(&format!("{region:10} -> ")), "{region} missing:\n{stdout}");
    }
    assert!(stdout.ends_with("done\n"), "{stdout}");
}

#[test]
fn substitution_gives_the_same_total_locally_and_remotely() {
    let stdout = run_to_end("substitution");
    assert!(stdout.contains("local implementation: 10; remote client over the bus: 10"), "{stdout}");
}

/// One HTTP/1.1 POST of `body` to `/greet`; the whole response.
fn post_greet(addr: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the gateway");
    write!(
        stream,
        "POST /greet HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    response
}

#[test]
fn greeter_gateway_answers_http_and_drains_on_sigterm() {
    let mut child = Command::new(example("greeter_gateway"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the gateway");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = loop {
        let line = lines.next().expect("the gateway prints its address").expect("read stdout");
        if let Some(rest) = line.strip_prefix("gateway on http://") {
            break rest.split('/').next().expect("host:port").to_owned();
        }
    };

    let ok = post_greet(&addr, r#"{"name":"ada"}"#);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains(r#""message":"hello ada""#), "{ok}");
    let bad = post_greet(&addr, r#"{"name":""}"#);
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -TERM: {status}");
    let rest: Vec<String> = lines.map(|line| line.expect("read stdout")).collect();
    assert!(child.wait().expect("wait for the gateway").success());
    assert_eq!(rest, ["SIGTERM: draining", "drained"]);
}
