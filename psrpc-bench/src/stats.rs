//! Latency samples, percentiles and process resource usage.

use std::time::Duration;

/// Latencies of completed calls, in nanoseconds.
#[derive(Debug, Default)]
pub(crate) struct Samples {
    nanos: Vec<u64>,
    pub(crate) errors: u64,
}

impl Samples {
    pub(crate) fn record(&mut self, latency: Duration) {
        self.nanos.push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    pub(crate) fn merge(&mut self, other: Samples) {
        self.nanos.extend(other.nanos);
        self.errors += other.errors;
    }

    pub(crate) fn count(&self) -> u64 {
        self.nanos.len() as u64
    }

    /// Latency percentiles in microseconds: (p50, p99, p99.9).
    pub(crate) fn percentiles_us(&mut self) -> (f64, f64, f64) {
        self.nanos.sort_unstable();
        let at = |q: f64| -> f64 {
            if self.nanos.is_empty() {
                return 0.0;
            }
            let index = ((self.nanos.len() as f64 - 1.0) * q).round() as usize;
            self.nanos[index] as f64 / 1000.0
        };
        (at(0.50), at(0.99), at(0.999))
    }
}

/// CPU time used by this process so far (user + system).
pub(crate) fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Duration::ZERO };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // Linux reports in USER_HZ, 100 per second on every common configuration.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// A field of /proc/self/status in KiB (e.g. `VmHWM`, `VmRSS`).
pub(crate) fn status_kib(field: &str) -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return 0 };
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|rest| rest.trim_start_matches(':').split_whitespace().next()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_ranks() {
        let mut s = Samples::default();
        for us in 1..=1000u64 {
            s.record(Duration::from_micros(us));
        }
        let (p50, p99, p999) = s.percentiles_us();
        assert_eq!((p50.round(), p99.round(), p999.round()), (501.0, 990.0, 999.0));
        assert!(status_kib("VmHWM") > 0);
    }
}
