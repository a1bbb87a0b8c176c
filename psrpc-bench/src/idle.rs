//! `--idle-subscriptions K`: what K idle subscriptions cost, and how long
//! a broker restart leaves them deaf.
//!
//! One client subscribes to K topics of a subscription method, one at a
//! time (each returns once the bus has the subscription live); the figures
//! are the wall time for all K and the resident memory they added. On a
//! NATS or Redis server started for the run, the broker is then killed,
//! stays down for `--outage-ms` and is started again on the same port (the
//! clock starts when it accepts connections). A subscription counts as
//! resubscribed when it receives a probe published to its own topic after
//! the restart: a server on its own connection publishes a probe to every
//! subscription not yet reached (64 publishes in flight), pass after pass,
//! until each has received one. The figure is the delay from the clock's
//! start to the last subscription's first probe; it includes the pass that
//! reached it. Subscriptions still unreached after 60 s leave the figure
//! out (`resubscribe_ms` null; `resubscribed` counts those reached).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use psrpc::{ClientOptions, RpcClient, RpcServer, ServerOptions};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::kinds::Blob;
use crate::memory::{IDLE, idle_topic, subscribe_idle};
use crate::recovery::{GIVE_UP, restart};
use crate::stats::status_kib;
use crate::{Broker, Buses};

/// Probe publishes in flight during a pass.
const PROBES_IN_FLIGHT: usize = 64;
/// The least time between the starts of two probe passes.
const PASS_PACE: Duration = Duration::from_millis(50);

/// Subscribes `count` idle subscriptions and, when `broker` runs a single
/// NATS or Redis server, restarts it after `outage` and times their
/// resubscription; returns a JSON report.
pub(crate) async fn measure(
    broker: &mut Broker,
    buses: &Buses,
    count: usize,
    outage: Duration,
) -> anyhow::Result<serde_json::Value> {
    let client = RpcClient::new("Idle", buses.connect().await?, ClientOptions::default().channel_capacity(4)).await?;
    let before = status_kib("VmRSS");
    let started = Instant::now();
    let subscriptions = subscribe_idle(&client, count).await?;
    let subscribe_ms = started.elapsed().as_secs_f64() * 1000.0;
    let added_kib = status_kib("VmRSS").saturating_sub(before);
    eprintln!("{count} idle subscriptions in {subscribe_ms:.0} ms, {added_kib} KiB");
    let mut report = serde_json::json!({
        "idle_subscriptions": count, "subscribe_ms": subscribe_ms,
        "kib_per_idle_subscription": added_kib as f64 / count.max(1) as f64,
        "outage_ms": null, "resubscribe_ms": null,
    });
    if broker.pid().is_some() {
        let (reached, ms) = resubscribed_after_restart(broker, buses, subscriptions, outage).await?;
        report["outage_ms"] = (outage.as_millis() as u64).into();
        report["resubscribed"] = reached.into();
        if reached == count {
            report["resubscribe_ms"] = ms.into();
        }
    }
    report["peak_rss_kib"] = status_kib("VmHWM").into();
    Ok(report)
}

/// Restarts the broker and returns how many subscriptions received a probe
/// (within [`GIVE_UP`]) and the milliseconds from the broker's return to the
/// last one's first probe.
async fn resubscribed_after_restart(
    broker: &mut Broker,
    buses: &Buses,
    subscriptions: Vec<psrpc::TypedSubscription<Blob>>,
    outage: Duration,
) -> anyhow::Result<(usize, f64)> {
    let publisher = RpcServer::new("Idle", buses.connect().await?, ServerOptions::default());
    let count = subscriptions.len();
    let back = restart(broker, outage).await?;
    let reached: Arc<Vec<AtomicBool>> = Arc::new((0..count).map(|_| AtomicBool::new(false)).collect());
    let (arrivals, mut arrived) = mpsc::unbounded_channel();
    // Each watcher keeps its subscription until the run ends.
    let watchers: Vec<_> = subscriptions
        .into_iter()
        .enumerate()
        .map(|(i, mut subscription)| {
            let (reached, arrivals) = (Arc::clone(&reached), arrivals.clone());
            tokio::spawn(async move {
                if subscription.next().await.is_some() {
                    reached[i].store(true, Ordering::Relaxed);
                    let _ = arrivals.send(Instant::now());
                }
                subscription
            })
        })
        .collect();
    let blob = Blob { data: bytes::Bytes::from_static(b"probe") };
    let (mut last, mut seen) = (back, 0);
    while seen < count && back.elapsed() < GIVE_UP {
        let pass = Instant::now();
        let pending: Vec<usize> = (0..count).filter(|i| !reached[*i].load(Ordering::Relaxed)).collect();
        futures_util::stream::iter(pending)
            .for_each_concurrent(PROBES_IN_FLIGHT, |i| {
                let (publisher, blob) = (&publisher, &blob);
                async move {
                    let _ = publisher.publish(&IDLE, idle_topic(i), blob).await;
                }
            })
            .await;
        tokio::time::sleep_until(pass + PASS_PACE).await;
        while let Ok(at) = arrived.try_recv() {
            (last, seen) = (last.max(at), seen + 1);
        }
    }
    for watcher in watchers {
        watcher.abort();
    }
    publisher.kill().await;
    Ok((seen, (last - back).as_secs_f64() * 1000.0))
}
