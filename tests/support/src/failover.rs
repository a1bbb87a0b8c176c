//! The failover scenario, shared by the broker topologies: continuous load
//! of every RPC kind while a broker node dies, with the promises checked.
//!
//! Servers and clients sit on connections spread over the topology's
//! nodes. Four loops run at once: unary queue calls, multi calls, streams
//! (open, one exchange, close) and server publishes to a client
//! subscription. Then the test's `kill` runs (a node dies). The scenario
//! checks that no call outlives its timeout by more than a small margin (a
//! stream exchange: its open's and its send's timeouts, the echo bounded by
//! what is left of them),
//! that every failure is `unavailable` or `deadline_exceeded`, that no
//! queue request is handled twice, and that every kind succeeds again on
//! every client (so every client's subscription came back) after the kill.
//! How long recovery took is reported, not judged: `recovery_bound` only
//! tells a hang from a slow machine (use [`RECOVERY_PATIENCE`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::stream::ServerStream;
use psrpc_core::{
    Delivery, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RpcClient, RpcServer, Selection, SharedBus,
};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::BusFactory;
use crate::rpc_suite::{Ping, Pong};

static UNARY: MethodInfo = MethodInfo::new("Unary", MethodKind::Unary(Selection::Queue { topics: false }));
static MULTI: MethodInfo = MethodInfo::new("Multi", MethodKind::Multi { topics: false });
static STREAM: MethodInfo = MethodInfo::new("Stream", MethodKind::Stream(Selection::Queue { topics: false }));
static EVENTS: MethodInfo =
    MethodInfo::new("Events", MethodKind::Subscription { delivery: Delivery::Every, topics: false });

/// What one failover cost, as measured by [`calls_survive_a_failover`].
///
/// ```
/// let report = psrpc_test_support::failover::FailoverReport::default();
/// assert_eq!((report.ok, report.unavailable, report.deadline_exceeded), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct FailoverReport {
    /// Calls (of every kind) that succeeded.
    pub ok: usize,
    /// Calls that failed with `unavailable`.
    pub unavailable: usize,
    /// Calls that failed with `deadline_exceeded`.
    pub deadline_exceeded: usize,
    /// From the kill until every kind had succeeded again on every client.
    pub recovery: Duration,
    /// The longest any call took.
    pub slowest_call: Duration,
}

/// Which loop a call belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Unary,
    Multi,
    Stream,
    Event,
}

const KINDS: [Kind; 4] = [Kind::Unary, Kind::Multi, Kind::Stream, Kind::Event];

impl Kind {
    /// The longest one call of this kind may take with the client's
    /// `timeout`: a stream exchange is an open and a send, each waiting at
    /// most `timeout` (for the server, for the ack); the others one timeout.
    fn limit(self, timeout: Duration) -> Duration {
        match self {
            Kind::Stream => timeout * 2,
            _ => timeout,
        }
    }
}

/// How long the scenario waits for every kind to work again before it calls
/// the topology hung: far beyond any failover, so a loaded machine never
/// comes near it; the time recovery took is in the report.
pub const RECOVERY_PATIENCE: Duration = Duration::from_secs(90);

/// [`calls_survive_a_failover`] with two servers and two clients, each on a
/// new connection to `topology` (servers first), calls that time out after
/// 2 s, and [`RECOVERY_PATIENCE`]; `kill` gets the topology to kill a node
/// of. Returns the report, and the topology for what the test still asks of
/// it.
///
/// ```no_run
/// use psrpc_test_support::{BusFactory, failover};
/// # async fn f<T: BusFactory>(topology: T, kill_a_node: fn(&mut T)) {
/// let (report, _topology) = failover::kill_under_load(topology, kill_a_node).await;
/// println!("every kind worked again {:?} after the kill", report.recovery);
/// # }
/// ```
pub async fn kill_under_load<T: BusFactory>(topology: T, kill: impl FnOnce(&mut T) + Send) -> (FailoverReport, T) {
    let servers = vec![topology.connect().await, topology.connect().await];
    let clients = vec![topology.connect().await, topology.connect().await];
    let topology = Mutex::new(topology);
    let kill = || kill(&mut topology.lock());
    let report = calls_survive_a_failover(servers, clients, kill, Duration::from_secs(2), RECOVERY_PATIENCE).await;
    (report, topology.into_inner())
}

#[derive(Default)]
struct Tally {
    report: FailoverReport,
    /// When a kind succeeded, and on which client.
    last_ok: Vec<(Kind, usize, Instant)>,
    /// How many clients load the servers.
    clients: usize,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, kind: Kind, client: usize, started: Instant, outcome: Result<(), Error>, timeout: Duration) {
        let took = started.elapsed();
        self.report.slowest_call = self.report.slowest_call.max(took);
        let limit = kind.limit(timeout);
        if took > limit + Duration::from_millis(500) {
            self.failures.push(format!("{kind:?} call took {took:?} (limit {limit:?}, timeout {timeout:?})"));
        }
        match outcome {
            Ok(()) => {
                self.report.ok += 1;
                self.last_ok.push((kind, client, Instant::now()));
            }
            Err(e) if e.code() == ErrorCode::Unavailable => self.report.unavailable += 1,
            Err(e) if e.code() == ErrorCode::DeadlineExceeded => self.report.deadline_exceeded += 1,
            Err(e) => self.failures.push(format!("{kind:?}: unexpected error {e}")),
        }
    }

    /// When every kind had succeeded after `since` on every client (so no
    /// client lost a subscription), if it has.
    fn recovered_after(&self, since: Instant) -> Option<Instant> {
        self.missing_after(since).is_empty().then(|| {
            let first_ok = |kind: Kind, client: usize| {
                self.last_ok.iter().filter(|(k, c, t)| *k == kind && *c == client && *t > since).map(|(.., t)| *t).min()
            };
            KINDS
                .iter()
                .flat_map(|kind| (0..self.clients).filter_map(move |client| first_ok(*kind, client)))
                .fold(since, Instant::max)
        })
    }

    /// The kinds, with their client, that have not succeeded since `since`.
    fn missing_after(&self, since: Instant) -> Vec<(Kind, usize)> {
        KINDS
            .iter()
            .flat_map(|kind| (0..self.clients).map(move |client| (*kind, client)))
            .filter(|(kind, client)| !self.last_ok.iter().any(|(k, c, t)| k == kind && c == client && *t > since))
            .collect()
    }
}

/// Runs load of every kind over `server_buses` (one server each) and
/// `client_buses` (one client each), calls `kill` once traffic flows, and
/// checks the promises (see the module docs). Panics with the reasons if
/// one is broken; returns the measured cost otherwise.
///
/// ```no_run
/// use std::time::Duration;
/// use psrpc_test_support::topology::NatsCluster;
/// # async fn f(cluster: NatsCluster, servers: Vec<psrpc_core::SharedBus>, clients: Vec<psrpc_core::SharedBus>) {
/// let cluster = std::sync::Mutex::new(cluster);
/// let kill = || cluster.lock().unwrap().kill(0);
/// let report = psrpc_test_support::failover::calls_survive_a_failover(
///     servers, clients, kill, Duration::from_secs(2), Duration::from_secs(10),
/// )
/// .await;
/// println!("every kind worked again {:?} after the kill", report.recovery);
/// # }
/// ```
pub async fn calls_survive_a_failover(
    server_buses: Vec<SharedBus>,
    client_buses: Vec<SharedBus>,
    kill: impl FnOnce() + Send,
    timeout: Duration,
    recovery_bound: Duration,
) -> FailoverReport {
    let service = crate::unique_name("Failover");
    let handled: Arc<Mutex<HashSet<String>>> = Arc::default();
    let twice: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut servers = Vec::new();
    for bus in server_buses {
        let server = RpcServer::new(service.as_str(), bus, ServerOptions::default());
        let (handled, twice) = (Arc::clone(&handled), Arc::clone(&twice));
        let unary = move |ctx: RequestContext, p: Ping| {
            if !handled.lock().insert(p.text.clone()) {
                twice.lock().push(p.text.clone());
            }
            async move { Ok(Pong { text: p.text, server: ctx.server_id().into() }) }
        };
        server.register_unary(&UNARY, vec![], unary, None).await.expect("register unary");
        let multi =
            |ctx: RequestContext, p: Ping| async move { Ok(Pong { text: p.text, server: ctx.server_id().into() }) };
        server.register_unary(&MULTI, vec![], multi, None).await.expect("register multi");
        server.register_stream(&STREAM, vec![], echo_once, None).await.expect("register stream");
        servers.push(server);
    }
    let options = ClientOptions::default().timeout(timeout).selection_timeout(timeout / 2);
    let mut clients = Vec::new();
    for bus in client_buses {
        clients.push(RpcClient::new(service.as_str(), bus, options.clone()).await.expect("client"));
    }

    let tally = Arc::new(Mutex::new(Tally { clients: clients.len(), ..Tally::default() }));
    let (stop_tx, stop) = watch::channel(false);
    let mut loops = Vec::new();
    let server_count = servers.len();
    for (i, client) in clients.iter().enumerate() {
        for kind in [Kind::Unary, Kind::Multi, Kind::Stream] {
            let (client, tally, stop) = (client.clone(), Arc::clone(&tally), stop.clone());
            loops.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !*stop.borrow() {
                    n += 1;
                    let started = Instant::now();
                    // A call outliving its timeout by far is a hang: reported, not waited for.
                    let text = format!("{i}-{n}");
                    let Ok(outcome) = tokio::time::timeout(
                        kind.limit(timeout) * 2,
                        call(&client, kind, &text, timeout, server_count),
                    )
                    .await
                    else {
                        tally.lock().failures.push(format!("{kind:?} call {text} hung"));
                        continue;
                    };
                    let failed = outcome.is_err();
                    tally.lock().record(kind, i, started, outcome, timeout);
                    if failed {
                        // Refused calls return at once: pace the retries.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }));
        }
    }
    // Events: one server publishes, every client's subscription must hear.
    let mut subscriptions = Vec::new();
    for client in &clients {
        subscriptions.push(client.subscribe::<Pong>(&EVENTS, vec![]).await.expect("subscribe"));
    }
    for (i, mut sub) in subscriptions.into_iter().enumerate() {
        let (tally, stop) = (Arc::clone(&tally), stop.clone());
        loops.push(tokio::spawn(async move {
            while !*stop.borrow() {
                match tokio::time::timeout(Duration::from_millis(200), sub.recv()).await {
                    Ok(Some(_)) => tally.lock().record(Kind::Event, i, Instant::now(), Ok(()), timeout),
                    Ok(None) => return tally.lock().failures.push("a client subscription ended".into()),
                    Err(_) => {}
                }
            }
        }));
    }
    let publisher = servers[0].clone();
    let publishing = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            while !*stop.borrow() {
                tick.tick().await;
                let _ = publisher.publish(&EVENTS, vec![], &Pong::default()).await;
            }
        })
    };

    let started = Instant::now();
    wait_until(recovery_bound, || tally.lock().recovered_after(started).is_some()).await;
    assert!(tally.lock().recovered_after(started).is_some(), "every kind works before the kill");
    let killed_at = Instant::now();
    kill();
    wait_until(recovery_bound, || tally.lock().recovered_after(killed_at).is_some()).await;
    let recovered = tally.lock().recovered_after(killed_at);
    // Keep the load on a little longer: steady state after the recovery.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_tx.send_replace(true);
    for task in loops {
        task.await.expect("a load loop panicked");
    }
    publishing.abort();

    let tally = tally.lock();
    let mut failures = tally.failures.clone();
    let duplicates = twice.lock().clone();
    if !duplicates.is_empty() {
        failures.push(format!("queue requests handled twice: {duplicates:?}"));
    }
    match recovered {
        Some(at) => {
            let mut report = tally.report.clone();
            report.recovery = at - killed_at;
            assert!(failures.is_empty(), "{failures:#?}\n{report:?}");
            report
        }
        None => {
            let missing = tally.missing_after(killed_at);
            panic!(
                "{missing:?} (kind, client) did not recover within {recovery_bound:?}: {failures:#?}\n{:?}",
                tally.report
            )
        }
    }
}

/// One call of `kind`, checked; `timeout` is the client's call timeout, and
/// a multi call ends once all `servers` answered.
async fn call(client: &RpcClient, kind: Kind, text: &str, timeout: Duration, servers: usize) -> Result<(), Error> {
    let request = Ping { text: text.into(), delay_ms: 0 };
    match kind {
        Kind::Unary => {
            let reply =
                client.request_single::<Ping, Pong>(&UNARY, vec![], &request, RequestOptions::default()).await?;
            assert_eq!(reply.message.text, text);
        }
        Kind::Multi => {
            let options = RequestOptions::default().expected_responses(servers);
            let responses = client.request_multi::<Ping, Pong>(&MULTI, vec![], &request, options).await?;
            let all = responses.collect_all().await;
            if !all.iter().any(|r| r.result.is_ok()) {
                return Err(Error::new(ErrorCode::Unavailable, "no server answered the multi call"));
            }
        }
        Kind::Stream => {
            // A stream message has no timeout of its own (the stream lives
            // on while its peer does), and an echo published as the broker
            // failed over is lost: the echo may take what is left of the
            // exchange's limit.
            let limit = Instant::now() + Kind::Stream.limit(timeout);
            let mut stream = client.open_stream::<Ping, Pong>(&STREAM, vec![], RequestOptions::default()).await?;
            stream.send(&request).await?;
            let echo = tokio::time::timeout_at(limit, stream.recv())
                .await
                .map_err(|_| Error::new(ErrorCode::DeadlineExceeded, "no echo within the exchange's limit"))??
                .ok_or_else(|| Error::new(ErrorCode::Unavailable, "stream ended"))?;
            assert_eq!(echo.text, text);
            // The exchange is done; its close may take what is left of the
            // limit (a close still under way then is dropped with the stream).
            tokio::time::timeout_at(limit, stream.close(None)).await.unwrap_or(Ok(()))?;
        }
        Kind::Event => unreachable!("events are received, not called"),
    }
    Ok(())
}

async fn echo_once(mut stream: ServerStream<Pong, Ping>) -> Result<(), Error> {
    while let Some(ping) = stream.recv().await? {
        stream.send(&Pong { text: ping.text, server: String::new() }).await?;
    }
    Ok(())
}

/// Checks `done` every 20 ms for up to `limit` (the load loops have no
/// single event to await).
async fn wait_until(limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
