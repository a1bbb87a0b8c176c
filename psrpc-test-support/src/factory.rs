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
