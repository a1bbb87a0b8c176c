//! Where the suites get their buses from.

use futures_util::future::BoxFuture;
use psrpc_core::SharedBus;

/// Gives new connections to one shared bus (one broker, or one in-process
/// bus). Two connections stand for two processes.
pub trait BusFactory: Send + Sync + 'static {
    /// A new connection.
    fn connect(&self) -> BoxFuture<'_, SharedBus>;
}

/// Every connection is the same shared bus: for the in-process bus, where
/// "two processes" in one test share one bus.
#[derive(Debug, Clone)]
pub struct SameBus(pub SharedBus);

impl BusFactory for SameBus {
    fn connect(&self) -> BoxFuture<'_, SharedBus> {
        let bus = self.0.clone();
        Box::pin(async move { bus })
    }
}

/// A broker process (or topology) kept alive as long as the factory, and
/// how to connect to it: every connection is a new one made by `connect`.
///
/// ```
/// use psrpc_test_support::{BusFactory as _, Served};
/// struct Process(psrpc_core::SharedBus); // stands for a broker process
/// # async fn f(bus: psrpc_core::SharedBus) {
/// let factory = Served::new(Process(bus), |process| {
///     let bus = process.0.clone();
///     Box::pin(async move { bus })
/// });
/// let (a, b) = (factory.connect().await, factory.connect().await);
/// # let _ = (a, b, &factory.server); }
/// ```
#[derive(Debug)]
pub struct Served<S> {
    /// The broker process (or topology).
    pub server: S,
    connect: for<'a> fn(&'a S) -> BoxFuture<'a, SharedBus>,
}

impl<S> Served<S> {
    /// `server`, with new connections to it made by `connect`.
    ///
    /// ```
    /// let factory = psrpc_test_support::Served::new("nats://127.0.0.1:4222".to_owned(), |url| {
    ///     Box::pin(async move { unimplemented!("connect to {url}") })
    /// });
    /// assert_eq!(factory.server, "nats://127.0.0.1:4222");
    /// ```
    pub fn new(server: S, connect: for<'a> fn(&'a S) -> BoxFuture<'a, SharedBus>) -> Self {
        Served { server, connect }
    }
}

impl<S: Send + Sync + 'static> BusFactory for Served<S> {
    fn connect(&self) -> BoxFuture<'_, SharedBus> {
        (self.connect)(&self.server)
    }
}

/// A new connection to the broker at `url`: NATS for `nats://` (and
/// `tls://`) URLs, Redis otherwise (feature `buses`).
///
/// ```no_run
/// # async fn f() {
/// let bus = psrpc_test_support::factory::connect("nats://127.0.0.1:4222").await;
/// # let _ = bus; }
/// ```
#[cfg(feature = "buses")]
pub async fn connect(url: &str) -> SharedBus {
    if url.starts_with("nats://") || url.starts_with("tls://") {
        std::sync::Arc::new(psrpc_bus_nats::NatsBus::connect(url, Default::default()).await.expect("connect to NATS"))
    } else {
        std::sync::Arc::new(
            psrpc_bus_redis::RedisBus::connect(url, Default::default()).await.expect("connect to Redis"),
        )
    }
}

/// Every connection is a new one to the broker at the URL it holds, NATS
/// or Redis by scheme (see [`connect`]; feature `buses`).
///
/// ```no_run
/// use psrpc_test_support::BusFactory as _;
/// # async fn f() {
/// let factory = psrpc_test_support::factory::BrokerBus("redis://127.0.0.1:6379".to_owned());
/// let (a, b) = (factory.connect().await, factory.connect().await); // two "processes"
/// # let _ = (a, b); }
/// ```
#[cfg(feature = "buses")]
#[derive(Debug, Clone)]
pub struct BrokerBus(pub String);

#[cfg(feature = "buses")]
impl BusFactory for BrokerBus {
    fn connect(&self) -> BoxFuture<'_, SharedBus> {
        Box::pin(connect(&self.0))
    }
}
