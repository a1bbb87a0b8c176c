//! What a soak prints: progress and figures for people (standard output,
//! or standard error with `--json`), and with `--json` one JSON document of
//! every figure on standard output, for tests and records.

use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::invariants::Figures;

/// Where lines for people go.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Say {
    /// To standard error (standard output carries the JSON).
    pub(crate) to_stderr: bool,
}

impl Say {
    /// Prints one line.
    pub(crate) fn line(self, text: impl fmt::Display) {
        if self.to_stderr {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }
}

/// A fault as it happened, relative to the start of the load.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct FaultLine {
    /// When it started, from the start of the load.
    pub(crate) at_ms: u64,
    /// The fault as planned.
    pub(crate) fault: String,
    /// What happened.
    pub(crate) detail: String,
    /// How long until it was over.
    pub(crate) took_ms: u64,
}

/// The outcome of one topology's run.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct TopologyReport {
    /// The topology.
    pub(crate) topology: String,
    /// The seed its schedule was drawn from.
    pub(crate) seed: u64,
    /// How many events the workers reported.
    pub(crate) events: u64,
    /// The faults.
    pub(crate) faults: Vec<FaultLine>,
    /// Servers that did not drain within the bound after `SIGTERM`.
    pub(crate) drain_hung: Vec<String>,
    /// The figures and violations.
    pub(crate) figures: Figures,
}

/// Every topology's outcome.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    /// The seed.
    pub(crate) seed: u64,
    /// Each topology's run.
    pub(crate) runs: Vec<TopologyReport>,
}

impl Report {
    /// Whether some invariant was broken.
    pub(crate) fn violated(&self) -> bool {
        self.runs.iter().any(|r| !r.figures.violations.is_empty())
    }
}

impl fmt::Display for TopologyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let figures = &self.figures;
        writeln!(f, "== {} (seed {}): {} events, {} faults", self.topology, self.seed, self.events, self.faults.len())?;
        writeln!(
            f,
            "  {:<14} {:>9} {:>9} {:>8} {:>9}  failed by code",
            "calls", "attempted", "succeeded", "late", "slowest"
        )?;
        for (kind, c) in &figures.calls {
            let mut failed = String::new();
            for (code, n) in &c.failed {
                let _ = write!(failed, "{code}={n} ");
            }
            writeln!(
                f,
                "  {:<14} {:>9} {:>9} {:>8} {:>7}ms  {failed}",
                format!("{kind:?}"),
                c.attempted,
                c.succeeded,
                c.past_deadline,
                c.slowest_ms
            )?;
        }
        writeln!(f, "  calls > 500 ms past deadline: {}", figures.past_deadline)?;
        writeln!(f, "  queue requests handled more than once: {}", figures.handled_twice)?;
        let s = &figures.streams;
        writeln!(
            f,
            "  stream messages acknowledged {}, received {}, lost {} (excused: {})",
            s.acknowledged, s.received, s.lost, s.lost_excused
        )?;
        for (kind, sub) in &figures.subscriptions {
            writeln!(
                f,
                "  {kind:?} subscription: published {}, checked outside fault windows {}, deliveries due {}, lost {}, received {}, duplicated {}",
                sub.published, sub.checked, sub.due, sub.lost, sub.received, sub.duplicated
            )?;
        }
        writeln!(
            f,
            "  handlers in flight 2x keepalive expiry after clients stopped: {}",
            figures.in_flight_after_stop
        )?;
        for rss in &figures.rss {
            writeln!(
                f,
                "  RSS {}: {} kB -> {} kB ({:+.1} %); heap in use {} kB -> {} kB",
                rss.worker, rss.start_kb, rss.end_kb, rss.growth_pct, rss.heap_start_kb, rss.heap_end_kb
            )?;
        }
        let r = &figures.recovery;
        let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"));
        writeln!(f, "  recovery: p50 {}, max {}, unrecovered {}", ms(r.p50_ms), ms(r.max_ms), r.unrecovered)?;
        for (line, recovery) in self.faults.iter().zip(&r.faults) {
            writeln!(f, "    +{:.3}s {} -> {}", line.at_ms as f64 / 1000.0, line.fault, ms(recovery.recovered_ms))?;
        }
        if figures.violations.is_empty() {
            writeln!(f, "  every invariant holds")
        } else {
            writeln!(f, "  VIOLATIONS:")?;
            figures.violations.iter().try_for_each(|v| writeln!(f, "    - {v}"))
        }
    }
}
