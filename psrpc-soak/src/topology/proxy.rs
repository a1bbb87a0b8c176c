//! A TCP proxy between the workers and a standalone `nats-server`, so the
//! orchestrator can cut every connection at once (NATS has no command to
//! drop its clients, as Redis's `CLIENT KILL` does).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Forwards every connection to its port to `upstream`; [`cut`](Self::cut)
/// drops them all (both sides see the connection close), and new
/// connections are forwarded again at once. Stops when dropped.
#[derive(Debug)]
pub(crate) struct Proxy {
    port: u16,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accepting: AbortHandle,
}

impl Proxy {
    /// Listens on a free loopback port, forwarding to `127.0.0.1:upstream`.
    pub(crate) fn start(runtime: &tokio::runtime::Handle, upstream: u16) -> std::io::Result<Proxy> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let tracked = Arc::clone(&connections);
        let accepting = runtime
            .spawn(async move {
                let Ok(listener) = TcpListener::from_std(listener) else { return };
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let forward = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await {
                            let _ = inbound.set_nodelay(true);
                            let _ = outbound.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    let mut all = tracked.lock().unwrap_or_else(PoisonError::into_inner);
                    all.retain(|c| !c.is_finished());
                    all.push(forward.abort_handle());
                }
            })
            .abort_handle();
        Ok(Proxy { port, connections, accepting })
    }

    /// The port workers connect to.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Drops every open connection; how many there were.
    pub(crate) fn cut(&self) -> usize {
        let all = std::mem::take(&mut *self.connections.lock().unwrap_or_else(PoisonError::into_inner));
        let live = all.iter().filter(|c| !c.is_finished()).count();
        all.iter().for_each(AbortHandle::abort);
        live
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}
