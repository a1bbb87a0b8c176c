//! The short soak: the `psrpc-soak` binary on every topology, 20 s of load
//! each, every invariant checked from its JSON figures. The seed is drawn
//! per run and printed (the binary prints it first, on standard error), so
//! a failure names the schedule to replay with `--seed`. Under `CI=true` a
//! missing broker binary fails the test; elsewhere it skips the topology.
//!
//! The topologies run one after another (one soak loads both cores of a
//! small machine already).

use std::process::{Command, Stdio};
use std::sync::Mutex;

use psrpc_test_support::broker::{find_binary, skip_or_fail};
use serde_json::Value;

/// One soak at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs the soak on `topology` if its brokers are installed, and asserts
/// every invariant from the figures.
fn soak(topology: &str, binaries: &[&'static str]) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for binary in binaries {
        if skip_or_fail(find_binary(binary)).is_none() {
            return;
        }
    }
    let output = Command::new(env!("CARGO_BIN_EXE_psrpc-soak"))
        .args(["--topology", topology, "--duration", "20s", "--json"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run psrpc-soak");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("psrpc-soak ({}) printed no JSON report ({e}): {stdout}", output.status));
    let seed = &report["seed"];
    let run = &report["runs"][0];
    let figures = &run["figures"];
    let zero =
        |what: &str, value: &Value| assert_eq!(value.as_u64(), Some(0), "{topology}, seed {seed}: {what}: {run:#}");
    zero("calls past their deadline", &figures["past_deadline"]);
    zero("queue requests handled more than once", &figures["handled_twice"]);
    zero("acknowledged stream messages lost", &figures["streams"]["lost"]);
    for kind in ["queue", "broadcast"] {
        zero(&format!("{kind} subscription deliveries lost"), &figures["subscriptions"][kind]["lost"]);
        zero(&format!("{kind} subscription messages duplicated"), &figures["subscriptions"][kind]["duplicated"]);
    }
    zero("handlers in flight after the clients stopped", &figures["in_flight_after_stop"]);
    zero("faults not recovered from", &figures["recovery"]["unrecovered"]);
    for rss in figures["rss"].as_array().expect("rss figures") {
        let growth = rss["growth_pct"].as_f64().expect("growth");
        assert!(growth <= 10.0, "{topology}, seed {seed}: RSS of {} grew {growth:.1} %: {run:#}", rss["worker"]);
    }
    assert!(
        figures["violations"].as_array().is_some_and(Vec::is_empty),
        "{topology}, seed {seed}: {:#}",
        figures["violations"]
    );
    assert!(output.status.success(), "{topology}, seed {seed}: exit {}", output.status);
    // The run did work: every kind succeeded and messages were checked.
    for (kind, calls) in figures["calls"].as_object().expect("calls") {
        assert!(calls["succeeded"].as_u64() > Some(0), "{topology}, seed {seed}: no {kind} call succeeded");
    }
    for kind in ["queue", "broadcast"] {
        assert!(
            figures["subscriptions"][kind]["due"].as_u64() > Some(0),
            "{topology}, seed {seed}: no {kind} delivery checked"
        );
    }
}

#[test]
fn nats() {
    soak("nats", &["nats-server"]);
}

#[test]
fn nats_cluster() {
    soak("nats-cluster", &["nats-server"]);
}

#[test]
fn redis() {
    soak("redis", &["redis-server"]);
}

#[test]
fn redis_sentinel() {
    soak("redis-sentinel", &["redis-server", "redis-sentinel", "redis-cli"]);
}

#[test]
fn redis_cluster() {
    soak("redis-cluster", &["redis-server", "redis-cli"]);
}
