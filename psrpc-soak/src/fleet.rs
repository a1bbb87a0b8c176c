//! The worker processes of a run: spawned from this same binary
//! (`psrpc-soak worker server|client …`), their events read line by line
//! from their standard output, signalled, measured and reaped.
//!
//! Workers are named by role, slot and generation: `s1.2` is the second
//! process in server slot 1. Slot 0 of each role is never killed.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::events::{Event, Line, Record, now_ms};
use crate::invariants::{Lifetime, Role};
use crate::worker::memory::Memory;

/// Events and readiness, shared with the reader tasks.
#[derive(Debug, Default)]
struct Shared {
    records: Mutex<Vec<Record>>,
    ready: Mutex<HashSet<String>>,
    changed: Notify,
}

/// One worker process.
#[derive(Debug)]
struct Worker {
    id: String,
    role: Role,
    slot: usize,
    child: Child,
    ended_ms: Option<u64>,
    reader: JoinHandle<()>,
}

/// The worker processes of a run.
#[derive(Debug)]
pub(crate) struct Fleet {
    exe: std::path::PathBuf,
    url: String,
    servers: usize,
    workers: Vec<Worker>,
    shared: Arc<Shared>,
}

impl Fleet {
    /// A fleet of workers of this binary on the bus at `url`, `servers` of them servers.
    pub(crate) fn new(url: String, servers: usize) -> anyhow::Result<Fleet> {
        let exe = std::env::current_exe().context("this binary's path")?;
        Ok(Fleet { exe, url, servers, workers: Vec::new(), shared: Arc::default() })
    }

    /// Starts a worker in `slot` of `role` (a new generation); its id.
    pub(crate) fn spawn(&mut self, role: Role, slot: usize) -> anyhow::Result<String> {
        let generation = self.workers.iter().filter(|w| w.role == role && w.slot == slot).count() + 1;
        let id = format!("{}{slot}.{generation}", if role == Role::Server { 's' } else { 'c' });
        let mut command = Command::new(&self.exe);
        command.args([
            "worker",
            if role == Role::Server { "server" } else { "client" },
            "--bus",
            &self.url,
            "--id",
            &id,
        ]);
        match role {
            Role::Server if slot == 0 => {
                command.arg("--pinned");
            }
            Role::Server => {}
            Role::Client => {
                command.args(["--servers", &self.servers.to_string()]);
            }
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn worker {id}"))?;
        let stdout = child.stdout.take().context("worker stdout")?;
        let reader = tokio::spawn(read_events(id.clone(), stdout, Arc::clone(&self.shared)));
        self.workers.push(Worker { id: id.clone(), role, slot, child, ended_ms: None, reader });
        Ok(id)
    }

    /// Waits until every worker in `ids` reported `ready`, at most `limit`.
    pub(crate) async fn wait_ready(&self, ids: &[String], limit: Duration) -> anyhow::Result<()> {
        let all_ready = async {
            loop {
                let changed = self.shared.changed.notified();
                let all = {
                    let ready = self.shared.ready.lock().unwrap_or_else(PoisonError::into_inner);
                    ids.iter().all(|id| ready.contains(id))
                };
                if all {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(limit, all_ready)
            .await
            .with_context(|| format!("workers {ids:?} not ready within {limit:?}"))
    }

    /// The live worker in `slot` of `role`.
    fn live(&mut self, role: Role, slot: usize) -> anyhow::Result<&mut Worker> {
        self.workers
            .iter_mut()
            .rev()
            .find(|w| w.role == role && w.slot == slot && w.ended_ms.is_none())
            .with_context(|| format!("no live {role:?} in slot {slot}"))
    }

    /// The id and process id of the live worker in `slot` of `role`.
    pub(crate) fn pid(&mut self, role: Role, slot: usize) -> anyhow::Result<(String, u32)> {
        let worker = self.live(role, slot)?;
        Ok((worker.id.clone(), worker.child.id().context("worker has exited")?))
    }

    /// `SIGKILL`s the live worker in `slot` of `role` and reaps it; its id.
    pub(crate) async fn kill(&mut self, role: Role, slot: usize) -> anyhow::Result<String> {
        let worker = self.live(role, slot)?;
        worker.child.kill().await.with_context(|| format!("kill {}", worker.id))?;
        worker.ended_ms = Some(now_ms());
        Ok(worker.id.clone())
    }

    /// `SIGKILL`s every live client: the end of the load (not counted as
    /// a death: they lived until the load ended).
    pub(crate) async fn kill_clients(&mut self) -> anyhow::Result<()> {
        for worker in self.workers.iter_mut().filter(|w| w.role == Role::Client && w.ended_ms.is_none()) {
            worker.child.kill().await.with_context(|| format!("kill {}", worker.id))?;
        }
        Ok(())
    }

    /// `SIGTERM`s every live server and waits up to `bound` for each to
    /// drain and exit; `SIGKILL`s those still running then. The servers
    /// that did not drain in time.
    pub(crate) async fn terminate_servers(&mut self, bound: Duration) -> anyhow::Result<Vec<String>> {
        let mut hung = Vec::new();
        for worker in self.workers.iter_mut().filter(|w| w.role == Role::Server && w.ended_ms.is_none()) {
            if let Some(pid) = worker.child.id() {
                signal("-TERM", pid).await?;
            }
            if tokio::time::timeout(bound, worker.child.wait()).await.is_err() {
                hung.push(worker.id.clone());
                worker.child.kill().await?;
            }
        }
        Ok(hung)
    }

    /// The memory of the live worker in `slot` of `role`: asks it
    /// (`SIGUSR1`) and waits up to `limit` for its answer.
    pub(crate) async fn memory(
        &mut self,
        role: Role,
        slot: usize,
        limit: Duration,
    ) -> anyhow::Result<(String, Memory)> {
        let (id, pid) = self.pid(role, slot)?;
        let asked_ms = now_ms();
        signal("-USR1", pid).await?;
        let answer = async {
            loop {
                let changed = self.shared.changed.notified();
                let answer = self.shared.records.lock().unwrap_or_else(PoisonError::into_inner).iter().rev().find_map(
                    |r| match r.event {
                        Event::Memory(memory) if r.worker == id && r.t >= asked_ms => Some(memory),
                        _ => None,
                    },
                );
                if let Some(memory) = answer {
                    return memory;
                }
                changed.await;
            }
        };
        let memory =
            tokio::time::timeout(limit, answer).await.with_context(|| format!("{id} did not report its memory"))?;
        Ok((id, memory))
    }

    /// Whether every live server has reported its in-flight count at or after `since`.
    pub(crate) fn in_flight_reported_since(&self, since: u64) -> bool {
        let records = self.shared.records.lock().unwrap_or_else(PoisonError::into_inner);
        self.workers.iter().filter(|w| w.role == Role::Server && w.ended_ms.is_none()).all(|w| {
            records.iter().any(|r| r.worker == w.id && r.t >= since && matches!(r.event, Event::InFlight { .. }))
        })
    }

    /// Ends every worker still running, waits until their output is read,
    /// and hands over every event and every worker's life.
    pub(crate) async fn finish(mut self) -> (Vec<Record>, Vec<Lifetime>) {
        for worker in &mut self.workers {
            let _ = worker.child.kill().await;
        }
        let mut lifetimes = Vec::new();
        for worker in self.workers {
            let _ = worker.reader.await;
            lifetimes.push(Lifetime { worker: worker.id, role: worker.role, ended_ms: worker.ended_ms });
        }
        let mut records = std::mem::take(&mut *self.shared.records.lock().unwrap_or_else(PoisonError::into_inner));
        records.sort_by_key(|r| r.t);
        (records, lifetimes)
    }
}

/// Reads `worker`'s events until its output closes.
async fn read_events(worker: String, stdout: tokio::process::ChildStdout, shared: Arc<Shared>) {
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Ok(Some(text)) = lines.next_line().await {
        let Some(Line { t, event }) = Line::parse(&text) else {
            eprintln!("{worker}: {text}");
            continue;
        };
        let awaited = matches!(event, Event::Ready | Event::Memory(_));
        if event == Event::Ready {
            shared.ready.lock().unwrap_or_else(PoisonError::into_inner).insert(worker.clone());
        }
        shared.records.lock().unwrap_or_else(PoisonError::into_inner).push(Record { worker: worker.clone(), t, event });
        if awaited {
            shared.changed.notify_waiters();
        }
    }
}

/// Sends `signal` (`-STOP`, `-CONT`, `-TERM`, `-USR1`) to `pid` with `kill(1)`.
pub(crate) async fn signal(signal: &str, pid: u32) -> anyhow::Result<()> {
    let status = Command::new("kill").arg(signal).arg(pid.to_string()).status().await?;
    anyhow::ensure!(status.success(), "kill {signal} {pid}: {status}");
    Ok(())
}
