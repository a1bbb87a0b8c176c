#!/usr/bin/env python3
"""Runs the psrpc-bench configurations of docs/BENCHMARKS.md and prints its
results table (one markdown row per run, from each run's JSON summary line).

    cargo build --release -p psrpc-bench
    python3 psrpc-bench/run_table.py > /tmp/table.md
    python3 psrpc-bench/run_table.py targets 5 > /tmp/targets.md   # medians of 5 runs per target row
    python3 psrpc-bench/run_table.py compare OLD NEW 3              # two builds alternately, medians of 3
    python3 psrpc-bench/run_table.py compare OLD NEW 3 redis:single:64 nats:stream:1   # on those rows
"""
import statistics
import sys

from benchlib import run_json

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


TARGETS = (
    [("local", kind, 64, []) for kind in ("single", "single-noclaim")]
    + [(bus, kind, c, []) for bus in ("nats", "redis") for c in (64, 1) for kind in ("single", "single-noclaim")]
    # Redis queue requests against the floor: the raw round trip plus Go psrpc's queue lock.
    + [("redis", "single-noclaim", c, ["--raw-lock"]) for c in (64, 1)]
)


def run(bus, kind, concurrency, extra=()):
    summary = run_json([BENCH, "--bus", bus, "--kind", kind, "--concurrency", str(concurrency),
                        "--payload", "128", "--duration", "4", "--warmup", "1", *extra])
    if summary is None:
        sys.exit(1)
    return summary


def spread(values, fmt):
    values = sorted(values)
    return f"{fmt(values[len(values) // 2])} ({fmt(values[0])}–{fmt(values[-1])})"


def targets(runs):
    print("| bus | kind | in flight | raw baseline | runs | psrpc calls/s median (min–max) "
          "| p50 vs raw median (min–max) | throughput vs raw median (min–max) | errors |")
    print("|" + "---|" * 9)
    for bus, kind, concurrency, extra in TARGETS:
        results = [run(bus, kind, concurrency, extra) for _ in range(runs)]
        baseline = "raw + queue lock" if extra else "raw"
        print("| " + " | ".join([
            bus, kind, str(concurrency), baseline, str(runs),
            spread([r["psrpc"]["calls_per_second"] for r in results], lambda v: f"{v:,.0f}"),
            spread([r["p50_ratio"] for r in results], lambda v: f"{v:.2f}x"),
            spread([r["throughput_ratio"] * 100 for r in results], lambda v: f"{v:.0f}%"),
            str(sum(r["psrpc"]["errors"] for r in results)),
        ]) + " |", flush=True)


COMPARED = [(bus, kind, c) for bus in ("local", "nats") for c in (64, 1) for kind in ("single", "single-noclaim")]


def compare(old, new, runs, rows=COMPARED):
    """Runs two builds of psrpc-bench alternately on the same rows and
    prints the medians side by side (old, then new), with the range of the
    per-round throughput ratios."""
    global BENCH
    print("| bus | kind | in flight | calls/s old | calls/s new | new/old | p50 µs old | p50 µs new "
          "| p99 µs old | p99 µs new | p99.9 µs old | p99.9 µs new | CPU µs/call old | new | raw calls/s |")
    print("|" + "---|" * 15)
    for bus, kind, concurrency in rows:
        results = {old: [], new: []}
        for _ in range(runs):
            for binary in (old, new):
                BENCH = binary
                results[binary].append(run(bus, kind, concurrency))
        median = lambda binary, key: statistics.median(r["psrpc"][key] for r in results[binary])
        raw = statistics.median(r["raw"]["calls_per_second"] for r in results[old] + results[new])
        ratios = [n["psrpc"]["calls_per_second"] / o["psrpc"]["calls_per_second"]
                  for o, n in zip(results[old], results[new])]
        cells = [bus, kind, str(concurrency), f"{median(old, 'calls_per_second'):,.0f}",
                 f"{median(new, 'calls_per_second'):,.0f}",
                 f"{median(new, 'calls_per_second') / median(old, 'calls_per_second'):.2f}x "
                 f"({min(ratios):.2f}–{max(ratios):.2f})"]
        for key in ("p50_us", "p99_us", "p999_us", "cpu_us_per_call"):
            cells += [f"{median(old, key):.1f}", f"{median(new, key):.1f}"]
        print("| " + " | ".join(cells + [f"{raw:,.0f}"]) + " |", flush=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "targets":
        return targets(int(sys.argv[2]) if len(sys.argv) > 2 else 5)
    if len(sys.argv) > 3 and sys.argv[1] == "compare":
        runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
        rows = [(bus, kind, int(c)) for bus, kind, c in (cell.split(":") for cell in sys.argv[5:])]
        return compare(sys.argv[2], sys.argv[3], runs, rows or COMPARED)
    print("| bus | kind | in flight | psrpc calls/s | p50 µs | p99 µs | p99.9 µs | CPU µs/call "
          "| raw calls/s | raw p50 µs | p50 vs raw | throughput vs raw | errors | peak RSS KiB |")
    print("|" + "---|" * 14)
    for bus, kind, concurrency in RUNS:
        print(row(run(bus, kind, concurrency)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
