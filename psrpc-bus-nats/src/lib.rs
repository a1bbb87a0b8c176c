//! psrpc-bus-nats: the NATS message bus, wire-compatible with Go psrpc v0.7–v0.8.
//!
//! Frames are published to a channel's **Server** name (`SRV.…`/`CLI.…`) and
//! carry its **Local** name in `Msg.channel`. All channels of one subject share
//! one NATS subscription per bus (queue group `bus` for queue channels); a
//! router task delivers each frame to the local subscribers of its Local name —
//! one of them (round robin) for queue channels, all of them otherwise.
//!
//! - **No head-of-line blocking**: the router never waits on a subscriber; a
//!   full subscriber buffer drops that frame for that subscriber only, reported
//!   as a [`BusErrorKind::SlowConsumer`] report.
//! - **Subscribe means ready**, cluster-wide: `subscribe` returns after a
//!   server round trip on the same connection (a token published to the
//!   bus's private probe subject comes back), so the server has processed
//!   the `SUB` before any later publish from any connection; and, on a
//!   cluster, after every node the bus can reach has seen the token too
//!   (through one witness connection per node), which proves the node knows
//!   the subscription. `flush()` alone only empties the client's write
//!   buffer. The design and its cost are described in `docs/DEPLOYMENT.md`.
//!   A subscribe that the server does not confirm (in 5 s) fails and leaves
//!   nothing behind: its NATS subscription is dropped at once, so it is not
//!   sent again on a reconnect.
//! - **Publishing** queues the frame for the bus's publishing task and
//!   returns (waiting only while 1,024 frames are already queued); the task
//!   hands the frames queued at about the same time to the client together,
//!   so the connection writes them in one system call. Frames keep the order
//!   in which they were published; [`close`](MessageBus::close) sends what
//!   is queued before it returns, and a bus dropped without `close` still
//!   sends it (for up to 5 s) before its connection ends.
//! - **Permissions**: NATS refuses a publish or subscription its user may
//!   not make asynchronously (a `-ERR 'Permissions Violation…'` on the
//!   connection, no reply to the command). A bus made with
//!   [`connect`](NatsBus::connect) watches the connection for these reports
//!   and verifies by a server round trip the first publish to each subject
//!   and each new subscription: a refused one fails with
//!   [`BusErrorKind::PermissionDenied`] naming the subject, and the
//!   connection, its other subjects and calls carry on. Later publishes to
//!   an accepted subject go out without waiting. Every violation is also
//!   logged as a warning naming the subject, and counted
//!   ([`NatsBus::permission_violations`]). The design, its one race and its
//!   cost are in the `permissions` module's docs.
//! - **Outages**: async-nats reconnects and resubscribes by itself; while the
//!   connection is down, publishes and new subscribes fail at once with
//!   [`BusErrorKind::Unavailable`].
//! - **Limits**: frames larger than the server's `max_payload` (1 MiB by
//!   default, learnt from the server's `INFO` and kept current across
//!   reconnects) fail at once with [`BusErrorKind::FrameTooLarge`]
//!   (`resource_exhausted`, naming the frame's size, the limit and the
//!   subject) and are never sent: the server would close the connection
//!   on them. `docs/DEPLOYMENT.md` tells how to raise the limit. Channels whose subject breaks the
//!   server's rules (longer than [`MAX_SUBJECT_LEN`], whitespace, empty or
//!   wildcard tokens) fail with [`BusErrorKind::InvalidChannel`] before
//!   anything is sent (an oversized line would make the server close the
//!   connection, taking every channel down with it).
//!
//! **Shared queue subjects** (a property of the Go wire protocol): all queue
//! channels of one service and topic share the subject `SRV.Svc[.topics].Q`
//! and the queue group `bus`, so NATS hands each frame to one *process* among
//! all that subscribe any queue method of that service. A process that
//! serves only some of those methods drops frames meant for the others (the
//! caller sees `unavailable`). Deploy processes that serve the same set of
//! queue methods per service, or put queue subscriptions in a service of
//! their own — as with Go psrpc.
//!
//! **Clusters**: give several URLs separated by commas; the client also
//! learns the servers the cluster announces, reconnects to a surviving node
//! when its node dies and resubscribes there.
//!
//! ```no_run
//! # async fn demo() -> Result<(), psrpc_protocol::BusError> {
//! let bus = psrpc_bus_nats::NatsBus::connect("nats://127.0.0.1:4222", Default::default()).await?;
//! let cluster = psrpc_bus_nats::NatsBus::connect(
//!     "nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222",
//!     Default::default(),
//! )
//! .await?;
//! # Ok(()) }
//! ```
//! Credentials and TLS pass through [`ConnectOptions`] (user/password,
//! token, nkey, creds file, TLS roots and client certificates), or through
//! the URL (`user:password@`, `token@`, `?creds=`, `?nkey=`, `?tls_ca=`,
//! `?tls_cert=`/`?tls_key=`, `?tls_required=true`; see
//! [`NatsBus::connect`]).
//!
//! **Namespaces**: `?namespace=NS` on the URL, or
//! [`NatsBus::connect_with_namespace`], puts every subject of the bus under
//! `NS.` (`NS.SRV.Svc…`, `NS.CLI.…`) and its queue subscriptions in the
//! group `NS.bus`, so deployments in different namespaces share a NATS
//! server without seeing each other's traffic (docs/WIRE.md section 14).
//! The subject length limit counts the prefix.

mod outbox;
mod permissions;
mod probe;
mod reconnect;
mod router;
mod subject;
mod subjects;
mod tap;
mod url_auth;
mod url_namespace;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::Subject;
use async_nats::connection::State;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use psrpc_protocol::bus::{BusError, BusErrorKind, MessageBus, Subscription};
use psrpc_protocol::channel::Channel;
use psrpc_protocol::frame_limit::{FrameLimit, check_frame_size};
use psrpc_protocol::namespace::{Namespace, channel_nats_subject, nats_queue_group};
use psrpc_protocol::tap::{TapSubscription, TapsEnd};

pub use async_nats::ConnectOptions;
pub use reconnect::{MAX_RECONNECT_DELAY, reconnect_delay};
pub use subject::{MAX_CONTROL_LINE, MAX_SUBJECT_LEN};

use outbox::Outbox;
use permissions::{Mark, Operation, Permissions, Verdict};
use probe::{Probe, ProbeOptions, Reach};
use router::Router;
use subjects::PublishSubjects;
use url_auth::UrlAuth;

/// How long [`MessageBus::close`] waits for the broker to take what is
/// still buffered.
const CLOSE_FLUSH: Duration = Duration::from_secs(1);

/// The NATS bus. Cheap to clone; clones share one connection and its routers.
///
/// Through the `psrpc` facade (feature `nats`) it is `psrpc::nats::NatsBus`.
///
/// ```no_run
/// use std::sync::Arc;
/// use psrpc_bus_nats::NatsBus;
/// use psrpc_core::options::ClientOptions;
/// use psrpc_core::{RpcClient, SharedBus};
/// # async fn demo() -> Result<(), psrpc_protocol::Error> {
/// let bus: SharedBus = Arc::new(NatsBus::connect("nats://127.0.0.1:4222", Default::default()).await?);
/// let client = RpcClient::new("Greeter", bus, ClientOptions::default()).await?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct NatsBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: async_nats::Client,
    /// The prefix of every subject (none: Go-compatible subjects).
    namespace: Option<Namespace>,
    /// The queue group of queue subscriptions (`bus`, or `<ns>.bus`).
    queue_group: String,
    /// Where `publish` queues frames for the client (see `outbox`).
    outbox: Outbox,
    /// The subjects `publish` sends on.
    subjects: PublishSubjects,
    probe: Probe,
    /// The permission violations the server reported (a bus made with
    /// `connect`: it set the connection's event callback).
    permissions: Option<Arc<Permissions>>,
    routers: Mutex<HashMap<Arc<str>, Arc<Router>>>,
    /// Routers whose task (and so NATS subscription) is running.
    live_routers: Arc<AtomicUsize>,
    /// Serializes subscription changes, so a router is created (and confirmed) once.
    subscribing: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    /// Set by `close`: taps end (see the `tap` module).
    taps_end: TapsEnd,
}

impl NatsBus {
    /// Connects to `url` with `options`. Credentials in the URL pass through:
    /// `nats://user:password@host:4222`, or `nats://token@host:4222`; query
    /// parameters name the files of the other forms: `creds=FILE` (a
    /// `.creds` file), `nkey=FILE` (a user nkey seed), `tls_ca=FILE`,
    /// `tls_cert=FILE&tls_key=FILE` (a private CA, a client certificate;
    /// PEM) and `tls_required=true`. Any other parameter is refused.
    /// `namespace=NS` puts the bus in a namespace (see
    /// [`connect_with_namespace`](Self::connect_with_namespace)); a bad one
    /// fails with [`BusErrorKind::Transport`].
    /// Several servers of one cluster are separated by commas
    /// (`nats://a:4222,nats://b:4222`); the bus connects to one of them,
    /// learns the others the cluster announces, and makes `subscribe`
    /// ready on all of them (see the crate docs).
    ///
    /// After losing its server the connection tries again at once, then
    /// at most [`MAX_RECONNECT_DELAY`] apart ([`reconnect_delay`]; this
    /// replaces the options' `reconnect_delay_callback`: to keep your own,
    /// connect by hand and use [`from_client`](Self::from_client)).
    /// The options' `event_callback` is replaced too, by the bus's: it
    /// records the permission violations the server reports, so that a
    /// refused publish or subscribe fails with
    /// [`BusErrorKind::PermissionDenied`] naming the subject (see the crate
    /// docs). async-nats logs every event through `tracing` still.
    ///
    /// Fails with [`BusErrorKind::Transport`] on a malformed URL or an
    /// unreadable file, and with [`BusErrorKind::Unavailable`] when the
    /// server cannot be reached, refuses the credentials ("NATS
    /// authentication failed") or fails the TLS handshake ("NATS TLS
    /// failed") — at once, without retrying; and with
    /// [`BusErrorKind::PermissionDenied`] when the user may not use the
    /// bus's readiness probe subject (`NS._PSRPC.ready.*`, which `psrpc
    /// permissions` allows: a user of another namespace). No message
    /// repeats a secret.
    ///
    /// ```no_run
    /// use psrpc_bus_nats::{ConnectOptions, NatsBus};
    /// # async fn demo() -> Result<(), psrpc_protocol::BusError> {
    /// let options = ConnectOptions::new().name("orders-service");
    /// let bus = NatsBus::connect("nats://orders:secret@nats.internal:4222", options).await?;
    /// let mtls = NatsBus::connect(
    ///     "nats://nats.internal:4222?creds=/etc/nats/orders.creds&tls_ca=/etc/nats/ca.pem&tls_cert=/etc/nats/client.pem&tls_key=/etc/nats/client-key.pem",
    ///     ConnectOptions::new(),
    /// )
    /// .await?;
    /// # let _ = (bus, mtls); Ok(()) }
    /// ```
    pub async fn connect(url: &str, options: ConnectOptions) -> Result<Self, BusError> {
        Self::connect_in(url, options, None).await
    }

    /// Connects as [`connect`](Self::connect) does, with every subject in
    /// `namespace` (docs/WIRE.md section 14). A `namespace` parameter of
    /// the URL must then name the same namespace.
    ///
    /// ```no_run
    /// use psrpc_bus_nats::NatsBus;
    /// # async fn demo() -> Result<(), psrpc_protocol::BusError> {
    /// let namespace = "staging".parse().expect("a valid namespace");
    /// let bus = NatsBus::connect_with_namespace("nats://127.0.0.1:4222", Default::default(), namespace).await?;
    /// assert_eq!(bus.namespace().map(|ns| ns.as_str()), Some("staging"));
    /// // Same as NatsBus::connect("nats://127.0.0.1:4222?namespace=staging", …)
    /// # Ok(()) }
    /// ```
    pub async fn connect_with_namespace(
        url: &str,
        options: ConnectOptions,
        namespace: Namespace,
    ) -> Result<Self, BusError> {
        Self::connect_in(url, options, Some(namespace)).await
    }

    async fn connect_in(
        url: &str,
        options: ConnectOptions,
        mut namespace: Option<Namespace>,
    ) -> Result<Self, BusError> {
        let mut addresses = Vec::new();
        let mut options = options.reconnect_delay_callback(reconnect_delay);
        let mut auth = UrlAuth::default();
        let bad = |why: String| BusError::with_source(BusErrorKind::Transport, format!("bad NATS URL: {why}"));
        for one in url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            // As async-nats reads an address without a scheme (`user:pass@host:4222`),
            // so that its credentials leave it too (async-nats logs addresses).
            let one = match one.contains("://") {
                true => std::borrow::Cow::Borrowed(one),
                false => std::borrow::Cow::Owned(format!("nats://{one}")),
            };
            let (one, named) = url_namespace::take_namespace(&one).map_err(bad)?;
            if let Some(named) = named {
                if let Some(given) = namespace.as_ref().filter(|given| **given != named) {
                    return Err(bad(format!("namespace {named} differs from the namespace {given} given")));
                }
                namespace = Some(named);
            }
            let mut parsed = url::Url::parse(&one).map_err(|e| bad(e.to_string()))?;
            options = url_auth::credentials_from_url(&mut parsed, options);
            auth.take(&mut parsed).map_err(bad)?;
            url_auth::refuse_unknown(&parsed).map_err(bad)?;
            addresses.push(parsed.to_string());
        }
        let options = auth.apply(options).await?;
        let permissions = Arc::new(Permissions::default());
        let client = permissions.watch(options.clone()).connect(addresses.as_slice()).await.map_err(connect_error)?;
        let cluster = ProbeOptions { options, seeds: addresses };
        Self::start(client, Some(cluster), namespace, Some(permissions)).await
    }

    /// Uses an existing connection. `subscribe` is then ready on that
    /// connection's server; for readiness across a cluster use
    /// [`connect`](Self::connect), which knows how to reach every node.
    /// The bus cannot see the permission violations the server reports
    /// (they go to the connection's event callback, set by its maker): a
    /// publish the server refuses is dropped (the call ends at its
    /// deadline), and a refused subscription receives nothing.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
    /// let bus = psrpc_bus_nats::NatsBus::from_client(client.clone()).await?;
    /// # let _ = bus; Ok(()) }
    /// ```
    pub async fn from_client(client: async_nats::Client) -> Result<Self, BusError> {
        Self::start(client, None, None, None).await
    }

    /// Uses an existing connection, as [`from_client`](Self::from_client),
    /// with every subject in `namespace`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
    /// let bus = psrpc_bus_nats::NatsBus::from_client_with_namespace(client, "blue".parse()?).await?;
    /// # let _ = bus; Ok(()) }
    /// ```
    pub async fn from_client_with_namespace(
        client: async_nats::Client,
        namespace: Namespace,
    ) -> Result<Self, BusError> {
        Self::start(client, None, Some(namespace), None).await
    }

    async fn start(
        client: async_nats::Client,
        cluster: Option<ProbeOptions>,
        namespace: Option<Namespace>,
        permissions: Option<Arc<Permissions>>,
    ) -> Result<Self, BusError> {
        let probe = Probe::start(&client, cluster, namespace.as_ref(), permissions.clone()).await?;
        Ok(NatsBus {
            inner: Arc::new(Inner {
                outbox: Outbox::start(client.clone()),
                subjects: PublishSubjects::default(),
                client,
                queue_group: nats_queue_group(namespace.as_ref()),
                namespace,
                probe,
                permissions,
                routers: Mutex::new(HashMap::new()),
                live_routers: Arc::default(),
                subscribing: tokio::sync::Mutex::new(()),
                closed: AtomicBool::new(false),
                taps_end: TapsEnd::default(),
            }),
        })
    }

    /// The underlying connection.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), psrpc_protocol::BusError> {
    /// let bus = psrpc_bus_nats::NatsBus::connect("nats://127.0.0.1:4222", Default::default()).await?;
    /// println!("connected to {}", bus.client().server_info().server_name);
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// The namespace of the bus's subjects, if any.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), psrpc_protocol::BusError> {
    /// let bus = psrpc_bus_nats::NatsBus::connect("nats://127.0.0.1:4222?namespace=blue", Default::default()).await?;
    /// assert_eq!(bus.namespace().map(|ns| ns.as_str()), Some("blue"));
    /// # Ok(()) }
    /// ```
    pub fn namespace(&self) -> Option<&Namespace> {
        self.inner.namespace.as_ref()
    }

    /// The subject of `channel` in the bus's namespace, checked.
    fn subject_of(&self, channel: &Channel) -> Result<Arc<str>, BusError> {
        let subject = channel_nats_subject(self.inner.namespace.as_ref(), channel);
        subject::check(&subject)?;
        Ok(subject)
    }

    /// The subject `frame` is published on, once the frame and the bus
    /// may be published.
    fn publishable(&self, channel: &Channel, frame: &Bytes) -> Result<Subject, BusError> {
        let subject = self.inner.subjects.get(self.inner.namespace.as_ref(), channel)?;
        check_frame_size(self, "frame", channel, frame.len())?;
        self.check_ready()?;
        Ok(subject)
    }

    /// How many NATS subscriptions this bus holds for its channels: one per
    /// subject in use (channels sharing a subject share it). The bus's own
    /// readiness-probe subscription is not counted. Useful to check that
    /// subscriptions end with their last subscriber.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), psrpc_protocol::BusError> {
    /// use psrpc_protocol::MessageBus;
    /// use psrpc_protocol::channel;
    ///
    /// let bus = psrpc_bus_nats::NatsBus::connect("nats://127.0.0.1:4222", Default::default()).await?;
    /// let sub = bus.subscribe(&channel::response_channel("Svc", "CLI_a"), 16).await?;
    /// assert_eq!(bus.subject_subscriptions(), 1);
    /// drop(sub); // unsubscribes (the count follows once the router task ended)
    /// # Ok(()) }
    /// ```
    pub fn subject_subscriptions(&self) -> usize {
        self.inner.live_routers.load(Ordering::Acquire)
    }

    /// How many cluster nodes `subscribe` waits for besides its own
    /// connection: one witness connection per node the bus knows (the
    /// URLs it was given and the servers the cluster announced). Zero for
    /// a bus made with [`from_client`](Self::from_client).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), psrpc_protocol::BusError> {
    /// let bus = psrpc_bus_nats::NatsBus::connect("nats://10.0.0.1:4222,nats://10.0.0.2:4222", Default::default()).await?;
    /// assert!(bus.readiness_witnesses() >= 2);
    /// # Ok(()) }
    /// ```
    pub fn readiness_witnesses(&self) -> usize {
        self.inner.probe.witnesses()
    }

    /// How many permission violations the server reported on the bus's
    /// connection: refused publishes and subscriptions (each also logged
    /// as a warning naming the subject). Always 0 for a bus made with
    /// [`from_client`](Self::from_client), which cannot see them.
    ///
    /// A server whose user may not publish a response or claim sees its
    /// publish fail with [`BusErrorKind::PermissionDenied`] (it logs the
    /// response or claim as not sent) and counts it here; its caller, whom
    /// the broker cannot tell, ends without an answer.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), psrpc_protocol::BusError> {
    /// let bus = psrpc_bus_nats::NatsBus::connect("nats://127.0.0.1:4222", Default::default()).await?;
    /// assert_eq!(bus.permission_violations(), 0);
    /// # Ok(()) }
    /// ```
    pub fn permission_violations(&self) -> u64 {
        self.inner.permissions.as_ref().map_or(0, |p| p.count())
    }

    /// Where the violations of commands sent from now on begin.
    pub(crate) fn mark(&self) -> Mark {
        self.inner.permissions.as_ref().map_or_else(Mark::default, |p| p.mark())
    }

    /// Waits until the server processed every command sent before: a
    /// round trip reaching `reach`. When the bus watches permissions, also
    /// verifies that the server did not refuse `operation` on any of
    /// `subjects` (sent after `mark`): a second round trip on the bus's
    /// own server lets the report catch up (the `permissions` module's
    /// docs say why). The verdict names a refused subject.
    async fn verify(
        &self,
        reach: Reach,
        mark: Mark,
        operation: Operation,
        subjects: &[&str],
    ) -> Result<Verdict, BusError> {
        self.inner.probe.round_trip(&self.inner.client, reach).await?;
        let Some(permissions) = &self.inner.permissions else { return Ok(None) };
        let refusal = || subjects.iter().find_map(|subject| permissions.refusal(mark, operation, subject));
        if let Some(why) = refusal() {
            return Ok(Some(why));
        }
        self.inner.probe.round_trip(&self.inner.client, Reach::Own).await?;
        Ok(refusal())
    }

    /// [`verify`](Self::verify)s subscriptions to `subjects`, failing with
    /// [`BusErrorKind::PermissionDenied`] when the server refused one.
    pub(crate) async fn confirm_subscriptions(&self, mark: Mark, subjects: &[&str]) -> Result<(), BusError> {
        match self.verify(Reach::Everywhere, mark, Operation::Subscribe, subjects).await? {
            Some(why) => Err(BusError::permission_denied(why)),
            None => Ok(()),
        }
    }

    /// Refuses calls on a closed bus, and while the connection is down.
    fn check_ready(&self) -> Result<(), BusError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(BusError::closed());
        }
        if self.inner.client.connection_state() != State::Connected {
            return Err(BusError::unavailable("not connected to NATS"));
        }
        Ok(())
    }

    async fn join(&self, channel: &Channel, capacity: usize, queue: bool) -> Result<Subscription, BusError> {
        let subject = self.subject_of(channel)?;
        self.check_ready()?;
        let _serial = self.inner.subscribing.lock().await;
        let existing = self.inner.routers.lock().get(&subject).cloned();
        let (router, new) = match existing {
            Some(router) if router.queue() != queue => {
                return Err(BusError::with_source(
                    BusErrorKind::ModeMismatch,
                    format!("subject {subject} is subscribed in the other mode"),
                ));
            }
            Some(router) => (router, false),
            None => (Router::new(queue), true),
        };
        let weak = Arc::downgrade(&self.inner);
        let local = Arc::clone(&channel.local);
        let (sender, subscription) = Subscription::new(capacity, {
            let router = Arc::clone(&router);
            let local = Arc::clone(&local);
            let subject = Arc::clone(&subject);
            move || {
                if router.leave(&local)
                    && let Some(inner) = weak.upgrade()
                {
                    let mut routers = inner.routers.lock();
                    if routers.get(&subject).is_some_and(|r| Arc::ptr_eq(r, &router) && r.is_empty()) {
                        routers.remove(&subject);
                        router.stop();
                    }
                }
            }
        });
        // Joined before the router subscribes: frames arriving while the
        // subscription is being confirmed wait in `subscription`.
        router.join(local, sender);
        if new {
            let mark = self.mark();
            router
                .start(&self.inner.client, Arc::clone(&subject), &self.inner.queue_group, &self.inner.live_routers)
                .await?;
            // On failure (not confirmed, or refused) `subscription` and the
            // router (never registered) are dropped, unsubscribing.
            self.confirm_subscriptions(mark, &[&subject]).await?;
            self.inner.routers.lock().insert(subject, router);
        }
        Ok(subscription)
    }
}

/// Why the first connection failed, saying whether the server refused the
/// credentials or the TLS handshake failed (async-nats does not retry a
/// first connection: this comes back at once). Never repeats a secret:
/// async-nats's messages hold none.
fn connect_error(error: async_nats::ConnectError) -> BusError {
    use async_nats::ConnectErrorKind as Kind;
    let what = match error.kind() {
        Kind::AuthorizationViolation => "NATS authentication failed: the server refused the credentials",
        Kind::Authentication => "NATS authentication failed: the credentials could not sign the server's challenge",
        Kind::Tls => "NATS TLS failed",
        // A failed handshake reaches async-nats as an I/O error.
        Kind::Io if is_tls_failure(&error) => "NATS TLS failed (is the server's certificate signed by a trusted CA?)",
        _ => return BusError::unavailable(error),
    };
    BusError::unavailable(format!("{what}: {error}"))
}

/// Whether a rustls error is among `error`'s causes.
fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        let inner =
            error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).map(|e| e as &dyn std::error::Error);
        if error.is::<rustls::Error>() || inner.is_some_and(|e| e.is::<rustls::Error>()) {
            return true;
        }
        cause = error.source();
    }
    false
}

impl MessageBus for NatsBus {
    fn publish<'a>(&'a self, channel: &'a Channel, frame: Bytes) -> BoxFuture<'a, Result<(), BusError>> {
        let subject = match self.publishable(channel, &frame) {
            Ok(subject) => subject,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        // Only the first publish to a subject waits for the server's verdict.
        let Some(permissions) = self.inner.permissions.as_ref().filter(|p| !p.accepted(&subject)) else {
            return self.inner.outbox.publish(subject, frame);
        };
        let mark = permissions.mark();
        Box::pin(async move {
            let name: Arc<str> = Arc::from(&*subject);
            self.inner.outbox.publish(subject, frame).await?;
            let verify = async {
                self.inner.outbox.drained().await;
                self.verify(Reach::Own, mark, Operation::Publish, &[&name]).await
            };
            permissions.verify_publish(&name, verify).await
        })
    }

    fn subscribe<'a>(&'a self, channel: &'a Channel, capacity: usize) -> BoxFuture<'a, Result<Subscription, BusError>> {
        Box::pin(self.join(channel, capacity, false))
    }

    fn subscribe_queue<'a>(
        &'a self,
        channel: &'a Channel,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        Box::pin(self.join(channel, capacity, true))
    }

    /// Plain subscriptions to `SRV.Svc`, `SRV.Svc.>`, `SRVQ.Svc.>`, `SRVS.Svc.>` and
    /// `CLI.Svc.>` on the bus's connection, apart from its routers; ready
    /// (across the cluster) when it returns. A subject the server refuses
    /// fails it with [`BusErrorKind::PermissionDenied`] naming the subject. Tapped frames carry their
    /// subject as channel name.
    fn tap<'a>(&'a self, service: &'a str, capacity: usize) -> BoxFuture<'a, Result<TapSubscription, BusError>> {
        Box::pin(self.start_tap(service, capacity))
    }

    fn frames_carry_local_channel(&self) -> bool {
        true
    }

    fn max_frame_size(&self) -> usize {
        // An atomic read, kept current across reconnects (`server_info()`
        // would clone the whole INFO block on every publish).
        self.inner.client.max_payload()
    }

    fn frame_limit(&self, channel: &Channel) -> FrameLimit {
        let subject = channel_nats_subject(self.inner.namespace.as_ref(), channel);
        FrameLimit::new("the NATS server's max_payload", format!("subject {subject}"))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.closed.store(true, Ordering::Release);
            self.inner.taps_end.end();
            // Publishes are queued (here and in async-nats): send what is
            // queued (a stream's close, say) before the caller's process can exit.
            let flushed = async {
                self.inner.outbox.drained().await;
                let _ = self.inner.client.flush().await;
            };
            let _ = tokio::time::timeout(CLOSE_FLUSH, flushed).await;
            let routers: Vec<_> = self.inner.routers.lock().drain().map(|(_, r)| r).collect();
            for router in routers {
                router.stop();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_tls_failure;

    #[test]
    fn a_rustls_error_under_an_io_error_is_a_tls_failure() {
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(is_tls_failure(&async_nats::ConnectError::with_source(async_nats::ConnectErrorKind::Io, tls)));
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(!is_tls_failure(&async_nats::ConnectError::with_source(async_nats::ConnectErrorKind::Io, refused)));
    }
}
