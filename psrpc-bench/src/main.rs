//! `psrpc-bench`: latency and throughput of every RPC kind on every bus,
//! printed beside the raw bus round trip measured in the same run.
//!
//! ```sh
//! cargo run --release -p psrpc-bench -- --bus local --kind single --concurrency 64 --payload 128 --duration 10
//! ```
//! Brokers are started on free loopback ports unless `--url` names one;
//! `--topology cluster` (NATS or Redis) or `--topology sentinel` (Redis)
//! starts that topology instead, with servers and clients on connections
//! spread over its nodes (`--sharded`: sharded pub/sub on a Redis Cluster).
//! The last line of output is a JSON summary.
//!
//! `--observe none,all --rounds 3` measures the cost of observability: the
//! setups run alternately, three rounds each, in one process against one
//! broker, and the summary compares their median throughput with the first.
//!
//! `--blocking-neighbour` adds a method whose handler blocks its thread for
//! 200 ms, called throughout the run: the measured calls' latency shows
//! whether user code holds up its connection. `--local-first` measures
//! local-first calls (the client shares the server's bus handle).
//! `--native` runs servers and client in the native wire mode (per-method
//! queue channels, no claim for unary queue calls; the default is the
//! Go-compatible mode). `--skip-claim` builds the servers with
//! `ServerOptions::skip_claim`: a claimed queue call is then three frames
//! (request; handling claim and response) instead of four.
//!
//! `--recovery N` measures, N times, how soon calls succeed again after the
//! broker comes back (`--bus nats|redis`: killed, down for `--outage-ms`,
//! restarted) or after the Sentinels switched masters (`--topology
//! sentinel`: the master killed).
//!
//! `--topics K` (`--kind single-noclaim`): every server registers K topics
//! of the method, the client calls one; the summary adds the servers'
//! registration time and the memory it added. `--idle-subscriptions K`
//! measures K idle subscriptions instead of a throughput run: memory,
//! subscribe time and, on a broker started for the run, the time until all
//! are resubscribed after a restart (see the `idle` module).
//!
//! Large payloads (`--payload 8388608`) work on every bus: a broker started
//! for the run gets the frame and buffer limits the payload and
//! concurrency need (see the `large` module); a broker behind `--url`
//! must allow them itself.
//!
//! Built with `--features mimalloc`, the harness allocates with mimalloc
//! instead of the system allocator: the difference is what a service gains
//! by choosing its allocator (psrpc-rs, a library, leaves that choice to the
//! application).

/// The global allocator of a `--features mimalloc` build.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod drive;
mod idle;
mod kinds;
mod large;
mod memory;
mod observe;
mod raw;
mod raw_wire;
mod recovery;
mod stats;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use psrpc::SharedBus;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use psrpc_test_support::topology::{NatsCluster, RedisCluster, RedisSentinel};

use kinds::{Kind, Variant};
use observe::{Observe, Stack};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "psrpc-rs benchmarks: every RPC kind against the raw bus round trip")]
struct Args {
    /// Which bus: local, nats or redis.
    #[arg(long, value_enum, default_value = "local")]
    bus: BusKind,
    /// Broker URL (default: start a broker on a free loopback port).
    #[arg(long)]
    url: Option<String>,
    /// Which RPC kind.
    #[arg(long, value_enum, default_value = "single")]
    kind: Kind,
    /// Calls in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 128)]
    payload: usize,
    /// Timed seconds (after the warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Warm-up seconds.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Servers (multi: how many answer each call).
    #[arg(long, default_value_t = 1)]
    servers: usize,
    /// Redis: the raw round trip also takes Go psrpc's queue lock (one
    /// `SET … NX` per request), the floor for a queue request on Redis.
    #[arg(long)]
    raw_lock: bool,
    /// Also measure the raw round trip over hand-written protocol lines on
    /// plain sockets, no client library (NATS and Redis; a URL without
    /// credentials): the least a bus client on tokio costs per message.
    #[arg(long)]
    raw_wire: bool,
    /// Process id of the broker behind `--url`: its CPU time per call is
    /// measured in every timed phase (`broker_cpu_us_per_call`). A single
    /// broker started for the run is measured without it.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Broker topology started for the run (ignored with `--url`).
    #[arg(long, value_enum, default_value = "single")]
    topology: Topology,
    /// Redis Cluster: sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`) instead of classic.
    #[arg(long)]
    sharded: bool,
    /// Instead of a throughput run, measure memory per idle subscription and
    /// per in-flight call with this many of each.
    #[arg(long)]
    memory: Option<usize>,
    /// Observability on the measured client and servers; a list (`none,all`)
    /// measures each setup in turn.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "none")]
    observe: Vec<Observe>,
    /// Rounds over the `--observe` setups (alternating), for medians.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Share of traces the OpenTelemetry setups sample (1: every call).
    #[arg(long, default_value_t = 1.0)]
    otel_sampling: f64,
    /// The servers also serve a method whose handler blocks its thread for
    /// 200 ms before its first `.await`, called one call at a time during the
    /// run: the measured calls' latency shows whether user code holds up the
    /// connection it arrived on.
    #[arg(long)]
    blocking_neighbour: bool,
    /// The client is local-first and shares the first server's bus handle,
    /// so single calls run in process (to set beside an in-process bus call).
    #[arg(long)]
    local_first: bool,
    /// Servers and client use the native wire mode instead of the
    /// Go-compatible one.
    #[arg(long)]
    native: bool,
    /// Instead of a throughput run, measure this many recoveries: the
    /// delay from the broker accepting connections again (or the Sentinels
    /// announcing a new master) to the first successful call.
    #[arg(long)]
    recovery: Option<usize>,
    /// How long the broker stays down in each `--recovery` outage.
    #[arg(long, default_value_t = 2000)]
    outage_ms: u64,
    /// Servers skip the claim exchange where the caller allows it
    /// (`ServerOptions::skip_claim`, Go psrpc's `WithServerSkipClaim`).
    #[arg(long)]
    skip_claim: bool,
    /// Topics every server registers (`--kind single-noclaim`); the client
    /// calls one of them.
    #[arg(long, default_value_t = 1)]
    topics: usize,
    /// Instead of a throughput run, subscribe this many idle subscriptions:
    /// memory per subscription, subscribe time and (a NATS or Redis server
    /// started for the run) the time until all are resubscribed after the
    /// broker is restarted (down for `--outage-ms`).
    #[arg(long)]
    idle_subscriptions: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum BusKind {
    Local,
    Nats,
    Redis,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Topology {
    /// One server.
    Single,
    /// A 3-node NATS cluster, or a Redis Cluster of 3 masters + 3 replicas.
    Cluster,
    /// Redis primary + replica + 3 Sentinels.
    Sentinel,
}

/// Brokers started for the run, kept alive until the end.
#[derive(Default)]
struct Broker {
    nats: Option<NatsServer>,
    redis: Option<RedisServer>,
    _nats_cluster: Option<NatsCluster>,
    redis_sentinel: Option<RedisSentinel>,
    _redis_cluster: Option<RedisCluster>,
}

impl Broker {
    /// The process id of the single broker started for the run.
    fn pid(&self) -> Option<u32> {
        self.nats.as_ref().and_then(|n| n.pid()).or_else(|| self.redis.as_ref().and_then(|r| r.pid()))
    }
}

/// Where a run connects: bus URLs (connections take them in turn) and the
/// raw round trip's server and client URLs.
struct Endpoints {
    bus: Vec<String>,
    raw: (String, String),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Client and server share one process and a 2-worker runtime; the
    // measuring loops run in spawned tasks, not in `block_on`.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async { tokio::spawn(run(args)).await? })
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.raw_wire && args.bus == BusKind::Local {
        anyhow::bail!("--raw-wire needs a broker (--bus nats or redis)");
    }
    if args.topics > 1 && args.kind != Kind::SingleNoclaim {
        anyhow::bail!("--topics needs --kind single-noclaim (the topic method)");
    }
    let (mut broker, endpoints) = broker(&args)?;
    let broker_pid = args.broker_pid.or_else(|| broker.pid());
    let buses = Buses {
        kind: args.bus,
        urls: endpoints.bus,
        next: AtomicUsize::new(0),
        local: Arc::new(psrpc::local::LocalBus::new()),
    };
    let raw_urls = (endpoints.raw.0.as_str(), endpoints.raw.1.as_str());
    if let Some(outages) = args.recovery {
        anyhow::ensure!(outages > 0, "--recovery needs at least one outage");
        let ms = recovery::measure(&mut broker, &buses, outages, Duration::from_millis(args.outage_ms)).await?;
        let mut sorted = ms.clone();
        sorted.sort_by(f64::total_cmp);
        let (p50, max) = (sorted[sorted.len() / 2], sorted[sorted.len() - 1]);
        println!("recovery after {outages} outages: p50 {p50:.0} ms, max {max:.0} ms");
        let label = format!("{:?}/{:?}", args.bus, args.topology).to_lowercase();
        println!(
            "{}",
            serde_json::json!({ "recovery": label, "outage_ms": args.outage_ms, "recovery_ms": ms, "p50_ms": p50, "max_ms": max })
        );
        return Ok(());
    }
    if let Some(count) = args.idle_subscriptions {
        let mut report = idle::measure(&mut broker, &buses, count, Duration::from_millis(args.outage_ms)).await?;
        report["bus"] = format!("{:?}", args.bus).to_lowercase().into();
        println!("{report}");
        return Ok(());
    }
    if let Some(count) = args.memory {
        let report = memory::measure(&buses, count).await?;
        println!("{report}");
        return Ok(());
    }
    let payload = Bytes::from(vec![0x5a; args.payload]);
    let timing = (Duration::from_secs(args.warmup), Duration::from_secs(args.duration));
    let sharded = if args.sharded { "/sharded" } else { "" };
    let label = format!("{:?}/{:?}/{:?}{sharded}", args.bus, args.topology, args.kind).to_lowercase();

    let raw_call = match args.bus {
        BusKind::Local => raw::local(payload.clone()),
        BusKind::Nats => raw::nats(raw_urls, payload.clone()).await?,
        BusKind::Redis => raw::redis(raw_urls, payload.clone(), args.concurrency, args.raw_lock).await?,
    };
    let raw = drive::drive(&format!("{label} raw"), args.concurrency, timing, broker_pid, move |w| raw_call(w)).await;
    let raw_wire = match args.raw_wire {
        false => None,
        true => {
            let protocol = if args.bus == BusKind::Nats { raw_wire::Protocol::Nats } else { raw_wire::Protocol::Resp3 };
            let call = raw_wire::round_trip(protocol, raw_urls, payload.clone(), args.concurrency).await?;
            Some(
                drive::drive(&format!("{label} raw wire"), args.concurrency, timing, broker_pid, move |w| call(w))
                    .await,
            )
        }
    };

    let servers = if args.kind == Kind::Multi { args.servers.max(3) } else { args.servers.max(1) };
    // Each setup gets fresh connections, client and servers per round; the
    // setups alternate so that drift on the machine spreads over all of them.
    let mut runs: Vec<(Observe, Vec<drive::Measurement>, u64)> =
        args.observe.iter().map(|o| (*o, Vec::new(), 0)).collect();
    let rss_before = stats::status_kib("VmRSS");
    // The first setup's registration: wall time and resident memory added.
    let mut registration: Option<(Duration, u64)> = None;
    for round in 1..=args.rounds.max(1) {
        for (observe, measurements, spans) in &mut runs {
            let mut server_buses = Vec::new();
            for _ in 0..servers {
                server_buses.push(buses.connect().await?);
            }
            let stack = Stack::new(*observe, args.otel_sampling);
            let variant = Variant {
                blocking_neighbour: args.blocking_neighbour,
                local_first: args.local_first,
                native: args.native,
                skip_claim: args.skip_claim,
                topics: args.topics,
            };
            let client_bus = match server_buses.first() {
                Some(bus) if args.local_first => bus.clone(),
                _ => buses.connect().await?,
            };
            let rss_unregistered = stats::status_kib("VmRSS");
            let kinds::Setup { call, servers, register_time } =
                kinds::setup(args.kind, variant, server_buses, client_bus, payload.clone(), args.concurrency, &stack)
                    .await?;
            let added = stats::status_kib("VmRSS").saturating_sub(rss_unregistered);
            registration.get_or_insert((register_time, added));
            let name = format!("{label} observe={observe:?} round {round}").to_lowercase();
            measurements.push(drive::drive(&name, args.concurrency, timing, broker_pid, move |w| call(w)).await);
            *spans += stack.spans_exported();
            for server in servers {
                server.kill().await;
            }
        }
    }
    let rss_after = stats::status_kib("VmRSS");
    let ours = median_run(&runs[0].1);

    println!(
        "{:<28} {:>12} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "", "calls/s", "p50 µs", "p99 µs", "p99.9 µs", "CPU µs/call", "broker CPU"
    );
    let mut rows = vec![("raw bus round trip", &raw)];
    rows.extend(raw_wire.as_ref().map(|m| ("raw wire round trip", m)));
    rows.push(("psrpc", ours));
    for (name, m) in rows {
        let broker = m.broker_cpu_us_per_call.map_or_else(|| "–".to_owned(), |us| format!("{us:.1}"));
        println!(
            "{name:<28} {:>12.0} {:>10.1} {:>10.1} {:>10.1} {:>12.1} {broker:>12}",
            m.calls_per_second, m.p50_us, m.p99_us, m.p999_us, m.cpu_us_per_call
        );
    }
    let p50_ratio = ours.p50_us / raw.p50_us.max(f64::EPSILON);
    let throughput_ratio = ours.calls_per_second / raw.calls_per_second.max(f64::EPSILON);
    println!(
        "ratios: p50 {p50_ratio:.2}x raw, throughput {:.0}% of raw; errors {}",
        throughput_ratio * 100.0,
        ours.errors
    );
    // Soak check: resident memory at the end against 10 s into the timed phase.
    let rss_growth = (ours.rss_kib_at_10s > 0).then(|| ours.rss_kib_at_end as f64 / ours.rss_kib_at_10s as f64);
    if let Some(growth) = rss_growth {
        println!("RSS {} KiB at 10 s, {} KiB at the end: {growth:.2}x", ours.rss_kib_at_10s, ours.rss_kib_at_end);
    }
    let summary = serde_json::json!({
        "bus": format!("{:?}", args.bus).to_lowercase(), "topology": format!("{:?}", args.topology).to_lowercase(),
        "sharded": args.sharded, "kind": format!("{:?}", args.kind).to_lowercase(),
        "concurrency": args.concurrency, "payload": args.payload, "duration_s": args.duration, "servers": servers,
        "psrpc": ours.to_json(), "raw": raw.to_json(), "raw_wire": raw_wire.as_ref().map(drive::Measurement::to_json), "raw_lock": args.raw_lock, "otel_sampling": args.otel_sampling,
        "blocking_neighbour": args.blocking_neighbour, "local_first": args.local_first, "native": args.native, "skip_claim": args.skip_claim,
        "p50_ratio": (p50_ratio * 100.0).round() / 100.0, "throughput_ratio": (throughput_ratio * 100.0).round() / 100.0,
        "rss_kib_before": rss_before, "rss_kib_after": rss_after, "peak_rss_kib": stats::status_kib("VmHWM"),
        "rss_growth_after_10s": rss_growth.map(|g| (g * 100.0).round() / 100.0),
        "topics": args.topics, "subscribe_ms": registration.map(|(t, _)| t.as_secs_f64() * 1000.0),
        "subscribe_rss_kib": registration.map(|(_, kib)| kib),
    });
    let mut summary = summary;
    if runs.len() > 1 || args.rounds > 1 {
        summary["observe"] = observe_table(&runs);
    }
    println!("{summary}");
    drop(broker);
    Ok(())
}

/// The run with the median throughput.
fn median_run(runs: &[drive::Measurement]) -> &drive::Measurement {
    let mut sorted: Vec<_> = runs.iter().collect();
    sorted.sort_by(|a, b| a.calls_per_second.total_cmp(&b.calls_per_second));
    sorted[sorted.len() / 2]
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Prints each setup's median throughput and CPU per call, and their cost
/// against the first setup; returns the same as JSON. On a shared machine
/// the CPU per call is the steadier of the two.
fn observe_table(runs: &[(Observe, Vec<drive::Measurement>, u64)]) -> serde_json::Value {
    let throughput = |m: &[drive::Measurement]| median(m.iter().map(|m| m.calls_per_second).collect());
    let cpu = |m: &[drive::Measurement]| median(m.iter().map(|m| m.cpu_us_per_call).collect());
    let (base_throughput, base_cpu) = (throughput(&runs[0].1), cpu(&runs[0].1));
    println!(
        "{:<12} {:>5} {:>15} {:>10} {:>10} {:>17} {:>12} {:>10} {:>10}",
        "observe", "runs", "calls/s median", "min", "max", "throughput cost", "CPU µs/call", "CPU cost", "spans"
    );
    let mut rows = Vec::new();
    for (observe, measurements, spans) in runs {
        let (calls, cpu_us) = (throughput(measurements), cpu(measurements));
        let each: Vec<f64> = measurements.iter().map(|m| m.calls_per_second.round()).collect();
        let (min, max) = each.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), c| (lo.min(*c), hi.max(*c)));
        let throughput_cost = 1.0 - calls / base_throughput.max(f64::EPSILON);
        let cpu_cost = cpu_us / base_cpu.max(f64::EPSILON) - 1.0;
        let name = format!("{observe:?}").to_lowercase();
        println!(
            "{name:<12} {:>5} {calls:>15.0} {min:>10.0} {max:>10.0} {:>16.1}% {cpu_us:>12.1} {:>9.1}% {spans:>10}",
            measurements.len(),
            throughput_cost * 100.0,
            cpu_cost * 100.0
        );
        rows.push(serde_json::json!({
            "observe": name, "runs_calls_per_second": each,
            "runs_cpu_us_per_call": measurements.iter().map(|m| (m.cpu_us_per_call * 10.0).round() / 10.0).collect::<Vec<_>>(),
            "median_calls_per_second": calls.round(), "median_cpu_us_per_call": (cpu_us * 10.0).round() / 10.0,
            "throughput_cost_pct": (throughput_cost * 1000.0).round() / 10.0,
            "cpu_cost_pct": (cpu_cost * 1000.0).round() / 10.0, "spans_exported": spans,
        }));
    }
    serde_json::Value::Array(rows)
}

/// Whether the run restarts its broker (never an external one).
fn restarts(args: &Args) -> bool {
    args.recovery.is_some() || args.idle_subscriptions.is_some()
}

fn broker(args: &Args) -> anyhow::Result<(Broker, Endpoints)> {
    let load = large::Load { payload: args.payload, concurrency: args.concurrency };
    let single = |url: String| Endpoints { bus: vec![url.clone()], raw: (url.clone(), url) };
    let query = if args.sharded { "?pubsub=sharded" } else { "" };
    Ok(match (args.bus, &args.url, args.topology) {
        (BusKind::Local, _, _) => (Broker::default(), single(String::new())),
        (_, Some(url), _) => (Broker::default(), single(url.clone())),
        (BusKind::Nats, None, Topology::Single) => {
            let server = match (load.nats_config()?, restarts(args)) {
                (Some(config), _) => NatsServer::start_with_config(&config)?,
                (None, true) => NatsServer::start_own()?,
                (None, false) => NatsServer::start()?,
            };
            let url = server.url().to_owned();
            (Broker { nats: Some(server), ..Broker::default() }, single(url))
        }
        (BusKind::Nats, None, Topology::Cluster) => {
            let cluster = NatsCluster::start(3)?;
            let endpoints = Endpoints { bus: cluster.urls(), raw: (cluster.url(0), cluster.url(1)) };
            (Broker { _nats_cluster: Some(cluster), ..Broker::default() }, endpoints)
        }
        (BusKind::Nats, None, Topology::Sentinel) => anyhow::bail!("Sentinel is a Redis topology"),
        (BusKind::Redis, None, Topology::Single) => {
            let raised = load.redis_args();
            let server = match (raised.is_empty(), restarts(args)) {
                (false, _) => RedisServer::start_with(&raised.iter().map(String::as_str).collect::<Vec<_>>())?,
                (true, true) => RedisServer::start_own()?,
                (true, false) => RedisServer::start()?,
            };
            let url = server.url().to_owned();
            (Broker { redis: Some(server), ..Broker::default() }, single(url))
        }
        (BusKind::Redis, None, Topology::Sentinel) => {
            let topology = RedisSentinel::start()?;
            let master = format!("redis://127.0.0.1:{}", topology.master_port().unwrap_or_default());
            let endpoints = Endpoints { bus: vec![topology.url()], raw: (master.clone(), master) };
            (Broker { redis_sentinel: Some(topology), ..Broker::default() }, endpoints)
        }
        (BusKind::Redis, None, Topology::Cluster) => {
            let cluster = RedisCluster::start(3)?;
            let addrs = cluster.addrs();
            let endpoints = Endpoints {
                bus: vec![format!("{}{query}", cluster.url())],
                raw: (format!("redis://{}", addrs[0]), format!("redis://{}", addrs[1])),
            };
            (Broker { _redis_cluster: Some(cluster), ..Broker::default() }, endpoints)
        }
    })
}

/// Where new bus connections come from.
pub(crate) struct Buses {
    kind: BusKind,
    /// Connections take these in turn (the nodes of a NATS cluster).
    urls: Vec<String>,
    next: AtomicUsize,
    local: SharedBus,
}

impl Buses {
    /// A new connection (the shared bus for the in-process kind).
    pub(crate) async fn connect(&self) -> anyhow::Result<SharedBus> {
        let url = &self.urls[self.next.fetch_add(1, Ordering::Relaxed) % self.urls.len()];
        Ok(match self.kind {
            BusKind::Local => self.local.clone(),
            BusKind::Nats => Arc::new(psrpc::nats::NatsBus::connect(url, Default::default()).await?),
            // The server's `proto-max-bulk-len` limits frames, not the
            // bus's 1 MiB default (see the `large` module).
            BusKind::Redis => {
                let options = psrpc::redis::RedisBusOptions::default().max_frame_size(usize::MAX);
                Arc::new(psrpc::redis::RedisBus::connect(url, options).await?)
            }
        })
    }
}
