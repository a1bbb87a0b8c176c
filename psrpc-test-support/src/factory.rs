//! Where the suites get their buses from.

use futures_util::future::BoxFuture;
use psrpc_core::SharedBus;

/// Gives new connections to one shared bus (one broker, or one in-process
/// bus). Two connections stand for two processes.
pub trait BusFactory: Send + Sync + 'static {
    /// A new connection.
    fn connect(&self) -> BoxFuture<'_, SharedBus>;
}
