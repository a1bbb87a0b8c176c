//! A real `nats-server` for tests.

use crate::broker::{BrokerError, BrokerProcess, free_port};

/// A `nats-server` on a free loopback port (or the external server named by
/// `PSRPC_NATS_URL`, which cannot be restarted).
#[derive(Debug)]
pub struct NatsServer {
    url: String,
    process: Option<BrokerProcess>,
}

impl NatsServer {
    /// Starts a server with no authentication.
    pub fn start() -> Result<Self, BrokerError> {
        Self::start_with(&[])
    }

    /// Starts a server with extra command-line arguments (e.g. `--user`, `--pass`).
    /// `PSRPC_NATS_URL` is ignored when arguments are given.
    pub fn start_with(args: &[&str]) -> Result<Self, BrokerError> {
        if args.is_empty()
            && let Ok(url) = std::env::var("PSRPC_NATS_URL")
        {
            return Ok(NatsServer { url, process: None });
        }
        let port = free_port();
        let mut all = vec!["-a".to_owned(), "127.0.0.1".to_owned(), "-p".to_owned(), port.to_string()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let process = BrokerProcess::start("nats-server", all, port)?;
        Ok(NatsServer { url: format!("nats://127.0.0.1:{port}"), process: Some(process) })
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this server was started here (and so can be stopped and restarted).
    pub fn is_local(&self) -> bool {
        self.process.is_some()
    }

    /// Stops the server process.
    pub fn stop(&mut self) {
        if let Some(p) = self.process.as_mut() {
            p.stop();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) -> Result<(), BrokerError> {
        match self.process.as_mut() {
            Some(p) => p.restart(),
            None => Ok(()),
        }
    }
}
