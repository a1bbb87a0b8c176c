//! Driving N concurrent callers for a fixed time, with warm-up and progress.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::stats::{Histogram, cpu_time};

/// What one timed phase measured.
#[derive(Debug)]
pub(crate) struct Measurement {
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) calls_per_second: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p999_us: f64,
    pub(crate) cpu_us_per_call: f64,
    /// CPU time the broker process spent per call, when its pid was given.
    pub(crate) broker_cpu_us_per_call: Option<f64>,
    /// Resident memory 10 s into the timed phase (0 if it was shorter).
    pub(crate) rss_kib_at_10s: u64,
    /// Resident memory at the end of the timed phase.
    pub(crate) rss_kib_at_end: u64,
}

impl Measurement {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "calls": self.calls, "errors": self.errors, "calls_per_second": self.calls_per_second.round(),
            "p50_us": self.p50_us, "p99_us": self.p99_us, "p999_us": self.p999_us,
            "cpu_us_per_call": self.cpu_us_per_call, "broker_cpu_us_per_call": self.broker_cpu_us_per_call,
            "rss_kib_at_10s": self.rss_kib_at_10s, "rss_kib_at_end": self.rss_kib_at_end,
        })
    }
}

/// How long a call may take before it counts as an error: a raw round trip
/// whose reply is lost (a broker that dropped a connection) has no deadline
/// of its own, and must not stall the run.
const CALL_LIMIT: Duration = Duration::from_secs(30);

/// Runs `call(worker)` in a loop on `concurrency` tasks: `warmup` untimed, then
/// `duration` timed. Errors (and calls unanswered after 30 s) are counted,
/// never retried. With `broker`, the broker process's CPU time over the
/// timed phase is measured too.
pub(crate) async fn drive<F, Fut>(
    label: &str,
    concurrency: usize,
    (warmup, duration): (Duration, Duration),
    broker: Option<u32>,
    call: F,
) -> Measurement
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let call = Arc::new(call);
    phase(&call, concurrency, warmup, None).await;
    let progress = Arc::new(AtomicU64::new(0));
    let rss_at_10s = Arc::new(AtomicU64::new(0));
    let reporter = tokio::spawn(report(label.to_owned(), Arc::clone(&progress), Arc::clone(&rss_at_10s)));
    let cpu_before = cpu_time(None);
    let broker_before = broker.map(|pid| cpu_time(Some(pid)));
    let started = Instant::now();
    let samples = phase(&call, concurrency, duration, Some(progress)).await;
    let elapsed = started.elapsed();
    let cpu = cpu_time(None).saturating_sub(cpu_before);
    let broker_cpu = broker.zip(broker_before).map(|(pid, before)| cpu_time(Some(pid)).saturating_sub(before));
    let rss_kib_at_end = crate::stats::status_kib("VmRSS");
    reporter.abort();
    eprintln!();
    let calls = samples.count();
    let (p50_us, p99_us, p999_us) = samples.percentiles_us();
    let per_call = |cpu: Duration| if calls == 0 { 0.0 } else { cpu.as_secs_f64() * 1e6 / calls as f64 };
    Measurement {
        calls,
        errors: samples.errors.load(Ordering::Relaxed),
        calls_per_second: calls as f64 / elapsed.as_secs_f64(),
        p50_us,
        p99_us,
        p999_us,
        cpu_us_per_call: per_call(cpu),
        broker_cpu_us_per_call: broker_cpu.map(per_call),
        rss_kib_at_10s: rss_at_10s.load(Ordering::Relaxed),
        rss_kib_at_end,
    }
}

async fn phase<F, Fut>(
    call: &Arc<F>,
    concurrency: usize,
    duration: Duration,
    progress: Option<Arc<AtomicU64>>,
) -> Arc<Histogram>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let deadline = Instant::now() + duration;
    let samples = Arc::new(Histogram::default());
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let call = Arc::clone(call);
            let progress = progress.clone();
            let samples = Arc::clone(&samples);
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let started = Instant::now();
                    match tokio::time::timeout(CALL_LIMIT, call(worker)).await {
                        Ok(Ok(())) => samples.record(started.elapsed()),
                        Ok(Err(_)) | Err(_) => samples.error(),
                    }
                    if let Some(p) = &progress {
                        p.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    samples
}

/// Prints a progress line every second; samples RSS after 10 s.
async fn report(label: String, progress: Arc<AtomicU64>, rss_at_10s: Arc<AtomicU64>) {
    let mut last = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    for second in 1.. {
        tick.tick().await;
        if second == 10 {
            rss_at_10s.store(crate::stats::status_kib("VmRSS"), Ordering::Relaxed);
        }
        let now = progress.load(Ordering::Relaxed);
        eprint!("\r{label}: {} calls/s, {now} calls so far      ", now - last);
        last = now;
    }
}
