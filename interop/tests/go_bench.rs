//! The Go twin of psrpc-bench (`interop/go/bench`), which
//! `psrpc-bench/go_vs_rust.py` runs beside psrpc-bench: it builds against
//! every Go release ([`GoVersion::ALL`]), measures Go psrpc calls, and its raw
//! round trip (nats.go and go-redis with no psrpc) works on every bus.

use std::path::{Path, PathBuf};

use psrpc_interop::GoVersion;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use serde_json::Value;

fn bench(version: GoVersion) -> Option<PathBuf> {
    psrpc_interop::bench_binary(version, Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// Runs the twin for one second with four callers and returns its JSON summary.
fn run(binary: &Path, bus: &str, url: &str, kind: &str) -> Value {
    run_with(binary, &["--bus", bus, "--url", url, "--kind", kind])
}

/// Runs the twin with `args` for one second with four callers and returns its JSON summary.
fn run_with(binary: &Path, args: &[&str]) -> Value {
    let mut command = std::process::Command::new(binary);
    command.args(args).args(["--concurrency", "4", "--duration", "1", "--warmup", "0"]);
    psrpc_test_support::bench_summary::run(&mut command)
}

/// Asserts that a summary measured calls of `kind` on `bus` and none failed.
fn assert_measured(summary: &Value, bus: &str, kind: &str) {
    assert_eq!(summary["bus"], bus);
    assert_eq!(summary["kind"], kind.replace('-', ""));
    let measured = &summary["psrpc"];
    assert!(measured["calls"].as_u64().unwrap_or(0) > 0, "{bus}/{kind} made no calls: {summary}");
    assert_eq!(measured["errors"], 0, "{bus}/{kind}: {summary}");
    assert!(measured["p50_us"].as_f64().unwrap_or(0.0) > 0.0, "{bus}/{kind}: {summary}");
}

#[test]
fn the_twin_measures_psrpc_calls_with_every_release() {
    for version in GoVersion::ALL {
        let Some(binary) = bench(version) else { return };
        let summary = run(&binary, "local", "", "single");
        assert_measured(&summary, "local", "single");
        assert_eq!(summary["psrpc_version"], version.label());
    }
}

#[test]
fn the_raw_round_trip_runs_on_every_bus() {
    let Some(binary) = bench(GoVersion::Latest) else { return };
    let Some(nats) = skip_or_fail(NatsServer::start()) else { return };
    let Some(redis) = skip_or_fail(RedisServer::start()) else { return };
    for (bus, url) in [("local", ""), ("nats", nats.url()), ("redis", redis.url())] {
        assert_measured(&run(&binary, bus, url, "raw"), bus, "raw");
    }
}

#[test]
fn the_twin_measures_the_brokers_cpu_per_call() {
    let Some(binary) = bench(GoVersion::Latest) else { return };
    let Some(nats) = skip_or_fail(NatsServer::start_own()) else { return };
    let pid = nats.pid().expect("the test's own broker").to_string();
    let summary = run_with(&binary, &["--bus", "nats", "--url", nats.url(), "--kind", "raw", "--broker-pid", &pid]);
    assert_measured(&summary, "nats", "raw");
    // Counted in 10 ms ticks over a busy second: above zero.
    let broker_cpu = summary["psrpc"]["broker_cpu_us_per_call"].as_f64().expect("broker CPU measured");
    assert!(broker_cpu > 0.0, "{summary}");
}
