//! Inflicting one planned fault on the running topology and workers, and
//! recording when it started and when it was over.
//!
//! | fault | start | end |
//! |---|---|---|
//! | kill broker | `SIGKILL` of the node | the node restarted and the topology whole again |
//! | kill server | `SIGKILL` of the server | a new server spawned in its slot |
//! | kill client | `SIGKILL` of the client | a new client spawned in its slot (at once) |
//! | pause | `SIGSTOP` of the process | its `SIGCONT` |
//! | cut connections | the cut | the cut (instant) |

use std::sync::{Arc, Mutex, PoisonError};

use crate::events::now_ms;
use crate::fleet::{Fleet, signal};
use crate::invariants::{FaultRecord, Role};
use crate::schedule::{Fault, Target};
use crate::topology::Running;

/// The running topology, shared with blocking tasks (its launchers block).
pub(crate) type SharedTopology = Arc<Mutex<Running>>;

/// Runs `f` on the topology in a blocking task.
async fn on_topology<T: Send + 'static>(
    topology: &SharedTopology,
    f: impl FnOnce(&mut Running) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let topology = Arc::clone(topology);
    tokio::task::spawn_blocking(move || f(&mut topology.lock().unwrap_or_else(PoisonError::into_inner))).await?
}

/// Inflicts `fault` and waits until it is over.
pub(crate) async fn inflict(fault: Fault, fleet: &mut Fleet, topology: &SharedTopology) -> anyhow::Result<FaultRecord> {
    let start_ms = now_ms();
    let (worker, detail) = match fault {
        Fault::KillBroker { node, down } => {
            let killed = on_topology(topology, move |t| t.kill(node)).await?;
            tokio::time::sleep(down).await;
            on_topology(topology, move |t| t.restart(node)).await?;
            (None, format!("killed {killed}"))
        }
        Fault::KillServer { slot, down } => {
            let killed = fleet.kill(Role::Server, slot).await?;
            tokio::time::sleep(down).await;
            let new = fleet.spawn(Role::Server, slot)?;
            (Some(killed.clone()), format!("killed {killed}, started {new}"))
        }
        Fault::KillClient { slot } => {
            let killed = fleet.kill(Role::Client, slot).await?;
            let new = fleet.spawn(Role::Client, slot)?;
            (Some(killed.clone()), format!("killed {killed}, started {new}"))
        }
        Fault::Pause { target, stopped } => {
            let (worker, pid) = match target {
                Target::Server(slot) => fleet.pid(Role::Server, slot).map(|(id, pid)| (Some(id), pid))?,
                Target::Client(slot) => fleet.pid(Role::Client, slot).map(|(id, pid)| (Some(id), pid))?,
                Target::Broker(node) => (None, on_topology(topology, move |t| t.pid(node)).await?),
            };
            signal("-STOP", pid).await?;
            tokio::time::sleep(stopped).await;
            signal("-CONT", pid).await?;
            let what = worker.clone().unwrap_or_else(|| format!("{target} (pid {pid})"));
            (worker, format!("stopped {what}"))
        }
        Fault::CutConnections => {
            let cut = on_topology(topology, |t| t.cut()).await?;
            (None, format!("cut {cut} connections"))
        }
    };
    Ok(FaultRecord { fault, start_ms, end_ms: now_ms(), worker, detail })
}
