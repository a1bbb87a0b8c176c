//! `--recovery N`: how soon calls succeed again after an outage, N times.
//!
//! On one NATS or Redis server (`--bus nats|redis`), the broker is killed,
//! stays down for `--outage-ms`, and is started again; the clock starts
//! when it accepts connections. On Redis Sentinel (`--topology sentinel`)
//! the master is killed; the clock starts when a Sentinel announces
//! `+switch-master`. Meanwhile eight probes each make a single call at a
//! time (a 250 ms timeout, at most one every 20 ms), so the first success
//! after the clock started is seen within about 20 ms. The figure is that
//! first success's delay.

use std::time::Duration;

use futures_util::StreamExt as _;
use psrpc::{ClientOptions, Error, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer};
use psrpc::{Selection, ServerOptions};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::kinds::Blob;
use crate::{Broker, Buses};

static PROBE: MethodInfo = MethodInfo::new("Probe", MethodKind::Unary(Selection::Queue { topics: false }));

/// Probes calling at once.
const PROBES: usize = 8;
/// Each probe's call timeout.
const PROBE_TIMEOUT: Duration = Duration::from_millis(250);
/// The least time between two calls of one probe.
const PROBE_PACE: Duration = Duration::from_millis(20);
/// How long a recovery (or resubscription) may take before the run gives up.
pub(crate) const GIVE_UP: Duration = Duration::from_secs(60);

async fn echo(_ctx: RequestContext, blob: Blob) -> Result<Blob, Error> {
    Ok(blob)
}

/// Runs `outages` outages (`outage` long where the broker is restarted)
/// and returns each recovery in milliseconds.
pub(crate) async fn measure(
    broker: &mut Broker,
    buses: &Buses,
    outages: usize,
    outage: Duration,
) -> anyhow::Result<Vec<f64>> {
    let server = RpcServer::new("Recovery", buses.connect().await?, ServerOptions::default());
    server.register_unary(&PROBE, vec![], echo, None).await?;
    let client = RpcClient::new("Recovery", buses.connect().await?, ClientOptions::default()).await?;
    let (successes, mut succeeded) = mpsc::unbounded_channel();
    let probes: Vec<_> = (0..PROBES).map(|_| tokio::spawn(probe(client.clone(), successes.clone()))).collect();
    let mut recoveries = Vec::new();
    for round in 1..=outages {
        first_success_after(&mut succeeded, Instant::now()).await?;
        let started = match broker.redis_sentinel.as_mut() {
            Some(topology) => switch_master(topology).await?,
            None => restart(broker, outage).await?,
        };
        let recovered = first_success_after(&mut succeeded, started).await?;
        let ms = (recovered - started).as_secs_f64() * 1000.0;
        eprintln!("outage {round}: first success {ms:.0} ms after the broker was back");
        recoveries.push(ms);
    }
    for probe in probes {
        probe.abort();
    }
    server.kill().await;
    Ok(recoveries)
}

/// Calls until aborted, reporting when each success came.
async fn probe(client: RpcClient, successes: mpsc::UnboundedSender<Instant>) {
    let blob = Blob { data: bytes::Bytes::from_static(b"probe") };
    loop {
        let started = Instant::now();
        let options = RequestOptions::default().timeout(PROBE_TIMEOUT);
        if client.request_single::<Blob, Blob>(&PROBE, vec![], &blob, options).await.is_ok() {
            let _ = successes.send(Instant::now());
        }
        tokio::time::sleep_until(started + PROBE_PACE).await;
    }
}

/// When the first success at or after `since` came.
async fn first_success_after(
    succeeded: &mut mpsc::UnboundedReceiver<Instant>,
    since: Instant,
) -> anyhow::Result<Instant> {
    let first = async {
        while let Some(at) = succeeded.recv().await {
            if at >= since {
                return Some(at);
            }
        }
        None
    };
    match tokio::time::timeout(GIVE_UP, first).await {
        Ok(Some(at)) => Ok(at),
        _ => anyhow::bail!("no call succeeded within {GIVE_UP:?}"),
    }
}

/// Kills the single broker, keeps it down for `outage`, starts it again;
/// returns when it accepted connections.
pub(crate) async fn restart(broker: &mut Broker, outage: Duration) -> anyhow::Result<Instant> {
    let process: &mut psrpc_test_support::broker::Broker = match (broker.nats.as_mut(), broker.redis.as_mut()) {
        (Some(nats), _) => nats,
        (None, Some(redis)) => redis,
        (None, None) => anyhow::bail!("--recovery needs a broker started for the run (no --url)"),
    };
    tokio::task::block_in_place(|| process.stop());
    // The outage's length is the fault itself, not a wait for an event.
    tokio::time::sleep(outage).await;
    tokio::task::block_in_place(|| process.restart())?;
    Ok(Instant::now())
}

/// Kills the master the Sentinels name; returns when a Sentinel announced
/// the new one, after starting the killed node again (as a replica).
async fn switch_master(topology: &mut psrpc_test_support::topology::RedisSentinel) -> anyhow::Result<Instant> {
    let sentinel = redis::Client::open(format!("redis://{}", topology.sentinel_addrs()[0]))?;
    let mut announcements = sentinel.get_async_pubsub().await?;
    announcements.subscribe("+switch-master").await?;
    let killed = tokio::task::block_in_place(|| topology.kill_master())?;
    let switched = tokio::time::timeout(GIVE_UP, announcements.on_message().next()).await;
    let at = Instant::now();
    anyhow::ensure!(matches!(switched, Ok(Some(_))), "no +switch-master within {GIVE_UP:?}");
    tokio::task::block_in_place(|| topology.restart(killed))?;
    Ok(at)
}
