//! The client side of discovery: the live instances of every service, kept
//! from heartbeats, and queries to them.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use super::options::{MIN_HEARTBEAT_INTERVAL, RegistryOptions};
use super::wire::{self, MethodReport, Query, Report, State, Want};
use crate::error::{Error, ErrorCode};
use crate::info::MethodInfo;
use crate::metadata::from_unix_nanos;
use crate::transport::bus::{SharedBus, Subscription};
use crate::transport::frame;
use crate::transport::id;

/// One server's answer to [`Registry::ping`], with the round trip it took.
///
/// ```no_run
/// # async fn f(registry: psrpc::discovery::Registry) -> Result<(), psrpc::Error> {
/// let pongs = registry.ping("", std::time::Duration::from_millis(500)).await?;
/// let slowest = pongs.iter().map(|p| p.round_trip).max();
/// # let _ = slowest; Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Pong {
    /// What the server reported: its id, service, version, state.
    pub report: Report,
    /// From publishing the question to receiving this answer.
    pub round_trip: Duration,
}

/// One live server, as its last heartbeat (or answer) described it.
///
/// ```
/// # use psrpc::discovery::Instance;
/// fn describe(instance: &Instance) -> String {
///     let state = if instance.draining { "draining" } else { "serving" };
///     format!("{} {} v{} ({state}, {} methods)", instance.service, instance.server_id, instance.version, instance.methods.len())
/// }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Instance {
    /// The server id.
    pub server_id: String,
    /// Its service.
    pub service: String,
    /// The version it declared.
    pub version: String,
    /// When it started.
    pub started_at: SystemTime,
    /// The metadata it declared.
    pub metadata: HashMap<String, String>,
    /// Its methods, with kinds and the topics registered now.
    pub methods: Vec<MethodReport>,
    /// Whether it is shutting down (no new work should go to it).
    pub draining: bool,
    /// Its heartbeat interval.
    pub heartbeat_interval: Duration,
}

impl Instance {
    fn from_report(report: Report) -> Self {
        Instance {
            draining: report.state != State::Serving as i32,
            heartbeat_interval: Duration::from_millis(report.heartbeat_interval_ms).max(MIN_HEARTBEAT_INTERVAL),
            server_id: report.server_id,
            service: report.service,
            version: report.version,
            started_at: from_unix_nanos(report.started_at),
            metadata: report.metadata,
            methods: report.methods,
        }
    }

    /// Whether it serves `method` on `topics`.
    ///
    /// ```
    /// # use psrpc::discovery::Instance;
    /// fn serves_greet(instance: &Instance) -> bool {
    ///     instance.serves("Greet", &[])
    /// }
    /// ```
    pub fn serves(&self, method: &str, topics: &[String]) -> bool {
        self.methods.iter().any(|m| m.name == method && m.topics.iter().any(|t| t.parts == topics))
    }

    /// Whether it has `method` on any topics.
    fn has_method(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m.name == method)
    }
}

/// A change in the registry.
///
/// ```
/// use psrpc::discovery::RegistryEvent;
/// fn log(event: &RegistryEvent) {
///     match event {
///         RegistryEvent::Up(instance) => println!("up: {}", instance.server_id),
///         RegistryEvent::Changed(instance) => println!("changed: {}", instance.server_id),
///         RegistryEvent::Down { server_id, service } => println!("down: {service} {server_id}"),
///         _ => {}
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RegistryEvent {
    /// A server was seen for the first time.
    Up(Instance),
    /// A known server changed (methods, topics, draining).
    Changed(Instance),
    /// A server left (said so, or stopped heartbeating).
    Down {
        /// Its id.
        server_id: String,
        /// Its service.
        service: String,
    },
}

/// The live servers on a bus, kept from their heartbeats: a server is live
/// from its first heartbeat (or answer) until it says it is gone or nothing
/// came from it for two of its heartbeat intervals. Cheap to clone; clones
/// share state. Dropping the last clone stops it.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use psrpc::discovery::{Registry, RegistryOptions};
/// use psrpc::{RpcServer, ServerOptions, SharedBus};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let server = RpcServer::new("Greeter", bus.clone(), ServerOptions::default());
/// let registry = Registry::new(bus, RegistryOptions::default()).await?;
/// let up = registry.wait_for("Greeter", Duration::from_secs(1)).await?;
/// assert_eq!(up[0].server_id, server.id());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

#[derive(Debug)]
struct RegistryInner {
    id: String,
    bus: SharedBus,
    options: RegistryOptions,
    live: Mutex<HashMap<String, Live>>,
    events: broadcast::Sender<RegistryEvent>,
    /// Bumped on every change; `wait_for` and `gone` watch it.
    version: watch::Sender<u64>,
    queries: Mutex<HashMap<String, mpsc::UnboundedSender<Report>>>,
    /// Servers that said they are gone, and when.
    gone: Mutex<HashMap<String, Instant>>,
}

#[derive(Debug)]
struct Live {
    instance: Instance,
    expires: Instant,
}

/// Once a server announced it is gone, fail-early waits this share of its
/// heartbeat interval before failing the calls it still holds, so that a
/// response it sent just before leaving is not overtaken.
const GONE_GRACE_DIVISOR: u32 = 2;

impl Registry {
    /// Starts a registry on `bus`: subscribes to heartbeats and asks every
    /// server to introduce itself, returning once the answers that came
    /// within [`RegistryOptions::initial_sync`] are in.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use psrpc::discovery::{Registry, RegistryOptions};
    /// # async fn f(bus: psrpc::SharedBus) -> Result<(), psrpc::Error> {
    /// let registry = Registry::new(bus, RegistryOptions::default().initial_sync(Duration::from_millis(500))).await?;
    /// println!("{} servers on the bus", registry.all().len());
    /// # Ok(()) }
    /// ```
    pub async fn new(bus: SharedBus, options: RegistryOptions) -> Result<Self, Error> {
        let id = id::new_id("DSC_");
        let capacity = options.channel_capacity;
        let heartbeats = bus.subscribe(&wire::heartbeat_channel(), capacity).await?;
        let replies = bus.subscribe(&wire::reply_channel(&id), capacity).await?;
        let (events, _) = broadcast::channel(capacity);
        let (version, _) = watch::channel(0);
        let inner = Arc::new(RegistryInner {
            id,
            bus,
            options,
            live: Mutex::default(),
            events,
            version,
            queries: Mutex::default(),
            gone: Mutex::default(),
        });
        let dropped = inner.version.subscribe();
        tokio::spawn(run(Arc::downgrade(&inner), dropped, heartbeats, replies));
        let registry = Registry { inner };
        let sync = registry.inner.options.initial_sync;
        registry.query(Want::Info, "", sync).await?;
        Ok(registry)
    }

    /// The registry's id (`DSC_…`): answers to its queries go to its reply channel.
    ///
    /// ```no_run
    /// # async fn f(registry: psrpc::discovery::Registry) {
    /// assert!(registry.id().starts_with("DSC_"));
    /// # }
    /// ```
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The live instances of `service` (draining ones included), sorted by server id.
    ///
    /// ```no_run
    /// # async fn f(registry: psrpc::discovery::Registry) {
    /// for instance in registry.instances("Greeter") {
    ///     println!("{} {}", instance.server_id, instance.version);
    /// }
    /// # }
    /// ```
    pub fn instances(&self, service: &str) -> Vec<Instance> {
        let mut found: Vec<Instance> = self
            .inner
            .live
            .lock()
            .values()
            .filter(|l| l.instance.service == service)
            .map(|l| l.instance.clone())
            .collect();
        found.sort_by(|a, b| a.server_id.cmp(&b.server_id));
        found
    }

    /// Every live instance, sorted by service and server id.
    ///
    /// ```no_run
    /// # async fn f(registry: psrpc::discovery::Registry) {
    /// let services: std::collections::BTreeSet<_> = registry.all().into_iter().map(|i| i.service).collect();
    /// # }
    /// ```
    pub fn all(&self) -> Vec<Instance> {
        let mut found: Vec<Instance> = self.inner.live.lock().values().map(|l| l.instance.clone()).collect();
        found.sort_by(|a, b| (&a.service, &a.server_id).cmp(&(&b.service, &b.server_id)));
        found
    }

    /// One live instance by server id.
    ///
    /// ```no_run
    /// # async fn f(registry: psrpc::discovery::Registry) {
    /// let alive = registry.instance("SRV_abc").is_some();
    /// # }
    /// ```
    pub fn instance(&self, server_id: &str) -> Option<Instance> {
        self.inner.live.lock().get(server_id).map(|l| l.instance.clone())
    }

    /// Changes from now on: servers coming, changing and going. A receiver
    /// that falls behind by more than the channel capacity loses the oldest
    /// events (`RecvError::Lagged`); [`instances`](Self::instances) is always current.
    ///
    /// ```no_run
    /// use psrpc::discovery::RegistryEvent;
    /// # async fn f(registry: psrpc::discovery::Registry) {
    /// let mut events = registry.watch();
    /// while let Ok(event) = events.recv().await {
    ///     if let RegistryEvent::Down { server_id, .. } = event {
    ///         println!("{server_id} left");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn watch(&self) -> broadcast::Receiver<RegistryEvent> {
        self.inner.events.subscribe()
    }

    /// Waits until `service` has a live instance that is not draining, and
    /// returns its instances; fails `unavailable` after `timeout`. For a
    /// process that must start after its dependencies.
    ///
    /// ```no_run
    /// # async fn f(registry: psrpc::discovery::Registry) -> Result<(), psrpc::Error> {
    /// registry.wait_for("Storage", std::time::Duration::from_secs(30)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_for(&self, service: &str, timeout: Duration) -> Result<Vec<Instance>, Error> {
        let mut version = self.inner.version.subscribe();
        let wait = async {
            loop {
                let instances = self.instances(service);
                if instances.iter().any(|i| !i.draining) {
                    return instances;
                }
                if version.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| {
            Error::new(ErrorCode::Unavailable, format!("service {service} has no live server after {timeout:?}"))
        })
    }

    /// Asks the servers of `service` (every service when empty) for `want`
    /// and collects the answers that come within `timeout`; ends early once
    /// every live instance of `service` answered. Every answer also
    /// refreshes the registry.
    ///
    /// "Every live instance" means those this registry knows of when the
    /// query starts: a registry that has not heard from every server yet
    /// (one made with a short [`RegistryOptions::initial_sync`], just
    /// started) may end the query before a server it does not know
    /// answered. When a complete answer matters, give the registry an
    /// initial sync as long as the query's `timeout`.
    ///
    /// ```no_run
    /// use psrpc::discovery::wire::Want;
    /// # async fn f(registry: psrpc::discovery::Registry) -> Result<(), psrpc::Error> {
    /// for report in registry.query(Want::Stats, "Greeter", std::time::Duration::from_millis(500)).await? {
    ///     println!("{}: {:?}", report.server_id, report.stats);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn query(&self, want: Want, service: &str, timeout: Duration) -> Result<Vec<Report>, Error> {
        Ok(self.ask(want, service, timeout).await?.into_iter().map(|(report, _)| report).collect())
    }

    /// Pings the servers of `service` (every service when empty): each
    /// answer with the round trip from sending the question to receiving
    /// it. Ends as [`query`](Self::query) does.
    ///
    /// ```no_run
    /// # async fn f(registry: psrpc::discovery::Registry) -> Result<(), psrpc::Error> {
    /// for pong in registry.ping("Greeter", std::time::Duration::from_millis(500)).await? {
    ///     println!("{} answered in {:?}", pong.report.server_id, pong.round_trip);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn ping(&self, service: &str, timeout: Duration) -> Result<Vec<Pong>, Error> {
        let answers = self.ask(Want::Ping, service, timeout).await?;
        Ok(answers.into_iter().map(|(report, round_trip)| Pong { report, round_trip }).collect())
    }

    /// Publishes a query and collects the answers with their round trips,
    /// sorted by service and server id.
    async fn ask(&self, want: Want, service: &str, timeout: Duration) -> Result<Vec<(Report, Duration)>, Error> {
        let request_id = id::new_request_id();
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.inner.queries.lock().insert(request_id.clone(), tx);
        let _forget = Forget(&self.inner, &request_id);
        let expected: Vec<String> = match service {
            "" => Vec::new(),
            s => self.instances(s).into_iter().map(|i| i.server_id).collect(),
        };
        let query = Query {
            request_id: request_id.clone(),
            reply_to: self.inner.id.clone(),
            want: want as i32,
            service: service.to_owned(),
            server_id: String::new(),
        };
        let channel = wire::query_channel();
        let frame =
            frame::encode_frame(Query::TYPE_URL, &query, crate::outbound::local_name(&*self.inner.bus, &channel));
        let sent = tokio::time::Instant::now();
        crate::outbound::publish_frame(&*self.inner.bus, "discovery query", &channel, frame).await?;
        let mut reports: Vec<(Report, Duration)> = Vec::new();
        let deadline = crate::deadline::after(timeout);
        while let Ok(Some(report)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            reports.push((report, sent.elapsed()));
            if !expected.is_empty() && expected.iter().all(|id| reports.iter().any(|(r, _)| &r.server_id == id)) {
                break;
            }
        }
        reports.sort_by(|(a, _), (b, _)| (&a.service, &a.server_id).cmp(&(&b.service, &b.server_id)));
        Ok(reports)
    }

    /// Checks that a live, non-draining server of `service` serves `method`
    /// on `topics`: `unavailable` when the service has no live server or
    /// none serves the method on these topics, `unimplemented` when no
    /// server of the service has the method at all.
    ///
    /// ```no_run
    /// # use psrpc::{MethodInfo, MethodKind, Selection};
    /// # static GREET: MethodInfo = MethodInfo::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// # async fn f(registry: psrpc::discovery::Registry) -> Result<(), psrpc::Error> {
    /// registry.check("Greeter", &GREET, &[])?;
    /// # Ok(()) }
    /// ```
    pub fn check(&self, service: &str, method: &MethodInfo, topics: &[String]) -> Result<(), Error> {
        let live = self.serving(service);
        if live.is_empty() {
            return Err(Error::new(ErrorCode::Unavailable, format!("service {service} has no live server")));
        }
        if !live.iter().any(|i| i.has_method(&method.name)) {
            let message = format!("service {service} has no method {} (live servers: {})", method.name, live.len());
            return Err(Error::new(ErrorCode::Unimplemented, message));
        }
        if !live.iter().any(|i| i.serves(&method.name, topics)) {
            let message = format!("no live server of {service} serves {} on topics {topics:?}", method.name);
            return Err(Error::new(ErrorCode::Unavailable, message));
        }
        Ok(())
    }

    /// The ids of the live, non-draining servers of `service` that serve
    /// `method` on `topics`, sorted.
    ///
    /// ```no_run
    /// # async fn f(registry: psrpc::discovery::Registry) {
    /// let servers = registry.servers_of("Greeter", "Greet", &[]);
    /// # }
    /// ```
    pub fn servers_of(&self, service: &str, method: &str, topics: &[String]) -> Vec<String> {
        self.serving(service).into_iter().filter(|i| i.serves(method, topics)).map(|i| i.server_id).collect()
    }

    /// Bumped on every change of the live instances (up, changed, down):
    /// what was read from the registry at one version is current until
    /// the next.
    pub(crate) fn version(&self) -> u64 {
        *self.inner.version.borrow()
    }

    /// The ids of the live, non-draining servers of `service` that serve
    /// `method` on `topics` and take its claimed requests on their own
    /// channels (native servers), sorted.
    pub(crate) fn direct_servers_of(&self, service: &str, method: &str, topics: &[String]) -> Vec<String> {
        let live = self.inner.live.lock();
        let direct = live.values().map(|l| &l.instance).filter(|i| {
            i.service == service
                && !i.draining
                && i.methods.iter().any(|m| m.name == method && m.direct && m.topics.iter().any(|t| t.parts == topics))
        });
        let mut ids: Vec<String> = direct.map(|i| i.server_id.clone()).collect();
        ids.sort();
        ids
    }

    /// The live instances of `service` that take new work.
    fn serving(&self, service: &str) -> Vec<Instance> {
        self.instances(service).into_iter().filter(|i| !i.draining).collect()
    }

    /// Resolves with `unavailable` once `server_id` stopped heartbeating
    /// (two of its intervals of silence) or a grace period after it said it
    /// is gone; never resolves for a server this registry does not know
    /// (a Go psrpc server, which sends no heartbeats).
    pub(crate) async fn gone(&self, server_id: &str) -> Error {
        let mut version = self.inner.version.subscribe();
        let interval = match self.instance(server_id) {
            Some(i) => i.heartbeat_interval,
            None => return std::future::pending().await,
        };
        loop {
            if self.instance(server_id).is_none() {
                break;
            }
            if version.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
        let said_gone = self.inner.said_gone(server_id);
        if said_gone {
            tokio::time::sleep(interval / GONE_GRACE_DIVISOR).await;
        }
        Error::new(ErrorCode::Unavailable, format!("server {server_id} stopped heartbeating while handling the call"))
    }
}

/// Forgets a query's reply route when the query ends.
struct Forget<'a>(&'a RegistryInner, &'a str);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.queries.lock().remove(self.1);
    }
}

impl RegistryInner {
    fn notify(&self, event: RegistryEvent) {
        let _ = self.events.send(event);
        self.version.send_modify(|v| *v += 1);
    }

    /// Takes a report from a heartbeat or an answer.
    fn take(&self, report: Report) {
        let gone = report.state == State::Gone as i32;
        let server_id = report.server_id.clone();
        if gone {
            self.gone.lock().insert(server_id.clone(), Instant::now());
            let removed = self.live.lock().remove(&server_id);
            if let Some(live) = removed {
                self.notify(RegistryEvent::Down { server_id, service: live.instance.service });
            }
            return;
        }
        let mut instance = Instance::from_report(report);
        let expires = Instant::now() + instance.heartbeat_interval * 2;
        let event = {
            let mut live = self.live.lock();
            match live.get_mut(&server_id) {
                Some(known) => {
                    known.expires = expires;
                    // Answers to pings and stats carry no methods: keep the known ones.
                    if instance.methods.is_empty() {
                        instance.methods = known.instance.methods.clone();
                    }
                    (known.instance != instance).then(|| {
                        known.instance = instance.clone();
                        RegistryEvent::Changed(instance)
                    })
                }
                None => {
                    live.insert(server_id, Live { instance: instance.clone(), expires });
                    Some(RegistryEvent::Up(instance))
                }
            }
        };
        if let Some(event) = event {
            self.notify(event);
        }
    }

    /// Removes servers whose heartbeats stopped; the next expiry.
    fn expire(&self, now: Instant) -> Option<Instant> {
        let expired: Vec<Live> = {
            let mut live = self.live.lock();
            let ids: Vec<String> = live.iter().filter(|(_, l)| l.expires <= now).map(|(id, _)| id.clone()).collect();
            ids.iter().filter_map(|id| live.remove(id)).collect()
        };
        for l in expired {
            self.notify(RegistryEvent::Down { server_id: l.instance.server_id, service: l.instance.service });
        }
        self.live.lock().values().map(|l| l.expires).min()
    }

    fn said_gone(&self, server_id: &str) -> bool {
        let mut gone = self.gone.lock();
        gone.retain(|_, at| at.elapsed() < GONE_MEMORY);
        gone.contains_key(server_id)
    }
}

/// How long the registry remembers that a server said it is gone.
const GONE_MEMORY: Duration = Duration::from_secs(60);

/// Takes heartbeats and answers until the registry is dropped (`dropped`
/// then reports its sender gone) or the bus closes.
async fn run(
    inner: Weak<RegistryInner>,
    mut dropped: watch::Receiver<u64>,
    mut heartbeats: Subscription,
    mut replies: Subscription,
) {
    let mut next_expiry: Option<Instant> = None;
    loop {
        let expiry = async {
            match next_expiry {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let frame = tokio::select! {
            changed = dropped.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return,
            },
            frame = heartbeats.recv() => frame,
            frame = replies.recv() => frame,
            () = expiry => {
                let Some(inner) = inner.upgrade() else { return };
                next_expiry = inner.expire(Instant::now());
                continue;
            }
        };
        let Some(inner) = inner.upgrade() else { return };
        let frame = match frame {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "psrpc discovery: registry lost frames");
                continue;
            }
            None => return,
        };
        let Some(report) = decode_report(frame) else { continue };
        if !report.request_id.is_empty() {
            let route = inner.queries.lock().get(&report.request_id).cloned();
            if let Some(route) = route {
                let _ = route.send(report.clone());
            }
        }
        inner.take(report);
        next_expiry = inner.expire(Instant::now());
    }
}

fn decode_report(frame: bytes::Bytes) -> Option<Report> {
    let msg = frame::decode_frame(frame).ok().filter(|m| m.type_url == Report::TYPE_URL)?;
    <Report as prost::Message>::decode(msg.value).ok()
}
