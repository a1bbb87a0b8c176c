//! The gRPC bridge: every ready pod of a Service becomes a psrpc server on
//! the bus, its methods forwarded to the pod's plain gRPC server.
//!
//! The bridge follows a [`Membership`]: a pod that becomes ready is
//! registered (server id = pod name); a pod that goes away, stops being
//! ready, or starts terminating is drained — it takes no new calls, its
//! in-flight calls and streams finish — and deregistered. A pod whose address
//! changes is drained and registered again. With a multi method, one psrpc
//! call reaches every registered pod; with a [feed](BridgedService::feed),
//! subscribers receive the messages of every pod, pods that appear later
//! included.
//!
//! Decision: a pod whose registration fails (the bus refused a subscription)
//! is logged and left unregistered until its next change; the bridge does not
//! retry on its own, so a broken bus does not turn into a retry storm.

mod forward;
mod pod_server;
mod service;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use psrpc_core::error::Error;
use psrpc_core::options::ServerOptions;
use psrpc_core::transport::bus::SharedBus;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

pub use service::BridgedService;

use crate::membership::Membership;
use crate::pod::{Pod, PodEvent};
use pod_server::PodServer;

/// How the bridge serves pods.
///
/// ```
/// use std::time::Duration;
/// let options = psrpc_kube::BridgeOptions::default().connect_timeout(Duration::from_secs(5));
/// assert!(format!("{options:?}").contains("connect_timeout: 5s"));
/// ```
#[derive(Clone, Debug)]
pub struct BridgeOptions {
    server: ServerOptions,
    connect_timeout: Duration,
    feed_retry: Duration,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        BridgeOptions {
            server: ServerOptions::default(),
            connect_timeout: Duration::from_secs(2),
            feed_retry: Duration::from_secs(1),
        }
    }
}

impl BridgeOptions {
    /// Sets the options of each pod's psrpc server (timeouts, interceptors);
    /// the server id is always the pod name.
    ///
    /// ```
    /// use std::time::Duration;
    /// let server = psrpc::ServerOptions::default().drain_timeout(Duration::from_secs(10));
    /// let options = psrpc_kube::BridgeOptions::default().server(server);
    /// assert!(format!("{options:?}").contains("drain_timeout: 10s"));
    /// ```
    #[must_use]
    pub fn server(mut self, server: ServerOptions) -> Self {
        self.server = server;
        self
    }

    /// Sets the time to establish a gRPC connection to a pod (default 2 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc_kube::BridgeOptions::default().connect_timeout(Duration::from_millis(500));
    /// assert!(format!("{options:?}").contains("connect_timeout: 500ms"));
    /// ```
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the pause before a feed stream that ended or failed is reopened
    /// (default 1 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc_kube::BridgeOptions::default().feed_retry(Duration::from_millis(200));
    /// assert!(format!("{options:?}").contains("feed_retry: 200ms"));
    /// ```
    #[must_use]
    pub fn feed_retry(mut self, pause: Duration) -> Self {
        self.feed_retry = pause;
        self
    }
}

/// A running bridge. Dropping it stops following the membership and kills
/// every pod server (in-flight calls are cut); [`GrpcBridge::shutdown`]
/// drains them instead.
///
/// ```no_run
/// use std::sync::Arc;
/// use psrpc::{MethodInfo, MethodKind, Selection};
/// use psrpc_kube::{BridgeOptions, BridgedService, GrpcBridge};
/// static SEND: MethodInfo = MethodInfo::new("Send", MethodKind::Unary(Selection::Affinity { topics: false }));
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let bus: psrpc::SharedBus = Arc::new(psrpc::nats::NatsBus::connect("nats://nats:4222", Default::default()).await?);
/// let membership = psrpc_kube::discover(&"kubernetes://chat:grpc".parse()?).await?; // needs a cluster
/// let service = BridgedService::new("Chat", "chat.v1.Chat").unary(SEND.clone(), vec![]);
/// let bridge = GrpcBridge::start(bus, service, membership, BridgeOptions::default())?;
/// bridge.wait_until(|pods| !pods.is_empty()).await;
/// println!("serving {:?}", bridge.registered());
/// bridge.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GrpcBridge {
    registered: watch::Receiver<BTreeSet<String>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl GrpcBridge {
    /// Starts bridging `service` for the pods of `membership` on `bus`.
    /// Fails with `invalid_argument` when a method cannot be forwarded.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use psrpc::{MethodInfo, MethodKind, Selection};
    /// use psrpc_kube::{BridgeOptions, BridgedService, GrpcBridge};
    /// static SEND: MethodInfo = MethodInfo::new("Send", MethodKind::Unary(Selection::Affinity { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// let bus: psrpc::SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let membership = psrpc_kube::Membership::fixed(psrpc_kube::PodSet::new()); // no pods yet
    /// let service = BridgedService::new("Chat", "chat.v1.Chat").unary(SEND.clone(), vec![]);
    /// let bridge = GrpcBridge::start(bus, service, membership, BridgeOptions::default())?;
    /// assert!(bridge.registered().is_empty());
    /// bridge.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn start(
        bus: SharedBus,
        service: BridgedService,
        membership: Membership,
        options: BridgeOptions,
    ) -> Result<GrpcBridge, Error> {
        for method in &service.methods {
            service.path(method)?;
        }
        let (registered_tx, registered) = watch::channel(BTreeSet::new());
        let (stop, stopped) = oneshot::channel();
        let reconciler = Reconciler {
            bus,
            service: Arc::new(service),
            options,
            servers: HashMap::new(),
            draining: JoinSet::new(),
            registered: registered_tx,
        };
        let task = tokio::spawn(reconciler.run(membership, stopped));
        Ok(GrpcBridge { registered, stop: Some(stop), task })
    }

    /// The pods registered now (their pod names, which are their server ids).
    ///
    /// ```
    /// # async fn demo(bridge: psrpc_kube::GrpcBridge) {
    /// for pod in bridge.registered() {
    ///     println!("{pod} is served");
    /// }
    /// # }
    /// ```
    pub fn registered(&self) -> BTreeSet<String> {
        self.registered.borrow().clone()
    }

    /// Waits until the registered pods satisfy `predicate`.
    ///
    /// ```
    /// # async fn demo(bridge: psrpc_kube::GrpcBridge) {
    /// bridge.wait_until(|pods| pods.len() >= 3).await;
    /// # }
    /// ```
    pub async fn wait_until(&self, mut predicate: impl FnMut(&BTreeSet<String>) -> bool) {
        let mut registered = self.registered.clone();
        // The sender lives as long as the bridge task; if it ended there is nothing left to wait for.
        let _ = registered.wait_for(|set| predicate(set)).await;
    }

    /// Stops following the membership, drains every pod and waits for them.
    ///
    /// ```
    /// # async fn demo(bridge: psrpc_kube::GrpcBridge) {
    /// bridge.shutdown().await; // in-flight calls finish first
    /// # }
    /// ```
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for GrpcBridge {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}

/// The bridge task's state: which pods are served.
struct Reconciler {
    bus: SharedBus,
    service: Arc<BridgedService>,
    options: BridgeOptions,
    servers: HashMap<String, PodServer>,
    draining: JoinSet<()>,
    registered: watch::Sender<BTreeSet<String>>,
}

impl Reconciler {
    async fn run(mut self, membership: Membership, mut stop: oneshot::Receiver<()>) {
        let mut changes = membership.changes();
        let initial: Vec<Pod> = changes.initial().ready().cloned().collect();
        for pod in initial {
            self.apply(PodEvent::Added(pod)).await;
        }
        loop {
            tokio::select! {
                _ = &mut stop => break,
                event = changes.next() => match event {
                    Some(event) => self.apply(event).await,
                    // The source stopped: keep serving what we have until stopped.
                    None => { let _ = (&mut stop).await; break; }
                },
                Some(_) = self.draining.join_next(), if !self.draining.is_empty() => {}
            }
        }
        for (_, server) in self.servers.drain() {
            self.draining.spawn(server.drain());
        }
        self.publish_registered();
        while self.draining.join_next().await.is_some() {}
    }

    async fn apply(&mut self, event: PodEvent) {
        match event {
            PodEvent::Added(pod) | PodEvent::Changed(pod) if pod.is_ready() => {
                let current = self.servers.get(&pod.name).map(|s| s.pod.socket_addr());
                if current == Some(pod.socket_addr()) {
                    return;
                }
                self.drain(&pod.name);
                self.register(pod).await;
            }
            PodEvent::Added(pod) | PodEvent::Changed(pod) | PodEvent::Removed(pod) => self.drain(&pod.name),
        }
        self.publish_registered();
    }

    async fn register(&mut self, pod: Pod) {
        let name = pod.name.clone();
        match PodServer::start(&self.bus, &self.service, pod, &self.options).await {
            Ok(server) => {
                tracing::info!(service = %self.service.service, pod = %name, "pod registered");
                self.servers.insert(name, server);
            }
            Err(error) => tracing::warn!(service = %self.service.service, pod = %name, %error, "pod not registered"),
        }
    }

    fn drain(&mut self, pod: &str) {
        if let Some(server) = self.servers.remove(pod) {
            tracing::info!(service = %self.service.service, pod, "pod draining");
            self.draining.spawn(server.drain());
        }
    }

    fn publish_registered(&self) {
        let names: BTreeSet<String> = self.servers.keys().cloned().collect();
        self.registered.send_if_modified(|current| {
            let changed = *current != names;
            *current = names;
            changed
        });
    }
}
