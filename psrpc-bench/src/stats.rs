//! Latency histograms, percentiles and process resource usage.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: values keep their top 7 significant bits,
/// so a reported percentile is within 1/256 (0.4 %) of a recorded value.
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
/// Values below `SUB` are exact; each higher power of two gets `SUB` buckets.
const BUCKETS: usize = SUB + (64 - SUB_BITS as usize) * SUB;

/// Latencies of completed calls in nanoseconds, in a fixed-size log-linear
/// histogram (about 60 KiB whatever the run length), shared by all callers.
#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    /// Calls that failed (not in the histogram).
    pub(crate) errors: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub(crate) fn record(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Latency percentiles in microseconds: (p50, p99, p99.9).
    pub(crate) fn percentiles_us(&self) -> (f64, f64, f64) {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let at = |q: f64| -> f64 {
            if total == 0 {
                return 0.0;
            }
            // The nearest-rank sample (1-based), as a sorted list would give it.
            let rank = ((total - 1) as f64 * q).round() as u64 + 1;
            let mut seen = 0;
            for (bucket, count) in counts.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    return midpoint(bucket) / 1000.0;
                }
            }
            0.0
        };
        (at(0.50), at(0.99), at(0.999))
    }
}

fn bucket_of(nanos: u64) -> usize {
    if nanos < SUB as u64 {
        return nanos as usize;
    }
    let shift = 63 - nanos.leading_zeros() - SUB_BITS;
    let mantissa = (nanos >> shift) as usize - SUB;
    SUB + shift as usize * SUB + mantissa
}

/// The middle of the values a bucket holds.
fn midpoint(bucket: usize) -> f64 {
    if bucket < SUB {
        return bucket as f64;
    }
    let shift = (bucket - SUB) / SUB;
    let low = ((bucket - SUB) % SUB + SUB) as u64;
    let width = 1u64 << shift;
    (low << shift) as f64 + (width - 1) as f64 / 2.0
}

/// CPU time (user + system) used so far by process `pid`, or by this one.
pub(crate) fn cpu_time(pid: Option<u32>) -> Duration {
    let path = pid.map_or_else(|| "/proc/self/stat".to_owned(), |pid| format!("/proc/{pid}/stat"));
    let Ok(stat) = std::fs::read_to_string(path) else { return Duration::ZERO };
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
    fn percentiles_pick_the_right_ranks_within_half_a_percent() {
        let h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let (p50, p99, p999) = h.percentiles_us();
        for (got, want) in [(p50, 501.0), (p99, 990.0), (p999, 999.0)] {
            assert!((got - want).abs() / want < 0.004, "{got} vs {want}");
        }
        assert_eq!(h.count(), 1000);
        assert!(status_kib("VmHWM") > 0);
    }

    #[test]
    fn buckets_cover_every_value_in_order() {
        let values = [0u64, 1, 127, 128, 129, 255, 256, 1_000, 123_456_789, u64::MAX / 3, u64::MAX];
        let buckets: Vec<usize> = values.iter().map(|v| bucket_of(*v)).collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        assert!(buckets.iter().all(|b| *b < BUCKETS));
        for v in values.into_iter().filter(|v| *v < u64::MAX / 2) {
            let mid = midpoint(bucket_of(v));
            assert!((mid - v as f64).abs() <= (v as f64 / 256.0).max(0.5), "{v} -> {mid}");
        }
    }
}
