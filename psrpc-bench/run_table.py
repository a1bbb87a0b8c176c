#!/usr/bin/env python3
"""Runs the psrpc-bench configurations of docs/BENCHMARKS.md and prints its
results table (one markdown row per run, from each run's JSON summary line).

    cargo build --release -p psrpc-bench
    python3 psrpc-bench/run_table.py > /tmp/table.md
"""
import json
import subprocess
import sys

BENCH = "./target/release/psrpc-bench"
RUNS = (
    [("local", kind, 64) for kind in ("single", "single-noclaim", "multi", "stream", "subscription")]
    + [("nats", kind, 64) for kind in ("single", "single-noclaim", "multi", "stream")]
    + [("redis", kind, 64) for kind in ("single", "single-noclaim", "multi", "stream")]
    + [(bus, kind, 1) for bus in ("local", "nats", "redis") for kind in ("single", "single-noclaim", "multi")]
    + [("local", "single", 10000)]
)


def row(summary):
    ours, raw = summary["psrpc"], summary["raw"]
    kind = summary["kind"].replace("singlenoclaim", "single-noclaim")
    if kind == "multi":
        kind = f"multi ({summary['servers']} servers)"
    cells = [
        summary["bus"], kind, f"{summary['concurrency']:,}", f"{ours['calls_per_second']:.0f}",
        f"{ours['p50_us']:.1f}", f"{ours['p99_us']:.1f}", f"{ours['p999_us']:.1f}", f"{ours['cpu_us_per_call']:.1f}",
        f"{raw['calls_per_second']:.0f}", f"{raw['p50_us']:.1f}", f"{summary['p50_ratio']:.2f}x",
        f"{summary['throughput_ratio'] * 100:.0f}%", str(ours["errors"]), str(summary["peak_rss_kib"]),
    ]
    return "| " + " | ".join(cells) + " |"


def main():
    print("| bus | kind | in flight | psrpc calls/s | p50 µs | p99 µs | p99.9 µs | CPU µs/call "
          "| raw calls/s | raw p50 µs | p50 vs raw | throughput vs raw | errors | peak RSS KiB |")
    print("|" + "---|" * 14)
    for bus, kind, concurrency in RUNS:
        out = subprocess.run(
            [BENCH, "--bus", bus, "--kind", kind, "--concurrency", str(concurrency),
             "--payload", "128", "--duration", "4", "--warmup", "1"],
            check=True, capture_output=True, text=True,
        ).stdout
        print(row(json.loads(out.strip().splitlines()[-1])), flush=True)


if __name__ == "__main__":
    sys.exit(main())
