//! One soak run on one topology: start the brokers and workers, warm up,
//! inflict the schedule's faults, stop the clients, check the servers wind
//! down, and judge the events.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;

use crate::events::{Record, now_ms};
use crate::faults::{SharedTopology, inflict};
use crate::fleet::Fleet;
use crate::invariants::{self, Role, Rss, RunLog};
use crate::report::{FaultLine, Say, TopologyReport};
use crate::schedule::Schedule;
use crate::topology::Running;
use crate::worker::KEEPALIVE_EXPIRY;
use crate::worker::memory::Memory;

/// How long workers may take to start and report `ready`.
const START_LIMIT: Duration = Duration::from_secs(60);

/// How long a worker may take to report its memory.
const MEMORY_LIMIT: Duration = Duration::from_secs(10);

/// How long a server may take to drain and exit after `SIGTERM`.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Runs `schedule` (its topology, process counts and duration) and judges it.
/// With `events`, every worker event is also written to `<events>-<topology>.jsonl`.
pub(crate) async fn run(schedule: &Schedule, say: Say, events: Option<&Path>) -> anyhow::Result<TopologyReport> {
    let shape = schedule.shape;
    let runtime = tokio::runtime::Handle::current();
    let topology = shape.topology;
    say.line(format_args!("[{topology}] starting the topology"));
    let running = tokio::task::spawn_blocking(move || Running::start(topology, &runtime)).await??;
    let url = running.url();
    let topology_handle: SharedTopology = Arc::new(Mutex::new(running));
    say.line(format_args!("[{topology}] bus {url}; starting {} servers and {} clients", shape.servers, shape.clients));
    let mut fleet = Fleet::new(url, shape.servers)?;
    let servers = (0..shape.servers).map(|slot| fleet.spawn(Role::Server, slot)).collect::<anyhow::Result<Vec<_>>>()?;
    fleet.wait_ready(&servers, START_LIMIT).await?;
    let clients = (0..shape.clients).map(|slot| fleet.spawn(Role::Client, slot)).collect::<anyhow::Result<Vec<_>>>()?;
    fleet.wait_ready(&clients, START_LIMIT).await?;

    let load_started = Instant::now();
    let load_started_ms = now_ms();
    tokio::time::sleep_until(load_started + schedule.warmup).await;
    // The memory's start: once every kind of fault struck (the processes
    // ran every path the run exercises: code first run, reconnects), or
    // after the warm-up in a run too short for that.
    let second_round = schedule.second_round();
    let mut memory_start = match second_round {
        Some(_) => None,
        None => Some(long_lived_memory(&mut fleet).await?),
    };
    let mut faults = Vec::new();
    // A fault that took longer than planned (a topology slow to heal)
    // delays every later one, and the end of the load, as much: the gaps
    // and the tail stay as drawn.
    let mut delay = Duration::ZERO;
    for (index, planned) in schedule.faults.iter().enumerate() {
        tokio::time::sleep_until(load_started + planned.at + delay).await;
        if second_round == Some(index) {
            memory_start = Some(long_lived_memory(&mut fleet).await?);
        }
        let record = inflict(planned.fault, &mut fleet, &topology_handle).await?;
        delay += Duration::from_millis(record.end_ms - record.start_ms).saturating_sub(planned.fault.span());
        say.line(format_args!(
            "[{topology}] +{:.3}s {} ({}, over after {} ms)",
            (record.start_ms - load_started_ms) as f64 / 1000.0,
            planned.fault,
            record.detail,
            record.end_ms - record.start_ms
        ));
        faults.push(record);
    }
    tokio::time::sleep_until(load_started + shape.duration + delay).await;
    let memory_end = long_lived_memory(&mut fleet).await?;

    fleet.kill_clients().await?;
    let clients_stopped_ms = now_ms();
    let in_flight_due_ms = clients_stopped_ms + 2 * millis(KEEPALIVE_EXPIRY);
    say.line(format_args!(
        "[{topology}] clients stopped; waiting {:?} for server handlers to end",
        2 * KEEPALIVE_EXPIRY
    ));
    tokio::time::sleep(2 * KEEPALIVE_EXPIRY).await;
    // Servers report every 500 ms; a paused or hung server may not.
    let reported = async {
        while !fleet.in_flight_reported_since(in_flight_due_ms) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), reported).await;
    let drain_hung = fleet.terminate_servers(DRAIN_LIMIT).await?;
    let (records, workers) = fleet.finish().await;
    tokio::task::spawn_blocking(move || drop(topology_handle)).await?;

    if let Some(prefix) = events {
        let path = format!("{}-{topology}.jsonl", prefix.display());
        write_events(Path::new(&path), &records)?;
        say.line(format_args!("[{topology}] events written to {path}"));
    }
    let memory_start = memory_start.context("the memory's start was not measured")?;
    let rss = memory_start
        .into_iter()
        .zip(memory_end)
        .map(|((worker, start), (_, end))| Rss::new(worker, start, end))
        .collect();
    let log = RunLog {
        records,
        faults,
        workers,
        clients_stopped_ms,
        in_flight_due_ms,
        recovery_allowance_ms: millis(shape.recovery_allowance),
        rss,
    };
    let mut figures = invariants::evaluate(&log);
    if !drain_hung.is_empty() {
        figures.violations.push(format!("servers {drain_hung:?} did not drain within {DRAIN_LIMIT:?} of SIGTERM"));
    }
    let faults = log
        .faults
        .iter()
        .map(|f| FaultLine {
            at_ms: f.start_ms.saturating_sub(load_started_ms),
            fault: f.fault.to_string(),
            detail: f.detail.clone(),
            took_ms: f.end_ms - f.start_ms,
        })
        .collect();
    Ok(TopologyReport {
        topology: topology.to_string(),
        seed: schedule.seed,
        events: log.records.len() as u64,
        faults,
        drain_hung,
        figures,
    })
}

/// The memory of the long-lived server and client (slot 0 of each role).
async fn long_lived_memory(fleet: &mut Fleet) -> anyhow::Result<[(String, Memory); 2]> {
    Ok([fleet.memory(Role::Server, 0, MEMORY_LIMIT).await?, fleet.memory(Role::Client, 0, MEMORY_LIMIT).await?])
}

/// Writes `records` as JSON lines to `path`.
fn write_events(path: &Path, records: &[Record]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for record in records {
        serde_json::to_writer(&mut out, record)?;
        out.write_all(b"\n")?;
    }
    Ok(out.flush()?)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
