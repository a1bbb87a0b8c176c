//! psrpc-bus-redis: the Redis message bus, wire-compatible with Go psrpc v0.7–v0.8.
//!
//! Frames are `PUBLISH`ed on a channel's **Legacy** name; frames carry no
//! routing key. Each bus holds two connections (redis-rs `ConnectionManager`s,
//! which reconnect by themselves; on a cluster, a cluster connection
//! publishes, and the subscriber is one node's connection with classic
//! pub/sub or a cluster connection with sharded pub/sub):
//!
//! - a **subscriber** connection speaking RESP3, whose pushes a reader task
//!   dispatches to local subscribers without ever waiting on one of them
//!   (a full subscriber buffer drops that frame for that subscriber only,
//!   reported as a [`BusErrorKind::SlowConsumer`] report); after a
//!   reconnect it resubscribes every channel by itself;
//! - a **publisher** connection, written by one task of the bus: it sends
//!   every publish and claim queued meanwhile as one pipeline (many per
//!   round trip under load), in the order they were queued; each publish
//!   resolves when Redis answered it, and a failure reaches its caller as
//!   [`BusErrorKind::Unavailable`]. On a Redis Cluster, whose pipelines
//!   may not span slots, publishes go one by one on the cluster
//!   connection instead.
//!
//! **Outages fail fast**: once the bus learns a connection is lost (redis-rs
//! reports the disconnection, or a command fails with a connection error),
//! every publish, claim and queue lock (publisher connection) or subscribe
//! (subscriber connection) fails at once with [`BusErrorKind::Unavailable`]
//! until a background `PING` gets through again (retried every 50 ms,
//! backing off to 1 s), so callers never wait on the reconnect. Any single
//! publish or subscribe is bounded as well: one that has not completed
//! within [`RedisBusOptions::response_timeout`] (default 3 s), e.g. on a
//! connection that stopped answering without closing, fails with
//! [`BusErrorKind::Unavailable`]. On a Redis Cluster at most 64 commands
//! (publishes, claims, queue locks) wait for Redis at once, and a command's
//! timeout starts when its turn comes: a burst of calls waits for turns
//! (within each call's own deadline) instead of failing while Redis answers
//! everything it is sent.
//!
//! **Queues across processes**: every subscribed process receives a queue
//! frame; a process delivers it (to one local queue subscriber, round robin)
//! only if it takes the frame's queue lock, `SET <base64(sha256(frame))>
//! <value> EX 5 NX`, as Go psrpc does. The value names the bus and the
//! attempt, and the command also returns the key's previous value (`GET`),
//! so the bus can tell whether it holds the lock: when the reply is late or lost
//! it reads the key (for up to 4.5 s) instead of dropping the frame, and
//! each frame is handled by exactly one process however slowly Redis
//! answers. Across a lost connection (Redis restarted, or failed over) a
//! frame is handled at most once: a process whose connection was lost
//! after the frame arrived only reads the key. That runs off the reader
//! task. For claimed requests (`subscribe_queue_claimed`) every process
//! hands the frame to a local subscriber at once and the same lock runs in
//! one Lua script with the claim's `PUBLISH` (`publish_claim`): only the
//! process that wins the key claims, exactly as with Go servers on the
//! same queue, and the call costs no round trip for the lock. Where scripts
//! are refused (an ACL without `EVALSHA`, scripting disabled) the bus falls
//! back to the lock, then `PUBLISH`, from then on.
//!
//! **Subscribe means ready**: `subscribe` returns once Redis confirmed the
//! `SUBSCRIBE`.
//!
//! **Topologies**: one server (`redis://`), a master named by Sentinels
//! (`redis+sentinel://…`, [`RedisBus::connect_sentinel`]: the bus follows
//! failovers by itself, the moment the Sentinels announce them) or a Redis Cluster (`redis+cluster://…`,
//! [`RedisBus::connect_cluster`]: classic pub/sub by default, sharded pub/sub
//! on request, see [`ClusterPubSub`]). `docs/DEPLOYMENT.md` tells how each
//! behaves under failover and what it costs.
//!
//! **Limits**: the bus refuses frames over [`RedisBusOptions::max_frame_size`]
//! (default 1 MiB, NATS's default, so that one huge frame cannot stall a
//! shared connection and code behaves alike on both brokers) or over the
//! server's `proto-max-bulk-len` (512 MiB by default; read at connect),
//! whichever is smaller, with [`BusErrorKind::FrameTooLarge`]
//! (`resource_exhausted`, naming the frame's size, the limit, what sets it
//! and the channel) before anything is sent: Redis would close the
//! connection on a larger bulk. `docs/DEPLOYMENT.md` tells how to raise
//! both. Channel names longer than
//! [`MAX_CHANNEL_NAME_LEN`] (64 KiB)
//! are refused with [`BusErrorKind::InvalidChannel`] before anything is sent.
//!
//! Connections set `TCP_NODELAY` (redis-rs leaves it off, which adds up to
//! 40 ms of delayed-ACK latency to small frames). `rediss://` (TLS, rustls
//! with the system roots) and `redis://user:password@host` (ACL) URLs pass
//! through.
//!
//! **Namespaces**: `?namespace=NS` on any bus URL, or
//! [`RedisBusOptions::namespace`], puts every channel the bus uses under
//! `NS|` (`NS|Svc|M|REQ`), and every queue lock key too, so deployments in
//! different namespaces share a Redis without seeing each other's traffic
//! (docs/WIRE.md section 14).
//!
//! ```no_run
//! # async fn demo() -> Result<(), psrpc_protocol::BusError> {
//! let bus = psrpc_bus_redis::RedisBus::connect("redis://127.0.0.1:6379", Default::default()).await?;
//! let staging = psrpc_bus_redis::RedisBus::connect("redis://127.0.0.1:6379?namespace=staging", Default::default()).await?;
//! # Ok(()) }
//! ```

mod bulk_limit;
mod cluster_node;
mod conn;
mod endpoint;
mod link;
mod queue;
mod sentinel_watch;
mod settle;
mod subscribers;
mod tap;
mod url;
mod writer;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use psrpc_protocol::bus::{BusError, BusErrorKind, MAX_CHANNEL_NAME_LEN, MessageBus, Subscription, check_channel_len};
use psrpc_protocol::channel::Channel;
use psrpc_protocol::frame_limit::{FrameLimit, check_frame_size};
use psrpc_protocol::namespace::{Namespace, channel_redis_name};
use psrpc_protocol::tap::{TapSubscription, TapsEnd};
use redis::{IntoConnectionInfo as _, PushInfo, PushKind};
use tokio::sync::mpsc;

use bulk_limit::BulkLimit;
use endpoint::{ClusterTarget, Endpoint, SentinelTarget, Target};

pub use endpoint::ClusterPubSub;
use link::{Link, Ping};
use queue::QueueLocks;
use sentinel_watch::SentinelWatch;
use settle::Failure;
use subscribers::{Membership, Subscribers};
use writer::Publisher;

/// Options of a [`RedisBus`]: private fields set by the builders below
/// (the one options style of psrpc-rs); `Debug` shows the values.
///
/// ```
/// use std::time::Duration;
/// use psrpc_bus_redis::RedisBusOptions;
/// let options = RedisBusOptions::default().max_frame_size(4 << 20).response_timeout(Duration::from_secs(1));
/// assert!(format!("{options:?}").contains("max_frame_size: 4194304"));
/// ```
#[derive(Clone, Debug)]
pub struct RedisBusOptions {
    /// Largest frame this bus publishes.
    max_frame_size: usize,
    /// How long a publish or subscribe may take, waiting for the
    /// connection included, before it fails with
    /// [`BusErrorKind::Unavailable`]; also each connection attempt's limit.
    /// A queue lock or claim whose reply takes longer is checked (the key
    /// read) for up to 4.5 s in all (see the crate docs).
    /// On a Redis Cluster the time of a publish, claim or queue lock counts
    /// from its turn to send (at most 64 commands wait for Redis at once).
    response_timeout: Duration,
    /// The prefix of every channel and key (none: Go-compatible names).
    namespace: Option<Namespace>,
}

impl Default for RedisBusOptions {
    fn default() -> Self {
        RedisBusOptions { max_frame_size: 1024 * 1024, response_timeout: Duration::from_secs(3), namespace: None }
    }
}

impl RedisBusOptions {
    /// Sets the largest frame this bus publishes (default 1 MiB); a larger
    /// one is refused with `resource_exhausted` before anything is sent. The
    /// server's `proto-max-bulk-len`, read at connect, caps it (see the
    /// crate docs).
    ///
    /// ```
    /// let options = psrpc_bus_redis::RedisBusOptions::default().max_frame_size(64 * 1024);
    /// assert!(format!("{options:?}").contains("max_frame_size: 65536"));
    /// ```
    #[must_use]
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets how long a publish, subscribe or connection attempt may take
    /// (default 3 s); stored as given.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc_bus_redis::RedisBusOptions::default().response_timeout(Duration::from_millis(500));
    /// assert!(format!("{options:?}").contains("response_timeout: 500ms"));
    /// ```
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Puts every channel and queue lock key of the bus in `namespace`:
    /// `<ns>|` + the Go-compatible name (default: no namespace; see
    /// docs/WIRE.md section 14). A `namespace` parameter of the URL given to
    /// [`RedisBus::connect`] must then name the same namespace.
    ///
    /// ```
    /// let options = psrpc_bus_redis::RedisBusOptions::default().namespace("blue".parse().unwrap());
    /// assert!(format!("{options:?}").contains("Namespace(\"blue\")"));
    /// ```
    #[must_use]
    pub fn namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = Some(namespace);
        self
    }
}

/// The Redis bus. Cheap to clone; clones share connections.
///
/// Through the `psrpc` facade (feature `redis`) it is `psrpc::redis::RedisBus`.
///
/// ```no_run
/// use std::sync::Arc;
/// use psrpc_bus_redis::RedisBus;
/// use psrpc_core::options::ServerOptions;
/// use psrpc_core::{RpcServer, SharedBus};
/// # async fn demo() -> Result<(), psrpc_protocol::Error> {
/// let bus: SharedBus = Arc::new(RedisBus::connect("redis://127.0.0.1:6379", Default::default()).await?);
/// let server = RpcServer::new("Greeter", bus, ServerOptions::default());
/// # let _ = server; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus").field("options", &self.inner.options).finish()
    }
}

struct Inner {
    options: RedisBusOptions,
    /// The largest frame published, and what sets it (see `bulk_limit`).
    limit: BulkLimit,
    endpoint: Arc<Endpoint>,
    /// Where publishes go.
    publisher: Arc<Publisher>,
    /// The publisher connection's state.
    publisher_link: Arc<Link>,
    subscribers: Arc<Subscribers>,
    locks: Arc<QueueLocks>,
    closed: AtomicBool,
    /// Set by `close`: taps end (see the `tap` module).
    taps_end: TapsEnd,
    /// Behind Sentinels: the listeners for master switches (stopped on
    /// close or drop).
    watch: parking_lot::Mutex<Option<SentinelWatch>>,
}

impl RedisBus {
    /// Connects to `url`: one server (`redis://`, `rediss://`, optionally
    /// with ACL `user:password@`), the master a set of Sentinels names
    /// (`redis+sentinel://[user:password@]host:port[,host:port…]/master[/db]`,
    /// credentials and database being the data nodes'; see
    /// [`connect_sentinel`](Self::connect_sentinel)), or a Redis Cluster
    /// (`redis+cluster://[user:password@]host:port[,host:port…]`; see
    /// [`connect_cluster`](Self::connect_cluster)). `rediss+sentinel://` and
    /// `rediss+cluster://` use TLS to every node and Sentinel. Query
    /// parameters give what these URLs cannot: `tls_ca`, `tls_cert` and
    /// `tls_key` (PEM files: a private CA, a client certificate),
    /// `tls_insecure=true`, `sentinel_username` and `sentinel_password` (the
    /// Sentinels' own credentials), `pubsub=sharded` (a cluster's frames on
    /// sharded channels), `namespace=NS` (the bus's namespace, see
    /// [`RedisBusOptions::namespace`]).
    ///
    /// Fails with [`BusErrorKind::Transport`] when the URL is not one of
    /// these (the message shows it with its passwords replaced by `***`),
    /// with [`BusErrorKind::Unavailable`] when Redis cannot be reached.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), psrpc_protocol::BusError> {
    /// use psrpc_bus_redis::RedisBus;
    /// let one = RedisBus::connect("redis://127.0.0.1:6379", Default::default()).await?;
    /// let ha = RedisBus::connect("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/mymaster", Default::default()).await?;
    /// let tls = RedisBus::connect(
    ///     "rediss+sentinel://app:s3cret@10.0.0.1:26379/mymaster?sentinel_password=s3ntinel&tls_ca=/etc/redis/ca.pem",
    ///     Default::default(),
    /// ).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str, mut options: RedisBusOptions) -> Result<Self, BusError> {
        let bad_url = |why: String| {
            BusError::with_source(BusErrorKind::Transport, format!("bad Redis URL {}: {why}", url::redacted(url)))
        };
        let (target, namespace) = url::parse(url).map_err(bad_url)?;
        if let Some(named) = namespace {
            if let Some(given) = options.namespace.as_ref().filter(|given| **given != named) {
                return Err(bad_url(format!("namespace {named} differs from the namespace {given} of the options")));
            }
            options.namespace = Some(named);
        }
        Self::start(target, options).await
    }

    /// The namespace of the bus's channels and keys, if any.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), psrpc_protocol::BusError> {
    /// let bus = psrpc_bus_redis::RedisBus::connect("redis://127.0.0.1:6379?namespace=blue", Default::default()).await?;
    /// assert_eq!(bus.namespace().map(|ns| ns.as_str()), Some("blue"));
    /// # Ok(()) }
    /// ```
    pub fn namespace(&self) -> Option<&Namespace> {
        self.inner.options.namespace.as_ref()
    }

    /// The Redis name of `channel` in the bus's namespace, checked.
    fn name_of(&self, channel: &Channel) -> Result<Arc<str>, BusError> {
        let name = channel_redis_name(self.inner.options.namespace.as_ref(), channel);
        check_channel_len(&name, MAX_CHANNEL_NAME_LEN)?;
        Ok(name)
    }

    /// Connects to the master named `master` by the Sentinels at
    /// `sentinels` (`host:port` each), and follows it across failovers:
    /// when a connection to it is lost, or the Sentinels announce a new
    /// master (`+switch-master`, listened to on every Sentinel), the bus
    /// asks the Sentinels again and, once they name a new master whose
    /// failover is over, moves its publisher and
    /// subscriber connections there and resubscribes every channel. Calls
    /// made meanwhile fail at once with [`BusErrorKind::Unavailable`].
    /// `node` carries the data nodes' credentials, database and TLS
    /// settings, `sentinel` the Sentinels' own credentials and TLS settings
    /// (their addresses are ignored; a TLS client with a private CA or a
    /// client certificate comes from `redis::Client::build_with_tls`).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use redis::IntoConnectionInfo as _;
    /// let node = "redis://app:s3cret@placeholder:6379".into_connection_info()?;
    /// let sentinel = "redis://:s3ntinel@placeholder:26379".into_connection_info()?;
    /// let bus = psrpc_bus_redis::RedisBus::connect_sentinel(
    ///     &["10.0.0.1:26379", "10.0.0.2:26379"], "mymaster", node, sentinel, Default::default(),
    /// ).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_sentinel(
        sentinels: &[&str],
        master: &str,
        node: redis::ConnectionInfo,
        sentinel: redis::ConnectionInfo,
        options: RedisBusOptions,
    ) -> Result<Self, BusError> {
        let sentinels = sentinels.iter().map(|s| (*s).to_owned()).collect();
        let target = SentinelTarget::new(sentinels, master.to_owned(), node, sentinel);
        Self::start(Target::Sentinel(Box::new(target)), options).await
    }

    /// Connects to a Redis Cluster through `seeds` (connection infos of
    /// some of its nodes; the rest is learnt from them). Frames travel by
    /// classic pub/sub (Go-compatible) or sharded pub/sub, as `pubsub`
    /// says (see [`ClusterPubSub`]). The connection follows slot moves
    /// and failovers and resubscribes by itself; queue locks go to the node
    /// of their key's slot. `rediss://` seeds make every connection TLS
    /// with the system roots; a private CA or a client certificate is given
    /// by the URL form's `tls_…` parameters (see [`connect`](Self::connect)).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use psrpc_bus_redis::{ClusterPubSub, RedisBus};
    /// use redis::IntoConnectionInfo as _;
    /// let seeds = vec!["redis://10.0.0.1:7000".into_connection_info()?, "redis://10.0.0.2:7000".into_connection_info()?];
    /// let bus = RedisBus::connect_cluster(seeds, ClusterPubSub::Classic, Default::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_cluster(
        seeds: Vec<redis::ConnectionInfo>,
        pubsub: ClusterPubSub,
        options: RedisBusOptions,
    ) -> Result<Self, BusError> {
        Self::start(Target::Cluster(ClusterTarget { seeds, pubsub, certificates: None }), options).await
    }

    /// Uses an existing client (its connection info, with RESP3 and
    /// `TCP_NODELAY` switched on).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let bus = psrpc_bus_redis::RedisBus::from_client(client, Default::default()).await?;
    /// # let _ = bus; Ok(()) }
    /// ```
    pub async fn from_client(client: redis::Client, options: RedisBusOptions) -> Result<Self, BusError> {
        let info = client.get_connection_info().clone().into_connection_info().map_err(unavailable)?;
        Self::start(Target::Direct(info), options).await
    }

    async fn start(target: Target, options: RedisBusOptions) -> Result<Self, BusError> {
        let sentinels = match &target {
            Target::Sentinel(sentinels) => Some(sentinels.clone()),
            _ => None,
        };
        let (endpoint, subscriber, pushes) =
            Endpoint::connect(target, options.response_timeout).await.map_err(connect_error)?;
        let limit = bulk_limit::learn(&mut endpoint.publisher(), options.max_frame_size).await;
        let endpoint = Arc::new(endpoint);
        let publisher_link = Link::new("publisher");
        let locks = Arc::new(QueueLocks::new(
            Arc::clone(&endpoint),
            Arc::clone(&publisher_link),
            options.response_timeout,
            options.namespace.clone(),
        ));
        let publisher = Arc::new(Publisher::start(Arc::clone(&endpoint)));
        let subscribers = Subscribers::start(
            subscriber,
            Arc::clone(&endpoint),
            pushes.subscriber,
            Arc::clone(&publisher_link),
            Arc::clone(&publisher),
            Arc::clone(&locks),
            options.response_timeout,
        );
        let inner = Arc::new(Inner {
            options,
            limit,
            endpoint,
            publisher,
            publisher_link,
            subscribers,
            locks,
            closed: AtomicBool::new(false),
            taps_end: TapsEnd::default(),
            watch: parking_lot::Mutex::new(None),
        });
        tokio::spawn(watch_publisher(Arc::downgrade(&inner), pushes.publisher));
        if let Some(sentinels) = sentinels {
            let follow = follow_master(Arc::downgrade(&inner));
            *inner.watch.lock() = Some(SentinelWatch::start(&sentinels, inner.options.response_timeout, follow));
        }
        Ok(RedisBus { inner })
    }

    fn check_open(&self) -> Result<(), BusError> {
        if self.inner.closed.load(Ordering::Acquire) { Err(BusError::closed()) } else { Ok(()) }
    }

    /// Runs `command` on the publisher connection: fails at once while the
    /// connection is down; `command` bounds its own wait for Redis (see
    /// [`settle::within`]), which starts at its turn to send (see the
    /// `writer` module).
    /// A Redis `NOPERM` fails with [`BusErrorKind::PermissionDenied`]
    /// naming `channel`.
    async fn on_publisher<T>(
        &self,
        channel: &str,
        command: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, BusError> {
        let link = &self.inner.publisher_link;
        let down = || Err(BusError::unavailable("the connection to Redis is down"));
        if link.is_down() {
            return down();
        }
        let _turn = self.inner.publisher.turn().await;
        if link.is_down() {
            return down();
        }
        match command.await {
            Ok(value) => Ok(value),
            Err(Failure::Redis(e)) => {
                self.inner.publisher_link.check(&e, || publisher_ping(Arc::downgrade(&self.inner)));
                Err(refused(e, "publish to", channel))
            }
            Err(Failure::NoAnswer(limit)) => {
                Err(BusError::unavailable(format!("no answer from Redis within {limit:?}")))
            }
        }
    }

    /// Adds a local subscriber of `channel` taking frames as `membership` says.
    fn join<'a>(
        &'a self,
        channel: &'a Channel,
        capacity: usize,
        membership: Membership,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        Box::pin(async move {
            self.check_open()?;
            let name = self.name_of(channel)?;
            self.inner.subscribers.join(&name, capacity, membership).await
        })
    }
}

fn unavailable(e: redis::RedisError) -> BusError {
    BusError::with_source(BusErrorKind::Unavailable, e)
}

/// Why the first connection failed, saying whether a server refused the
/// credentials or the TLS handshake failed. Redis's replies name no
/// password, so neither does the message.
fn connect_error(e: redis::RedisError) -> BusError {
    let what = match refusal(&e) {
        Some(Refusal::Authentication) => "Redis authentication failed (user or password refused)",
        Some(Refusal::Tls) => {
            "Redis TLS failed (a certificate not signed by the trusted CA, or no client certificate where one is required)"
        }
        None => return unavailable(e),
    };
    BusError::unavailable(format!("{what}: {e}"))
}

/// What kind of refusal ended a connection attempt.
#[derive(Debug, PartialEq)]
enum Refusal {
    Authentication,
    Tls,
}

fn refusal(e: &redis::RedisError) -> Option<Refusal> {
    if e.kind() == redis::ErrorKind::AuthenticationFailed || matches!(e.code(), Some("WRONGPASS" | "NOAUTH")) {
        return Some(Refusal::Authentication);
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = cause {
        let inner = error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        if error.is::<rustls::Error>() || inner.is_some_and(|e| e.is::<rustls::Error>()) {
            return Some(Refusal::Tls);
        }
        cause = error.source();
    }
    // A cluster's (and the Sentinel path's) first connection reports its
    // nodes' errors as text.
    let text = e.to_string();
    if ["WRONGPASS", "NOAUTH", "authentication failed"].iter().any(|m| text.contains(m)) {
        Some(Refusal::Authentication)
    } else if ["certificate", "Certificate", "handshake"].iter().any(|m| text.contains(m)) {
        Some(Refusal::Tls)
    } else {
        None
    }
}

/// The error of a command on `channel` that Redis refused: a `NOPERM`
/// (the ACL does not allow the channel or the command) is
/// [`BusErrorKind::PermissionDenied`] naming the channel; anything else
/// [`BusErrorKind::Unavailable`].
pub(crate) fn refused(e: redis::RedisError, what: &str, channel: &str) -> BusError {
    match e.kind() {
        redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm) => {
            BusError::permission_denied(format!("Redis refused to {what} channel {channel}: {e}"))
        }
        _ => unavailable(e),
    }
}

/// A `PING` on the publisher connection, for its [`Link`], after moving
/// it to a new master if there is one.
fn publisher_ping(inner: Weak<Inner>) -> Ping {
    Box::new(move || {
        let endpoint = Arc::clone(&inner.upgrade()?.endpoint);
        Some(Box::pin(async move {
            endpoint.follow_publisher().await?;
            endpoint.publisher().ping().await
        }))
    })
}

/// Moves the bus's connections to the master at `host:port` (announced by
/// the Sentinels) if they are elsewhere: each such connection counts as
/// lost, and its link's revive moves it (see [`sentinel_watch`]).
fn follow_master(inner: Weak<Inner>) -> sentinel_watch::Follow {
    Arc::new(move |master: String| {
        let inner = inner.clone();
        Box::pin(async move {
            let Some(strong) = inner.upgrade() else { return false };
            if strong.endpoint.publisher_node() != master {
                strong.publisher_link.lost(publisher_ping(Arc::downgrade(&strong)));
            }
            let subscribers = Arc::clone(&strong.subscribers);
            drop(strong);
            subscribers.follow_master(&master).await;
            true
        })
    })
}

/// Marks the publisher connection down when redis-rs reports it lost.
async fn watch_publisher(inner: Weak<Inner>, mut pushes: mpsc::UnboundedReceiver<PushInfo>) {
    while let Some(push) = pushes.recv().await {
        if push.kind == PushKind::Disconnection {
            let Some(strong) = inner.upgrade() else { return };
            strong.publisher_link.lost(publisher_ping(Arc::downgrade(&strong)));
        }
    }
}

impl MessageBus for RedisBus {
    fn publish<'a>(&'a self, channel: &'a Channel, frame: Bytes) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            self.check_open()?;
            let name = self.name_of(channel)?;
            check_frame_size(self, "frame", channel, frame.len())?;
            let timeout = self.inner.options.response_timeout;
            self.on_publisher(&name, settle::within(timeout, self.inner.publisher.publish(&name, &frame))).await
        })
    }

    fn subscribe<'a>(&'a self, channel: &'a Channel, capacity: usize) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.join(channel, capacity, Membership::Plain)
    }

    fn subscribe_queue<'a>(
        &'a self,
        channel: &'a Channel,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.join(channel, capacity, Membership::Queue)
    }

    fn subscribe_queue_claimed<'a>(
        &'a self,
        channel: &'a Channel,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.join(channel, capacity, Membership::ClaimedQueue)
    }

    fn publish_claim<'a>(
        &'a self,
        queued: &'a Bytes,
        channel: &'a Channel,
        frame: Bytes,
    ) -> BoxFuture<'a, Result<bool, BusError>> {
        Box::pin(async move {
            self.check_open()?;
            let name = self.name_of(channel)?;
            check_frame_size(self, "frame", channel, frame.len())?;
            let publisher = &self.inner.publisher;
            self.on_publisher(&name, self.inner.locks.publish_claim(publisher, queued, &name, &frame)).await
        })
    }

    /// A `PSUBSCRIBE` to `Svc|*` on a connection of the tap's own (see
    /// the crate's `tap` module); ready when it returns. Tapped frames carry
    /// their Legacy channel name. Fails with `Unsupported` on sharded
    /// pub/sub.
    fn tap<'a>(&'a self, service: &'a str, capacity: usize) -> BoxFuture<'a, Result<TapSubscription, BusError>> {
        Box::pin(self.start_tap(service, capacity))
    }

    fn max_frame_size(&self) -> usize {
        self.inner.limit.bytes
    }

    fn frame_limit(&self, channel: &Channel) -> FrameLimit {
        let name = channel_redis_name(self.inner.options.namespace.as_ref(), channel);
        FrameLimit::new(self.inner.limit.origin, format!("channel {name}"))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.closed.store(true, Ordering::Release);
            self.inner.taps_end.end();
            drop(self.inner.watch.lock().take());
            if !self.inner.publisher_link.is_down() {
                let _ = tokio::time::timeout(self.inner.options.response_timeout, self.inner.publisher.flush()).await;
            }
            self.inner.subscribers.close().await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Refusal, refusal};

    #[test]
    fn refusals_are_told_apart_from_other_failures() {
        let auth = redis::RedisError::from((redis::ErrorKind::AuthenticationFailed, "auth"));
        assert_eq!(refusal(&auth), Some(Refusal::Authentication));
        let rustls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(refusal(&redis::RedisError::from(rustls)), Some(Refusal::Tls));
        let cluster = redis::RedisError::from((
            redis::ErrorKind::Io,
            "Failed to create initial connections",
            "\"WRONGPASS\": invalid username-password pair".to_owned(),
        ));
        assert_eq!(refusal(&cluster), Some(Refusal::Authentication));
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        assert_eq!(refusal(&redis::RedisError::from(refused)), None);
        let text = super::connect_error(auth).to_string();
        assert!(text.starts_with("message bus unavailable: Redis authentication failed"), "{text}");
    }
}
