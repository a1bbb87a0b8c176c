#!/usr/bin/env python3
"""Scale curves of psrpc-rs beside Go psrpc: psrpc-bench and its Go twin
(interop/go/bench), alternating in every cell, along four dimensions (servers,
topics per server, idle subscriptions, payload) on the in-process bus, NATS
and Redis. `run` appends each run's JSON summary to a results file; `render`
turns that file into SVG line plots and markdown tables, without running
anything.

    cargo build --release -p psrpc-bench
    python3 psrpc-bench/scale_curves.py run --dimensions servers --buses local,nats --kinds single,affinity
    python3 psrpc-bench/scale_curves.py run --dry-run           # the full matrix: cells and estimated time
    python3 psrpc-bench/scale_curves.py render   # docs/bench/scale-*.svg, docs/bench/scale-tables.md;
                                                 # prints the links and a summary at 64 servers

Dimensions (each varies one thing, the others at their defaults: one server,
one topic, 128-byte payload, 64 calls in flight):
  servers  --servers N for each kind; throughput, p50/p99/p99.9, CPU and broker
           CPU per call, peak RSS; psrpc-bench's raw bus round trip beside it.
  topics   --kind single-noclaim --topics K: every server registers K topics,
           the client calls one; registration time and memory, throughput.
  idle     --idle-subscriptions K: memory per subscription, subscribe time, and
           on NATS and Redis the time until all K are resubscribed after a
           broker restart (each binary restarts a broker of its own).
  payload  --kind single --payload B: throughput and latency by payload size.
Implementations: psrpc-bench in the Go-compatible wire mode (rust), in the
native wire mode (native, servers dimension only), and the Go twin (go).
Throughput runs share one private nats-server and redis-server per `run`,
set up for megabyte messages (benchlib.Brokers), whose CPU time per call
every binary measures.
"""
import argparse
import datetime
import json
import math
import os
import statistics
import sys

from benchlib import ROOT, Brokers, build_go, run_json, rust_binary

RESULTS = os.path.join(ROOT, "docs", "bench", "scale.json")
PLOTS = os.path.join(ROOT, "docs", "bench")
DIMENSIONS = ("servers", "topics", "idle", "payload")
KINDS = ("single", "single-noclaim", "affinity", "multi")
BUSES = ("local", "nats", "redis")
# psrpc-rs in the Go-compatible wire mode, psrpc-rs in the native wire mode
# (`--native`, servers dimension only: the other dimensions do not depend on
# the claim exchange), Go psrpc.
IMPLS = ("rust", "native", "go")
NATIVE_DIMENSIONS = ("servers",)
KIB, MIB = 1024, 1024 * 1024


def cells(opts):
    """The matrix's cells: (dimension, bus, kind, x, extra arguments), in run order."""
    for dimension in opts.dimensions.split(","):
        for bus in opts.buses.split(","):
            if dimension == "servers":
                for kind in opts.kinds.split(","):
                    for n in opts.servers.split(","):
                        yield dimension, bus, kind, int(n), ["--kind", kind, "--servers", n]
            elif dimension == "topics":
                for k in opts.topics.split(","):
                    yield dimension, bus, "single-noclaim", int(k), ["--kind", "single-noclaim", "--topics", k]
            elif dimension == "idle":
                for k in opts.idle.split(","):
                    yield dimension, bus, "idle", int(k), ["--idle-subscriptions", k, "--outage-ms", str(opts.outage_ms)]
            elif dimension == "payload":
                for b in opts.payloads.split(","):
                    yield dimension, bus, "single", int(b), ["--kind", "single", "--payload", b]
            else:
                sys.exit(f"unknown dimension {dimension!r}: one of {', '.join(DIMENSIONS)}")


def impls_of(opts, dimension):
    """The implementations that run in a dimension's cells."""
    return [i for i in opts.impls.split(",") if i != "native" or dimension in NATIVE_DIMENSIONS]


def estimate_s(opts, dimension, bus, x):
    """A rough duration of one cell (all implementations and repetitions), in seconds."""
    timed = opts.warmup + opts.duration
    if dimension == "idle":
        # Subscribing (NATS: a few ms each on psrpc-bench), the outage, resubscribing.
        per = {"local": 0.0001, "nats": 0.005, "redis": 0.0002}[bus]
        each = 2 + x * per + (opts.outage_ms / 1000 + 1 + x / 20000 if bus != "local" else 0)
    else:
        # psrpc-bench measures the raw round trip, then psrpc; the twin psrpc only.
        setup = 1 + (x * 0.0015 if dimension == "topics" else 0) + (x * 0.02 if dimension == "servers" else 0)
        each = (3 * timed + 2 * setup) / 2
    return each * len(impls_of(opts, dimension)) * opts.reps


def run(opts):
    matrix = list(cells(opts))
    total = sum(estimate_s(opts, d, b, x) for d, b, _, x, _ in matrix)
    print(f"{len(matrix)} cells × {opts.impls} × {opts.reps} repetitions: about {total / 60:.0f} min", file=sys.stderr)
    if opts.dry_run:
        return
    impls = opts.impls.split(",")
    if unknown := set(impls) - set(IMPLS):
        sys.exit(f"unknown implementations {sorted(unknown)}: of {', '.join(IMPLS)}")
    binaries = {impl: [rust_binary()] + (["--native"] if impl == "native" else [])
                for impl in impls if impl != "go"}
    if "go" in impls:
        binaries["go"] = [build_go()]
    results = json.load(open(opts.out)) if os.path.exists(opts.out) else []
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    common = ["--concurrency", str(opts.concurrency), "--duration", str(opts.duration), "--warmup", str(opts.warmup)]
    # The brokers take the payload dimension's largest messages (8 MiB, 64 in flight).
    with Brokers(large_payloads=True) as brokers:
        for n, (dimension, bus, kind, x, extra) in enumerate(matrix):
            for rep in range(opts.reps):
                impls = impls_of(opts, dimension)
                # Alternate the order, so drift hits all alike.
                for impl in impls if (n + rep) % 2 == 0 else impls[::-1]:
                    args = [*binaries[impl], "--bus", bus, *common, *extra]
                    # Idle runs restart a broker of their own; the others share the run's.
                    if brokers.urls[bus] and dimension != "idle":
                        url, pid = brokers.urls[bus]
                        args += ["--url", url, "--broker-pid", str(pid)]
                    print(f"[{n + 1}/{len(matrix)}] {dimension} {bus} {kind} {x} {impl} rep {rep + 1}",
                          file=sys.stderr, flush=True)
                    summary = run_json(args)
                    command = " ".join([impl_name(impl)] + args[1:])
                    results.append({"dimension": dimension, "bus": bus, "kind": kind, "x": x, "impl": impl,
                                    "rep": rep, "date": date, "command": command, "summary": summary})
                    os.makedirs(os.path.dirname(opts.out), exist_ok=True)
                    with open(opts.out, "w") as f:
                        json.dump(results, f, indent=1)


def impl_name(impl):
    """How a command line names the binary."""
    return "psrpc-bench" if impl == "rust" else "interop/go/bench"


# ---- render: results to plots and tables ----

def metric(summary, path):
    """A value at a dotted path of a summary (None if absent)."""
    for key in path.split("."):
        summary = summary.get(key) if isinstance(summary, dict) else None
    return summary


def medians(results):
    """{(dimension, bus, kind, impl): {x: [summaries]}} of the successful runs
    (x of the servers dimension: the servers that ran, at least 3 for multi)."""
    grouped = {}
    for r in results:
        if r["summary"] is not None:
            x = r["summary"]["servers"] if r["dimension"] == "servers" else r["x"]
            grouped.setdefault((r["dimension"], r["bus"], r["kind"], r["impl"]), {}).setdefault(x, []).append(
                r["summary"])
    return grouped


def median_of(summaries, path):
    values = [v for v in (metric(s, path) for s in summaries) if v is not None]
    return statistics.median(values) if values else None


def series(grouped, dimension, bus, kind, impl, path, scale=1.0):
    """[(x, median value × scale)] of one line."""
    points = grouped.get((dimension, bus, kind, impl), {})
    out = [(x, median_of(s, path)) for x, s in sorted(points.items())]
    return [(x, v * scale) for x, v in out if v is not None]


def human(x, unit=""):
    """1000 → 1k, 65536 B → 64 KiB."""
    if unit == "B":
        for size, name in ((MIB, "MiB"), (KIB, "KiB")):
            if x >= size:
                return f"{x / size:g} {name}"
        return f"{x:g} B"
    for size, name in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= size:
            return f"{x / size:g}{name}"
    return f"{x:g}" if x == int(x) or abs(x) >= 10 else f"{x:.2g}"


COLORS = {"rust": "#d9480f", "native": "#2f9e44", "go": "#1971c2", "raw": "#868e96"}
LABELS = {"rust": "psrpc-rs", "native": "psrpc-rs native", "go": "Go psrpc", "raw": "raw bus round trip"}
W, H, LEFT, RIGHT, TOP, BOTTOM = 300, 210, 58, 12, 28, 38


def ticks(lo, hi, log):
    """Tick values covering [lo, hi]."""
    if log:
        first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        step = max(1, (last - first + 4) // 5)
        return [10.0 ** e for e in range(first, last + 1, step)]
    raw = (hi - lo) / 4 or 1
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if step * m >= raw)
    return [step * i for i in range(math.floor(lo / step), math.ceil(hi / step) + 1)]


def panel(x0, y0, title, lines, xunit, logy):
    """SVG of one chart at (x0, y0): lines is {name: [(x, y)]}, x on a log scale."""
    points = [p for pts in lines.values() for p in pts if p[1] is not None and (p[1] > 0 or not logy)]
    out = [f'<text x="{x0 + W / 2}" y="{y0 + 16}" text-anchor="middle" font-weight="bold">{title}</text>']
    if not points:
        return out + [f'<text x="{x0 + W / 2}" y="{y0 + H / 2}" text-anchor="middle" fill="#868e96">no data</text>']
    xs = sorted({p[0] for p in points})
    ys = [p[1] for p in points]
    ylo, yhi = (min(ys), max(ys)) if logy else (0, max(ys))
    yt = ticks(ylo, yhi if yhi > ylo else ylo * 10 if logy else ylo + 1, logy)
    ylo, yhi = yt[0], yt[-1]
    f = (lambda v: math.log10(v)) if logy else (lambda v: v)
    lx = [math.log10(max(x, 1e-9)) for x in xs]
    xlo, xhi = (lx[0] - 0.5, lx[-1] + 0.5) if len(xs) > 1 else (lx[0] - 1, lx[0] + 1)
    px = lambda x: x0 + LEFT + (math.log10(max(x, 1e-9)) - xlo) / (xhi - xlo) * (W - LEFT - RIGHT)
    py = lambda y: y0 + H - BOTTOM - (f(y) - f(ylo)) / ((f(yhi) - f(ylo)) or 1) * (H - TOP - BOTTOM)
    out.append(f'<rect x="{x0 + LEFT}" y="{y0 + TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" '
               'fill="none" stroke="#adb5bd"/>')
    for t in yt:
        out.append(f'<line x1="{x0 + LEFT}" x2="{x0 + W - RIGHT}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#f1f3f5"/>')
        out.append(f'<text x="{x0 + LEFT - 4}" y="{py(t) + 4:.1f}" text-anchor="end">{human(t)}</text>')
    for x in xs:
        out.append(f'<text x="{px(x):.1f}" y="{y0 + H - BOTTOM + 14}" text-anchor="middle">{human(x, xunit)}</text>')
    for name, pts in lines.items():
        pts = [p for p in pts if p[1] is not None and (p[1] > 0 or not logy)]
        if not pts:
            continue
        impl = name.split()[0]
        dash = ' stroke-dasharray="4 3"' if impl == "raw" else ""
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{COLORS[impl]}" stroke-width="2"{dash}/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{COLORS[impl]}"/>' for x, y in pts]
    return out


def figure(path, title, xlabel, xunit, rows, columns, data):
    """Writes an SVG grid: rows are (metric title, log y) pairs, columns are
    names; data(row, column) gives a panel's lines."""
    width, height = max(W * len(columns), 620), TOP + H * len(rows) + 54
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>',
           f'<text x="8" y="18" font-size="14" font-weight="bold">{title}</text>']
    for r, (name, logy) in enumerate(rows):
        for c, column in enumerate(columns):
            out += panel(W * c, TOP + H * r, f"{column}: {name}", data(r, column), xunit, logy)
    legend_y = height - 28
    for i, impl in enumerate(("rust", "native", "go", "raw")):
        dash = ' stroke-dasharray="4 3"' if impl == "raw" else ""
        out.append(f'<line x1="{10 + 150 * i}" x2="{34 + 150 * i}" y1="{legend_y - 4}" y2="{legend_y - 4}" '
                   f'stroke="{COLORS[impl]}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{40 + 150 * i}" y="{legend_y}">{LABELS[impl]}</text>')
    out.append(f'<text x="10" y="{legend_y + 18}">x: {xlabel} (log scale)</text>')
    with open(path, "w") as f:
        f.write("\n".join(out + ["</svg>"]) + "\n")
    print(f"wrote {os.path.relpath(path, ROOT)}", file=sys.stderr)


def present(grouped, dimension, key_index):
    """The buses or kinds that have results in a dimension, in canonical order."""
    names = {k[key_index] for k in grouped if k[0] == dimension}
    order = BUSES if key_index == 1 else KINDS + ("idle",)
    return [n for n in order if n in names]


def render_plots(grouped, outdir):
    """Writes docs/bench/scale-*.svg; returns {dimension: [file names]}."""
    files = {}
    impl_lines = lambda dim, bus, kind, path, scale=1.0, raw=None: {
        **{impl: series(grouped, dim, bus, kind, impl, path, scale) for impl in IMPLS},
        **({"raw": series(grouped, dim, bus, kind, "rust", raw, scale)} if raw else {})}
    for bus in present(grouped, "servers", 1):
        kinds = [k for k in KINDS if any(("servers", bus, k, impl) in grouped for impl in IMPLS)]
        rows = (("calls/s", False), ("p99 µs", True))
        paths = (("psrpc.calls_per_second", "raw.calls_per_second"), ("psrpc.p99_us", "raw.p99_us"))
        name = f"scale-servers-{bus}.svg"
        figure(os.path.join(outdir, name), f"Servers ({bus} bus): throughput and p99 by kind", "servers", "",
               rows, kinds, lambda r, kind: impl_lines("servers", bus, kind, paths[r][0], raw=paths[r][1]))
        files.setdefault("servers", []).append(name)
    buses = present(grouped, "topics", 1)
    if buses:
        rows = (("registration ms", True), ("registration MiB", True), ("calls/s", False))
        paths = (("subscribe_ms", None, 1.0), ("subscribe_rss_kib", None, 1 / KIB),
                 ("psrpc.calls_per_second", "raw.calls_per_second", 1.0))
        figure(os.path.join(outdir, "scale-topics.svg"), "Topics per server (single-noclaim, calls to one topic)",
               "topics per server", "", rows, buses,
               lambda r, bus: impl_lines("topics", bus, "single-noclaim", paths[r][0], paths[r][2], paths[r][1]))
        files["topics"] = ["scale-topics.svg"]
    buses = present(grouped, "idle", 1)
    if buses:
        rows = (("KiB per subscription", False), ("subscribe ms", True), ("resubscribe ms after restart", True))
        paths = ("kib_per_idle_subscription", "subscribe_ms", "resubscribe_ms")
        figure(os.path.join(outdir, "scale-idle.svg"), "Idle subscriptions", "idle subscriptions", "", rows, buses,
               lambda r, bus: impl_lines("idle", bus, "idle", paths[r]))
        files["idle"] = ["scale-idle.svg"]
    buses = present(grouped, "payload", 1)
    if buses:
        rows = (("calls/s", True), ("p99 µs", True))
        paths = (("psrpc.calls_per_second", "raw.calls_per_second"), ("psrpc.p99_us", "raw.p99_us"))
        figure(os.path.join(outdir, "scale-payload.svg"), "Payload size (single calls)", "payload", "B", rows, buses,
               lambda r, bus: impl_lines("payload", bus, "single", paths[r][0], raw=paths[r][1]))
        files["payload"] = ["scale-payload.svg"]
    return files


# A table column: name, summary path, format, scale.
THROUGHPUT_COLUMNS = (("calls/s", "psrpc.calls_per_second", "{:,.0f}", 1), ("p50 µs", "psrpc.p50_us", "{:.0f}", 1),
                      ("p99 µs", "psrpc.p99_us", "{:.0f}", 1), ("p99.9 µs", "psrpc.p999_us", "{:.0f}", 1),
                      ("CPU µs/call", "psrpc.cpu_us_per_call", "{:.1f}", 1),
                      ("broker CPU µs/call", "psrpc.broker_cpu_us_per_call", "{:.1f}", 1),
                      ("peak RSS MiB", "peak_rss_kib", "{:.0f}", 1 / KIB),
                      ("errors", "psrpc.errors", "{:,.0f}", 1))
TABLES = {
    "servers": ("servers", THROUGHPUT_COLUMNS),
    "topics": ("topics per server", (("registration ms", "subscribe_ms", "{:,.0f}", 1),
                                     ("registration MiB", "subscribe_rss_kib", "{:.1f}", 1 / KIB),
                                     *THROUGHPUT_COLUMNS[:3])),
    "idle": ("idle subscriptions", (("KiB/subscription", "kib_per_idle_subscription", "{:.2f}", 1),
                                    ("subscribe ms", "subscribe_ms", "{:,.0f}", 1),
                                    ("resubscribe ms", "resubscribe_ms", "{:,.0f}", 1),
                                    ("peak RSS MiB", "peak_rss_kib", "{:.0f}", 1 / KIB))),
    "payload": ("payload", THROUGHPUT_COLUMNS),
}


IMPL_NAMES = {"go": "Go", "rust": "Rust", "native": "Rust native"}


def runs_of(grouped, dimension, bus, kind, x):
    """{impl: [summaries]} of one cell."""
    return {impl: grouped.get((dimension, bus, kind, impl), {}).get(x, []) for impl in IMPLS}


def render_tables(grouped):
    """Markdown tables, one per dimension, a row per cell and implementation
    (medians), with psrpc-bench's raw bus round trip of the same runs."""
    out = []
    for dimension, (xname, columns) in TABLES.items():
        keys = sorted({k[:3] for k in grouped if k[0] == dimension},
                      key=lambda k: (BUSES.index(k[1]), (KINDS + ("idle",)).index(k[2])))
        if not keys:
            continue
        raw = dimension != "idle"
        header = ["bus", "kind", xname, "implementation", "runs"] + [c[0] for c in columns]
        header += ["raw calls/s", "raw p99 µs"] if raw else []
        out.append(f"\n**{xname.capitalize()}**\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for _, bus, kind in keys:
            xs = sorted({x for impl in IMPLS for x in grouped.get((dimension, bus, kind, impl), {})})
            for x in xs:
                runs = runs_of(grouped, dimension, bus, kind, x)
                for impl in ("go", "rust", "native"):
                    if not runs[impl]:
                        continue
                    cells = [bus, kind, human(x, "B" if dimension == "payload" else ""), IMPL_NAMES[impl],
                             str(len(runs[impl]))]
                    for _, path, fmt, scale in columns:
                        v = median_of(runs[impl], path)
                        cells.append("–" if v is None else fmt.format(v * scale))
                    if raw:
                        # The raw round trip is psrpc-bench's (the Go twin measures none).
                        cells += ["" if impl == "go" or v is None else fmt.format(v) for v, fmt in (
                            (median_of(runs[impl], "raw.calls_per_second"), "{:,.0f}"),
                            (median_of(runs[impl], "raw.p99_us"), "{:.0f}"))]
                    out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def ratio(a, b):
    return "–" if a is None or not b else f"{a / b:.1f}×"


def render_summary(grouped, at):
    """A markdown table of the servers dimension at `at` servers: each
    implementation's throughput and p99, the native mode against Go, and
    the native mode's CPU per call against its own at the fewest servers."""
    header = ["bus", "kind", "Go calls/s", "Rust calls/s", "native calls/s", "native ÷ Go", "Go p99 µs",
              "Rust p99 µs", "native p99 µs", f"native CPU/call, {at} ÷ fewest servers"]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for bus in BUSES:
        for kind in KINDS:
            runs = runs_of(grouped, "servers", bus, kind, at)
            if not any(runs.values()):
                continue
            rate = {i: median_of(runs[i], "psrpc.calls_per_second") for i in IMPLS}
            p99 = {i: median_of(runs[i], "psrpc.p99_us") for i in IMPLS}
            native = grouped.get(("servers", bus, kind, "native"), {})
            fewest = median_of(native[min(native)], "psrpc.cpu_us_per_call") if native else None
            cpu = median_of(runs["native"], "psrpc.cpu_us_per_call")
            cells = [bus, kind] + ["–" if rate[i] is None else f"{rate[i]:,.0f}" for i in ("go", "rust", "native")]
            cells += [ratio(rate["native"], rate["go"])]
            cells += ["–" if p99[i] is None else f"{p99[i]:,.0f}" for i in ("go", "rust", "native")]
            # A multi call asks every server: its cost grows with the fleet by design.
            cells += ["– (asks every server)" if kind == "multi" else ratio(cpu, fewest)]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def render(opts):
    results = json.load(open(opts.results))
    grouped = medians(results)
    os.makedirs(opts.plots, exist_ok=True)
    files = render_plots(grouped, opts.plots)
    dates = sorted({r["date"] for r in results})
    tables = os.path.join(opts.plots, "scale-tables.md")
    with open(tables, "w") as f:
        f.write(f"# Scale curves: all cells\n\nResults of `{os.path.relpath(opts.results, ROOT)}`, {dates[0]} to "
                f"{dates[-1]}, medians over repetitions, written by `python3 psrpc-bench/scale_curves.py render`.\n"
                + render_tables(grouped))
    print(f"wrote {os.path.relpath(tables, ROOT)}", file=sys.stderr)
    print(f"Results of {os.path.relpath(opts.results, ROOT)}, {dates[0]} to {dates[-1]}; medians over repetitions.")
    for dimension, names in files.items():
        print("\n" + "\n".join(f"![{dimension}: {n}](bench/{n})" for n in names))
    print(f"\n**At {opts.summary_servers} servers**\n\n" + render_summary(grouped, opts.summary_servers))
    failed = [r["command"] for r in results if r["summary"] is None]
    if failed:
        print("\nFailed runs:\n" + "\n".join(f"- `{c}`" for c in failed))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a matrix and append its results")
    r.add_argument("--out", default=RESULTS, help="results file (appended to)")
    r.add_argument("--dimensions", default=",".join(DIMENSIONS))
    r.add_argument("--buses", default=",".join(BUSES))
    r.add_argument("--kinds", default=",".join(KINDS), help="kinds of the servers dimension")
    r.add_argument("--impls", default=",".join(IMPLS),
                   help="of rust, native (servers dimension only) and go, alternating")
    r.add_argument("--servers", default="1,4,16,64,256")
    r.add_argument("--topics", default="1,1000,100000")
    r.add_argument("--idle", default="1000,100000")
    r.add_argument("--payloads", default=f"16,{KIB},{64 * KIB},{MIB},{8 * MIB}")
    r.add_argument("--reps", type=int, default=3, help="repetitions per cell and implementation")
    r.add_argument("--duration", type=int, default=3)
    r.add_argument("--warmup", type=int, default=1)
    r.add_argument("--concurrency", type=int, default=64)
    r.add_argument("--outage-ms", type=int, default=2000, help="broker downtime in the idle dimension")
    r.add_argument("--dry-run", action="store_true", help="print the matrix's size and estimated time only")
    p = sub.add_parser("render", help="plots and markdown tables from a results file")
    p.add_argument("--results", default=RESULTS)
    p.add_argument("--plots", default=PLOTS, help="directory of the SVG files and the full tables")
    p.add_argument("--summary-servers", type=int, default=64, help="servers of the summary table")
    opts = parser.parse_args()
    return run(opts) if opts.command == "run" else render(opts)


if __name__ == "__main__":
    sys.exit(main())
