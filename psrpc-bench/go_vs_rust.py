#!/usr/bin/env python3
"""Go psrpc against psrpc-rs, side by side: the Go twin of psrpc-bench
(interop/go/bench) and psrpc-bench run alternately on one private nats-server
and redis-server, several runs each; prints medians and Rust/Go ratios of
throughput, p50, p99, p99.9 and CPU per call for every kind, bus and in-flight
count, as a markdown table.

    cargo build --release -p psrpc-bench
    python3 psrpc-bench/go_vs_rust.py --runs 3 > /tmp/go_vs_rust.md

Needs go, nats-server and redis-server. The Rust binary is
$CARGO_TARGET_DIR/release/psrpc-bench (else target/release/psrpc-bench);
--go-modfile go.v077.mod --go-tags psrpc07 measures Go psrpc 0.7 instead of the
newest release. Ratios are Rust / Go: above 1 is better for throughput, below
1 is better for latency and CPU. The last column is the raw bus round trip
(publish a request, the subscriber publishes the reply; no psrpc) that
psrpc-bench measures before each of its runs, as a yardstick: a psrpc call that
takes N bus messages one after another can do roughly 2/N of it (not a hard
bound: on NATS the raw round trip pays for async-nats's request machinery).
With --go-raw, the Go twin's raw round trip through nats.go and go-redis is
measured in every run too; with --raw-wire, psrpc-bench also measures the round
trip over hand-written protocol lines on plain sockets (no client library).
On the brokers, both binaries also measure the broker process's CPU time per
call over their timed phase (the "broker CPU" columns): on a 2-core machine the
broker's share bounds what either side can reach.
"""
import argparse
import statistics
import sys

from benchlib import Brokers, build_go, run_json, rust_binary

KINDS = ("single", "single-noclaim", "affinity", "multi", "stream", "subscription")
BUSES = ("local", "nats", "redis")
METRICS = (("calls_per_second", "calls/s", "{:,.0f}"), ("p50_us", "p50 µs", "{:.1f}"),
           ("p99_us", "p99 µs", "{:.1f}"), ("p999_us", "p99.9 µs", "{:.1f}"),
           ("cpu_us_per_call", "CPU µs/call", "{:.1f}"))


def run(binary, bus, broker, kind, concurrency, opts):
    args = [binary, "--bus", bus, "--kind", kind, "--concurrency", str(concurrency),
            "--payload", str(opts.payload), "--duration", str(opts.duration), "--warmup", str(opts.warmup)]
    if broker:
        url, pid = broker
        args += ["--url", url, "--broker-pid", str(pid)]
    if opts.raw_wire and binary.endswith("psrpc-bench") and bus != "local":
        args.append("--raw-wire")
    return run_json(args)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--payload", type=int, default=128)
    parser.add_argument("--buses", default=",".join(BUSES))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--in-flight", default="64,1")
    parser.add_argument("--go-modfile", default="go.mod")
    parser.add_argument("--go-tags", default="")
    parser.add_argument("--go-raw", action="store_true",
                        help="also run the Go twin's raw round trip (nats.go, go-redis; no psrpc) in every run")
    parser.add_argument("--raw-wire", action="store_true",
                        help="psrpc-bench also measures the raw round trip on plain sockets (no client library)")
    opts = parser.parse_args()

    rust, go = rust_binary(), build_go(opts.go_modfile, opts.go_tags)
    with Brokers() as brokers:
        urls = brokers.urls
        header = ["bus", "kind", "in flight"]
        for _, name, _ in METRICS:
            header += [f"Go {name}", f"Rust {name}", "Rust/Go"]
        print(f"{opts.runs} runs each, medians; {opts.duration} s timed after {opts.warmup} s warm-up, "
              f"{opts.payload}-byte payload; Go psrpc from interop/go/{opts.go_modfile}\n")
        header += ["errors Go/Rust", "raw round trips/s"] + (["Go raw round trips/s"] if opts.go_raw else [])
        header += ["raw wire round trips/s"] if opts.raw_wire else []
        header += ["Go broker CPU µs/call", "Rust broker CPU µs/call"]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for bus in opts.buses.split(","):
            for concurrency in (int(c) for c in opts.in_flight.split(",")):
                for kind in opts.kinds.split(","):
                    results, go_raw = {"go": [], "rust": []}, []
                    for i in range(opts.runs):
                        # Alternate which goes first, so drift hits both alike.
                        order = (("go", go), ("rust", rust)) if i % 2 == 0 else (("rust", rust), ("go", go))
                        for name, binary in order:
                            results[name].append(run(binary, bus, urls[bus], kind, concurrency, opts))
                        if opts.go_raw:
                            go_raw.append(run(go, bus, urls[bus], "raw", concurrency, opts))
                    failed = {n: results[n].count(None) for n in results}
                    # psrpc-bench's summary also holds the raw round trip it measured in the same run.
                    raw = [r["raw"]["calls_per_second"] for r in results["rust"] if r is not None]
                    ok = {n: [r["psrpc"] for r in results[n] if r is not None] for n in results}
                    cells = [bus, kind, str(concurrency)]
                    for key, _, fmt in METRICS:
                        g = statistics.median(r[key] for r in ok["go"]) if ok["go"] else 0
                        r = statistics.median(r[key] for r in ok["rust"]) if ok["rust"] else 0
                        cells += [fmt.format(g), fmt.format(r), f"{r / g:.2f}x" if g else "–"]
                    errors = [f"{sum(r['errors'] for r in ok[n])}" + (f" ({failed[n]} runs failed)" if failed[n] else "")
                              for n in ("go", "rust")]
                    cells.append(" / ".join(errors))
                    cells.append(f"{statistics.median(raw):,.0f}" if raw else "–")
                    if opts.go_raw:
                        rates = [r["psrpc"]["calls_per_second"] for r in go_raw if r is not None]
                        cells.append(f"{statistics.median(rates):,.0f}" if rates else "–")
                    if opts.raw_wire:
                        wire = [r["raw_wire"]["calls_per_second"] for r in results["rust"] if r and r.get("raw_wire")]
                        cells.append(f"{statistics.median(wire):,.0f}" if wire else "–")
                    for n in ("go", "rust"):
                        broker = [r["broker_cpu_us_per_call"] for r in ok[n] if r.get("broker_cpu_us_per_call") is not None]
                        cells.append(f"{statistics.median(broker):.1f}" if broker else "–")
                    print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
