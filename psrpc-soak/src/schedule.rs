//! The fault schedule: which faults strike when, drawn from a seed, so a
//! run is replayed by passing its seed again (`--seed N`, with the same
//! build, topology, duration and process counts).
//!
//! A run's load phase lasts `duration`: a warm-up without faults (a fifth
//! of the run, at most 5 s), then faults one after another, then a tail
//! without faults (the recovery allowance plus 2 s, at least a tenth of the
//! run) in which every kind must work again. Faults never overlap: each
//! starts a recovery allowance (plus up to 2 s, drawn) after the previous
//! one's planned end, and if restoring one takes longer than planned (a
//! cluster that needs time to heal), the next starts that much later, and
//! the load ends that much later too (see `orchestrator`). The
//! kinds of fault are drawn like tiles from a bag: every applicable kind
//! once, in a drawn order, before any kind comes again, so even a short run
//! sees a variety.
//!
//! Server slot 0 and client slot 0 are never killed: they are the
//! long-lived processes whose memory is measured. They may be paused.

use std::fmt;
use std::time::Duration;

use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};

use crate::topology::Topology;

/// Which process a pause freezes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The server in this slot.
    Server(usize),
    /// The client in this slot.
    Client(usize),
    /// This node of the topology (see [`Topology::broker_nodes`]).
    Broker(usize),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Server(slot) => write!(f, "server {slot}"),
            Target::Client(slot) => write!(f, "client {slot}"),
            Target::Broker(node) => write!(f, "broker node {node}"),
        }
    }
}

/// One fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// `SIGKILL` a broker node, start it again after `down`.
    KillBroker {
        /// The node (see [`Topology::broker_nodes`]).
        node: usize,
        /// How long it stays down.
        down: Duration,
    },
    /// `SIGKILL` the server in `slot`, start a new one there after `down`.
    KillServer {
        /// The slot (never 0).
        slot: usize,
        /// How long the slot stays empty.
        down: Duration,
    },
    /// `SIGKILL` the client in `slot` (mid-call and mid-stream: its loops
    /// never rest), start a new one there at once.
    KillClient {
        /// The slot (never 0).
        slot: usize,
    },
    /// `SIGSTOP` a process, `SIGCONT` it after `stopped`.
    Pause {
        /// The process.
        target: Target,
        /// How long it stays stopped.
        stopped: Duration,
    },
    /// Cut every client connection of the broker (see [`Topology::can_cut`]).
    CutConnections,
}

impl Fault {
    /// How long the fault lasts as planned (0 for instant ones).
    pub(crate) fn span(&self) -> Duration {
        match *self {
            Fault::KillBroker { down, .. } | Fault::KillServer { down, .. } => down,
            Fault::Pause { stopped, .. } => stopped,
            Fault::KillClient { .. } | Fault::CutConnections => Duration::ZERO,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::KillBroker { node, down } => write!(f, "kill broker node {node}, restart after {down:?}"),
            Fault::KillServer { slot, down } => write!(f, "kill server {slot}, restart after {down:?}"),
            Fault::KillClient { slot } => write!(f, "kill client {slot} mid-call, start a new one"),
            Fault::Pause { target, stopped } => write!(f, "SIGSTOP {target} for {stopped:?}, then SIGCONT"),
            Fault::CutConnections => write!(f, "cut every client connection of the broker"),
        }
    }
}

/// A fault and when it strikes, from the start of the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Planned {
    /// When, from the start of the load.
    pub(crate) at: Duration,
    /// What.
    pub(crate) fault: Fault,
}

/// What a schedule is drawn for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The topology (its nodes, whether connections can be cut).
    pub(crate) topology: Topology,
    /// How many servers run.
    pub(crate) servers: usize,
    /// How many clients run.
    pub(crate) clients: usize,
    /// How long the load lasts.
    pub(crate) duration: Duration,
    /// How long after a fault ends the system may take to recover.
    pub(crate) recovery_allowance: Duration,
}

/// The faults of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// The seed it was drawn from.
    pub(crate) seed: u64,
    /// What it was drawn for.
    pub(crate) shape: Shape,
    /// The warm-up without faults.
    pub(crate) warmup: Duration,
    /// The faults, in order.
    pub(crate) faults: Vec<Planned>,
    /// How many kinds of fault apply: the faults of one round of the bag.
    kinds: usize,
}

/// The kinds of fault, as drawn from the bag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    KillBroker,
    KillServer,
    KillClient,
    Pause,
    Cut,
}

impl Schedule {
    /// Draws the schedule for `shape` from `seed`.
    pub(crate) fn draw(seed: u64, shape: Shape) -> Schedule {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let warmup = (shape.duration / 5).min(Duration::from_secs(5));
        let tail = (shape.recovery_allowance + Duration::from_secs(2)).max(shape.duration / 10);
        let last_start = shape.duration.saturating_sub(tail);
        let mut kinds = vec![Kind::KillBroker, Kind::Pause];
        if shape.servers > 1 {
            kinds.push(Kind::KillServer);
        }
        if shape.clients > 1 {
            kinds.push(Kind::KillClient);
        }
        if shape.topology.can_cut() {
            kinds.push(Kind::Cut);
        }
        let nodes = shape.topology.broker_nodes();
        let mut bag = Vec::new();
        let mut faults = Vec::new();
        let mut at = warmup;
        while at < last_start {
            if bag.is_empty() {
                bag.clone_from(&kinds);
                bag.shuffle(&mut rng);
            }
            let kind = bag.pop().unwrap_or(Kind::Pause);
            let fault = match kind {
                Kind::KillBroker => Fault::KillBroker { node: rng.random_range(0..nodes), down: span(&mut rng) },
                Kind::KillServer => {
                    Fault::KillServer { slot: rng.random_range(1..shape.servers), down: span(&mut rng) }
                }
                Kind::KillClient => Fault::KillClient { slot: rng.random_range(1..shape.clients) },
                Kind::Pause => {
                    let stopped = span(&mut rng);
                    let target = match rng.random_range(0..3) {
                        0 => Target::Server(rng.random_range(0..shape.servers)),
                        1 => Target::Client(rng.random_range(0..shape.clients)),
                        _ => Target::Broker(rng.random_range(0..nodes)),
                    };
                    Fault::Pause { target, stopped }
                }
                Kind::Cut => Fault::CutConnections,
            };
            faults.push(Planned { at, fault });
            let gap = shape.recovery_allowance + Duration::from_millis(rng.random_range(0..=2000));
            at += fault.span() + gap;
        }
        Schedule { seed, shape, warmup, faults, kinds: kinds.len() }
    }

    /// The index of the first fault after every kind of fault struck once,
    /// if it comes in the first half of the load: from there on the
    /// long-lived processes have run every path the run exercises.
    pub(crate) fn second_round(&self) -> Option<usize> {
        let first = self.faults.get(self.kinds)?;
        (first.at < self.shape.duration / 2).then_some(self.kinds)
    }
}

/// How long a fault lasts: 0.5 to 2 s, drawn.
fn span(rng: &mut rand::rngs::StdRng) -> Duration {
    Duration::from_millis(rng.random_range(500..=2000))
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shape = &self.shape;
        writeln!(
            f,
            "schedule for {} (seed {}, {} servers, {} clients, {:?} of load, warm-up {:?}, recovery allowance {:?}):",
            shape.topology,
            self.seed,
            shape.servers,
            shape.clients,
            shape.duration,
            self.warmup,
            shape.recovery_allowance
        )?;
        for planned in &self.faults {
            writeln!(f, "  +{:>8.3}s  {}", planned.at.as_secs_f64(), planned.fault)?;
        }
        if self.faults.is_empty() {
            writeln!(f, "  (no faults: the run is too short)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn shape(topology: Topology, duration: u64) -> Shape {
        Shape {
            topology,
            servers: 3,
            clients: 3,
            duration: Duration::from_secs(duration),
            recovery_allowance: Duration::from_secs(3),
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_schedule() {
        for topology in Topology::ALL {
            let a = Schedule::draw(42, shape(topology, 1800));
            assert_eq!(a, Schedule::draw(42, shape(topology, 1800)));
            assert_eq!(a.to_string(), Schedule::draw(42, shape(topology, 1800)).to_string());
            assert_ne!(a.faults, Schedule::draw(43, shape(topology, 1800)).faults, "another seed, another schedule");
        }
    }

    #[test]
    fn faults_stay_between_warm_up_and_tail_and_never_overlap() {
        let schedule = Schedule::draw(7, shape(Topology::RedisCluster, 600));
        assert!(schedule.faults.len() > 50, "{}", schedule.faults.len());
        assert!(schedule.faults[0].at >= schedule.warmup);
        for pair in schedule.faults.windows(2) {
            let end = pair[0].at + pair[0].fault.span();
            assert!(pair[1].at >= end + Duration::from_secs(3), "{pair:?}");
        }
        let last = schedule.faults.last().expect("faults");
        assert!(last.at + Duration::from_secs(5) <= Duration::from_secs(600));
    }

    #[test]
    fn long_lived_slots_are_never_killed_and_targets_exist() {
        for seed in 0..50 {
            let schedule = Schedule::draw(seed, shape(Topology::NatsCluster, 300));
            for planned in &schedule.faults {
                match planned.fault {
                    Fault::KillServer { slot, .. } | Fault::KillClient { slot } => assert!((1..3).contains(&slot)),
                    Fault::KillBroker { node, .. } | Fault::Pause { target: Target::Broker(node), .. } => {
                        assert!(node < Topology::NatsCluster.broker_nodes());
                    }
                    Fault::Pause { target: Target::Server(slot) | Target::Client(slot), .. } => assert!(slot < 3),
                    Fault::CutConnections => panic!("a NATS cluster's connections are cut by killing a node"),
                }
            }
        }
    }

    #[test]
    fn a_long_run_has_a_second_round_and_a_short_one_none() {
        let long = Schedule::draw(3, shape(Topology::Redis, 1800));
        let second = long.second_round().expect("a second round");
        let kinds =
            |faults: &[Planned]| faults.iter().map(|p| std::mem::discriminant(&p.fault)).collect::<HashSet<_>>().len();
        assert_eq!(kinds(&long.faults[..second]), second, "one of each kind before it");
        assert!(long.faults[second].at < Duration::from_secs(900));
        assert_eq!(Schedule::draw(3, shape(Topology::Redis, 20)).second_round(), None);
    }

    #[test]
    fn a_short_run_sees_different_kinds() {
        let schedule = Schedule::draw(1, shape(Topology::Redis, 25));
        let kinds: Vec<std::mem::Discriminant<Fault>> =
            schedule.faults.iter().map(|p| std::mem::discriminant(&p.fault)).collect();
        assert!(!kinds.is_empty());
        for (i, kind) in kinds.iter().enumerate() {
            assert!(!kinds[..i].contains(kind), "a kind repeats before all came once: {schedule}");
        }
    }
}
