//! The server side of discovery: heartbeats and answers to queries.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

use super::options::DiscoveryOptions;
use super::stats::StatsObserver;
use super::wire::{self, MethodReport, Query, Report, State, Topics, Want};
use crate::info::{MethodInfo, RpcInfo};
use crate::metadata::unix_nanos;
use crate::options::ServerOptions;
use crate::server::engine::{ServerHook, ServerInner, ServerState};
use crate::transport::bus::Subscription;
use crate::transport::channel::Channel;
use crate::transport::frame;
use crate::wire_mode::WireMode;

/// What a server tells the bus about itself: its state, its methods and
/// their statistics. Held by the server as its [`ServerHook`]; the
/// responder task reads it.
#[derive(Debug)]
pub(crate) struct Presence {
    options: DiscoveryOptions,
    started_at: SystemTime,
    state: watch::Sender<State>,
    /// Method and topics by registry key, recorded as registration starts
    /// and forgotten on deregistration; reported while the server's registry
    /// holds the key (a registration that failed is never reported).
    catalog: Mutex<HashMap<String, (MethodInfo, Vec<String>)>>,
    stats: Option<Arc<StatsObserver>>,
    /// The server's wire mode: native servers take sampled claims.
    wire_mode: WireMode,
}

impl Presence {
    /// The presence a server with `options` keeps; when discovery is on, the
    /// server's observer becomes the statistics observer (which passes every
    /// report on to the user's observer).
    pub(crate) fn new(options: &mut ServerOptions) -> Self {
        let discovery = options.discovery.clone();
        let stats = discovery.enabled.then(|| {
            let stats = StatsObserver::new(options.observer.take());
            options.observer = Some(Arc::clone(&stats) as _);
            stats
        });
        let (state, _) = watch::channel(State::Serving);
        let wire_mode = options.wire_mode;
        Presence {
            options: discovery,
            started_at: SystemTime::now(),
            state,
            catalog: Mutex::default(),
            stats,
            wire_mode,
        }
    }

    /// Whether the server takes part in discovery.
    fn enabled(&self) -> bool {
        self.stats.is_some()
    }

    /// Records `method` on `topics` under its registry key.
    fn record(&self, key: &str, method: &MethodInfo, topics: &[String]) {
        if self.stats.is_some() {
            self.catalog.lock().insert(key.to_owned(), (method.clone(), topics.to_vec()));
        }
    }

    /// Forgets the method and topics under `key` (deregistered).
    fn forget(&self, key: &str) {
        self.catalog.lock().remove(key);
    }

    /// Moves to `state` (never back from `Gone`).
    fn set(&self, state: State) {
        self.state.send_if_modified(|now| {
            let change = *now != state && *now != State::Gone;
            if change {
                *now = state;
            }
            change
        });
    }
}

impl ServerHook for Presence {
    fn registering(&self, key: &str, method: &MethodInfo, topics: &[String]) {
        self.record(key, method, topics);
    }

    fn deregistered(&self, key: &str) {
        self.forget(key);
    }

    fn state_changed(&self, state: ServerState) {
        self.set(match state {
            ServerState::Draining => State::Draining,
            ServerState::Gone => State::Gone,
        });
    }

    fn direct_channel(&self, info: &RpcInfo) -> Option<Channel> {
        self.enabled().then(|| wire::sticky_channel(&info.service, &info.method, &info.topics))
    }
}

/// The server and its presence, as the responder task holds them: it ends
/// once the server is gone.
#[derive(Clone)]
struct Followed {
    server: Weak<ServerInner>,
    presence: Weak<Presence>,
}

impl Followed {
    fn upgrade(&self) -> Option<(Arc<ServerInner>, Arc<Presence>)> {
        Some((self.server.upgrade()?, self.presence.upgrade()?))
    }
}

/// Starts answering queries and sending heartbeats for `server` (whose
/// hook is `presence`), if its discovery is enabled and a tokio runtime is
/// running (a server created outside a runtime is not announced).
pub(crate) fn spawn(server: &Arc<ServerInner>, presence: &Arc<Presence>) {
    if presence.stats.is_none() || tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let state = presence.state.subscribe();
    let changes = server.registry.changes();
    let followed = Followed { server: Arc::downgrade(server), presence: Arc::downgrade(presence) };
    tokio::spawn(run(followed, state, changes));
}

/// The least time a registration waits for the heartbeat that announces it,
/// so that a burst of registrations is announced together.
const CHANGE_WINDOW: Duration = Duration::from_millis(10);

/// How many times a report's build time a change heartbeat waits: building
/// a report walks every registered method and topic, so a server
/// registering many topics one after another spends at most about 1/20 of
/// its time on change heartbeats, however many topics it holds.
const CHANGE_WINDOW_PER_BUILD: u32 = 20;

/// How long a change waits before its heartbeat: [`CHANGE_WINDOW`], or
/// [`CHANGE_WINDOW_PER_BUILD`] times the last report's build time, at most
/// the heartbeat interval.
fn change_window(build: Duration, interval: Duration) -> Duration {
    build.saturating_mul(CHANGE_WINDOW_PER_BUILD).clamp(CHANGE_WINDOW, interval.max(CHANGE_WINDOW))
}

async fn run(server: Followed, mut state: watch::Receiver<State>, mut changes: watch::Receiver<u64>) {
    let Some(queries) = subscribe_queries(&server.server).await else { return };
    let mut queries = Some(queries);
    let interval = match server.presence.upgrade() {
        Some(presence) => presence.options.heartbeat_interval,
        None => return,
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // When a registry change is due in a heartbeat, and the last report's build time.
    let (mut due, mut build): (Option<Instant>, Duration) = (None, Duration::ZERO);
    loop {
        let change_due = async move {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = state.changed() => {
                let gone = changed.is_err() || *state.borrow_and_update() == State::Gone;
                (due, build) = (None, announce(&server, &mut changes).await);
                if gone {
                    return;
                }
            }
            changed = changes.changed(), if due.is_none() => match changed {
                Ok(()) => due = Some(Instant::now() + change_window(build, interval)),
                Err(_) => return,
            },
            () = change_due => (due, build) = (None, announce(&server, &mut changes).await),
            _ = ticks.tick() => (due, build) = (None, announce(&server, &mut changes).await),
            frame = next(&mut queries) => match frame {
                Some(Ok(frame)) => answer(&server, frame).await,
                Some(Err(e)) => tracing::debug!(error = %e, "psrpc discovery: query frames lost"),
                None => queries = None,
            },
        }
    }
}

async fn next(sub: &mut Option<Subscription>) -> Option<Result<bytes::Bytes, crate::BusError>> {
    match sub {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

async fn subscribe_queries(server: &Weak<ServerInner>) -> Option<Subscription> {
    let server = server.upgrade()?;
    match server.bus.subscribe(&wire::query_channel(), server.options.channel_capacity).await {
        Ok(sub) => Some(sub),
        Err(e) => {
            tracing::warn!(error = %e, service = %server.service, "psrpc discovery: queries not subscribed");
            None
        }
    }
}

/// Sends a heartbeat, which announces every registry change so far: a
/// change due in a later heartbeat is one made from here on.
async fn announce(server: &Followed, changes: &mut watch::Receiver<u64>) -> Duration {
    changes.borrow_and_update();
    heartbeat(server).await
}

/// Publishes the server's report; returns how long building it took.
async fn heartbeat(server: &Followed) -> Duration {
    let Some((server, presence)) = server.upgrade() else { return Duration::ZERO };
    let started = std::time::Instant::now();
    let report = report(&server, &presence, "", Want::Info);
    let build = started.elapsed();
    publish(&server, &wire::heartbeat_channel(), &report).await;
    build
}

async fn answer(server: &Followed, frame: bytes::Bytes) {
    let Some((server, presence)) = server.upgrade() else { return };
    let query = match frame::decode_frame(frame) {
        Ok(msg) if msg.type_url == Query::TYPE_URL => match <Query as prost::Message>::decode(msg.value) {
            Ok(q) => q,
            Err(e) => return tracing::debug!(error = %e, "psrpc discovery: skipping malformed query"),
        },
        Ok(_) => return,
        Err(e) => return tracing::debug!(error = %e, "psrpc discovery: skipping malformed query"),
    };
    let mine = (query.service.is_empty() || query.service == *server.service)
        && (query.server_id.is_empty() || query.server_id == *server.id);
    if !mine || query.reply_to.is_empty() {
        return;
    }
    let want = Want::try_from(query.want).unwrap_or(Want::Ping);
    let report = report(&server, &presence, &query.request_id, want);
    publish(&server, &wire::reply_channel(&query.reply_to), &report).await;
}

/// The server's report for `want`.
fn report(server: &ServerInner, presence: &Presence, request_id: &str, want: Want) -> Report {
    let mut report = Report {
        request_id: request_id.to_owned(),
        server_id: server.id.to_string(),
        service: server.service.to_string(),
        version: presence.options.version.clone(),
        started_at: unix_nanos(presence.started_at),
        sent_at: unix_nanos(SystemTime::now()),
        metadata: presence.options.metadata.clone(),
        heartbeat_interval_ms: presence.options.heartbeat_interval.as_millis().try_into().unwrap_or(u64::MAX),
        state: *presence.state.borrow() as i32,
        ..Default::default()
    };
    match want {
        Want::Ping => {}
        Want::Info => report.methods = methods(server, presence),
        Want::Stats => {
            if let Some(stats) = &presence.stats {
                report.stats = stats.snapshot(|method| server.registry.in_flight_of(method) as u64);
            }
        }
    }
    report
}

/// The methods registered now, each with its topic lists, sorted by name.
fn methods(server: &ServerInner, presence: &Presence) -> Vec<MethodReport> {
    let catalog = presence.catalog.lock();
    let registered = catalog.iter().filter(|(key, _)| server.registry.contains(key)).map(|(_, entry)| entry);
    let mut by_name: BTreeMap<&str, MethodReport> = BTreeMap::new();
    for (method, topics) in registered {
        let entry = by_name.entry(&method.name).or_insert_with(|| MethodReport {
            name: method.name.to_string(),
            kind: wire::kind_name(method.kind),
            topics: Vec::new(),
            direct: presence.wire_mode.samples_claims(method),
        });
        entry.topics.push(Topics { parts: topics.clone() });
    }
    let mut methods: Vec<MethodReport> = by_name.into_values().collect();
    for m in &mut methods {
        m.topics.sort_by(|a, b| a.parts.cmp(&b.parts));
    }
    methods
}

async fn publish(server: &ServerInner, channel: &Channel, report: &Report) {
    let frame = frame::encode_frame(Report::TYPE_URL, report, crate::outbound::local_name(&*server.bus, channel));
    if let Err(e) = crate::outbound::publish_frame(&*server.bus, "discovery report", channel, frame).await {
        tracing::debug!(error = %e, service = %server.service, "psrpc discovery: report not sent");
    }
}
