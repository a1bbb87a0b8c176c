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
