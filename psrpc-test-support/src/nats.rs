//! A real `nats-server` for tests.

use crate::broker::{Broker, BrokerError, BrokerProcess, free_port};

/// A `nats-server` on a free loopback port (or the external server named by
/// `PSRPC_NATS_URL`, which cannot be restarted).
#[derive(Debug)]
pub struct NatsServer(Broker);

impl std::ops::Deref for NatsServer {
    type Target = Broker;

    fn deref(&self) -> &Broker {
        &self.0
    }
}

impl std::ops::DerefMut for NatsServer {
    fn deref_mut(&mut self) -> &mut Broker {
        &mut self.0
    }
}

impl NatsServer {
    /// Starts a server with no authentication.
    pub fn start() -> Result<Self, BrokerError> {
        Self::start_with(&[])
    }

    /// Starts a server of the test's own even when `PSRPC_NATS_URL` names
    /// one: for tests that stop, pause or restart the broker.
    pub fn start_own() -> Result<Self, BrokerError> {
        Self::spawn(&[])
    }

    /// Starts a server with extra command-line arguments (e.g. `--user`, `--pass`).
    /// `PSRPC_NATS_URL` is ignored when arguments are given.
    pub fn start_with(args: &[&str]) -> Result<Self, BrokerError> {
        if args.is_empty()
            && let Ok(url) = std::env::var("PSRPC_NATS_URL")
        {
            return Ok(NatsServer(Broker::external(url)));
        }
        Self::spawn(args)
    }

    fn spawn(args: &[&str]) -> Result<Self, BrokerError> {
        let port = free_port();
        let mut all = vec!["-a".to_owned(), "127.0.0.1".to_owned(), "-p".to_owned(), port.to_string()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let process = BrokerProcess::start("nats-server", all, port)?;
        Ok(NatsServer(Broker::local(format!("nats://127.0.0.1:{port}"), process)))
    }
}
