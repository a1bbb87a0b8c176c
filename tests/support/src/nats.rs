//! A real `nats-server` for tests.

use crate::broker::{Broker, BrokerError, BrokerProcess, free_port, launcher};

launcher!(
    /// A `nats-server` on a free loopback port (or the external server named by
    /// `PSRPC_NATS_URL`, which cannot be restarted).
    NatsServer in "nats", env: "PSRPC_NATS_URL", binary: "nats-server", args: "`--user`, `--pass`"
);

impl NatsServer {
    fn spawn(args: &[&str]) -> Result<Self, BrokerError> {
        let port = free_port();
        let mut all = vec!["-a".to_owned(), "127.0.0.1".to_owned(), "-p".to_owned(), port.to_string()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let process = BrokerProcess::start("nats-server", all, port)?;
        Ok(NatsServer(Broker::local(format!("nats://127.0.0.1:{port}"), process)))
    }
}
