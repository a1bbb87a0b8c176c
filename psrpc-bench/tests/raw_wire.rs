//! `psrpc-bench --raw-wire --broker-pid` on real brokers: the round trip over
//! hand-written protocol lines completes on NATS and on Redis, and the
//! broker's CPU time per call is reported for every timed phase.

use psrpc_test_support::broker::{Broker, skip_or_fail};
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use serde_json::Value;

/// Runs psrpc-bench for a second per phase against `broker` and returns its JSON summary.
fn run(bus: &str, broker: &Broker) -> Value {
    let pid = broker.pid().expect("a broker started by the test").to_string();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_psrpc-bench"));
    command.args(["--bus", bus, "--url", broker.url(), "--broker-pid", &pid, "--raw-wire"]);
    command.args(["--kind", "single-noclaim", "--concurrency", "4", "--duration", "1", "--warmup", "0"]);
    psrpc_test_support::bench_summary::run(&mut command)
}

#[test]
fn the_wire_round_trip_runs_and_the_brokers_cpu_is_measured_on_both_brokers() {
    let Some(nats) = skip_or_fail(NatsServer::start_own()) else { return };
    let Some(redis) = skip_or_fail(RedisServer::start_own()) else { return };
    for (bus, broker) in [("nats", &*nats), ("redis", &*redis)] {
        let summary = run(bus, broker);
        let wire = &summary["raw_wire"];
        assert!(wire["calls"].as_u64().unwrap_or(0) > 0, "{bus}: no wire round trips in {summary}");
        assert_eq!(wire["errors"], 0, "{bus}: {summary}");
        assert!(wire["p50_us"].as_f64().unwrap_or(0.0) > 0.0, "{bus}: {summary}");
        let broker_cpu: Vec<f64> = ["raw", "raw_wire", "psrpc"]
            .iter()
            .map(|phase| summary[phase]["broker_cpu_us_per_call"].as_f64().expect("broker CPU measured"))
            .collect();
        // The broker's CPU time is counted in 10 ms ticks: over three busy
        // seconds it cannot stay at zero.
        assert!(broker_cpu.iter().sum::<f64>() > 0.0, "{bus}: broker CPU {broker_cpu:?}");
    }
}
