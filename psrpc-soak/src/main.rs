//! `psrpc-soak`: the chaos soak of psrpc-rs. Every RPC kind runs between
//! server and client processes on a real broker topology while a seeded
//! fault schedule kills and restarts brokers, servers and clients, pauses
//! processes and cuts connections; the invariants are checked from what
//! every process reported (see `docs/RELIABILITY.md`).
//!
//! ```sh
//! psrpc-soak --topology all --duration 25s            # a short run of every topology
//! psrpc-soak --topology redis-cluster --duration 30m --seed 1234
//! psrpc-soak --topology nats --json > figures.json    # figures as JSON on stdout
//! ```
//! The seed and the schedule are printed first; `--seed` replays a run's
//! schedule. The exit status is 1 when an invariant is broken.
//!
//! The same binary is the worker processes: `psrpc-soak worker server …`
//! and `psrpc-soak worker client …`, spawned by the orchestrator.

mod events;
mod faults;
mod fleet;
mod invariants;
mod orchestrator;
mod report;
mod schedule;
mod service;
mod topology;
mod worker;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::report::{Report, Say};
use crate::schedule::{Schedule, Shape};
use crate::topology::Topology;

/// The chaos soak of psrpc-rs.
#[derive(Debug, Parser)]
#[command(name = "psrpc-soak", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs one worker process (spawned by the orchestrator).
    #[command(subcommand)]
    Worker(WorkerRole),
}

#[derive(Debug, Subcommand)]
enum WorkerRole {
    /// A server of the soak's service.
    Server(worker::server::ServerArgs),
    /// A client of the soak's service.
    Client(worker::client::ClientArgs),
}

/// What the orchestrator runs.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The topology: nats, nats-cluster, redis, redis-sentinel, redis-cluster, or all (one after another).
    #[arg(long, default_value = "all", value_parser = parse_topologies)]
    topology: Topologies,
    /// How long the load runs on each topology (`25s`, `30m`, `1h`).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// The schedule's seed (random when not given; always printed).
    #[arg(long)]
    seed: Option<u64>,
    /// How many server processes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    servers: u64,
    /// How many client processes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    clients: u64,
    /// How long after a fault ends the system may take to recover (see the fault window).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    recovery_allowance: Duration,
    /// Prints every figure as one JSON document on standard output (the rest goes to standard error).
    #[arg(long)]
    json: bool,
    /// Also writes every worker event, as JSON lines, to `<EVENTS>-<topology>.jsonl` (to study a violation).
    #[arg(long, value_name = "EVENTS")]
    events: Option<std::path::PathBuf>,
}

/// The topologies to run.
#[derive(Debug, Clone)]
struct Topologies(Vec<Topology>);

fn parse_topologies(text: &str) -> Result<Topologies, String> {
    if text == "all" {
        return Ok(Topologies(Topology::ALL.to_vec()));
    }
    <Topology as clap::ValueEnum>::from_str(text, true).map(|t| Topologies(vec![t]))
}

/// Parses `500ms`, `25s`, `30m`, `1h`, or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?}: expected a number and a unit (500ms, 25s, 30m, 1h)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        other => Err(format!("{text:?}: unknown unit {other:?} (use ms, s, m or h)")),
    }
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Some(Command::Worker(WorkerRole::Server(args))) => runtime.block_on(worker::server::run(args))?,
        Some(Command::Worker(WorkerRole::Client(args))) => runtime.block_on(worker::client::run(args))?,
        None => return runtime.block_on(orchestrate(cli.run)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Draws and prints every schedule, runs them one after another, prints
/// the figures; fails when an invariant is broken.
async fn orchestrate(args: RunArgs) -> anyhow::Result<ExitCode> {
    let say = Say { to_stderr: args.json };
    let seed = args.seed.unwrap_or_else(rand::random);
    say.line(format_args!("seed {seed} (replay with --seed {seed})"));
    let schedules: Vec<Schedule> = args
        .topology
        .0
        .iter()
        .map(|&topology| {
            let shape = Shape {
                topology,
                servers: usize::try_from(args.servers).unwrap_or(usize::MAX),
                clients: usize::try_from(args.clients).unwrap_or(usize::MAX),
                duration: args.duration,
                recovery_allowance: args.recovery_allowance,
            };
            Schedule::draw(seed, shape)
        })
        .collect();
    for schedule in &schedules {
        say.line(schedule);
    }
    let mut report = Report { seed, runs: Vec::new() };
    for schedule in &schedules {
        let run = orchestrator::run(schedule, say, args.events.as_deref()).await?;
        say.line(&run);
        report.runs.push(run);
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    let violated = report.violated();
    say.line(if violated {
        format!("seed {seed}: INVARIANTS BROKEN")
    } else {
        format!("seed {seed}: every invariant holds")
    });
    Ok(if violated { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("25s"), Ok(Duration::from_secs(25)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn topologies_are_one_or_all() {
        assert_eq!(parse_topologies("all").expect("all").0, Topology::ALL);
        assert_eq!(parse_topologies("redis-sentinel").expect("one").0, [Topology::RedisSentinel]);
        assert!(parse_topologies("kafka").is_err());
    }
}
