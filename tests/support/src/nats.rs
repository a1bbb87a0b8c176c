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

impl NatsServer {
    /// Starts a server of its own with `config` (nats-server configuration
    /// text, e.g. `max_payload: 65536`). The file lives in the temporary
    /// directory, named by its content (one file per distinct config,
    /// written once), so a restart finds it again.
    ///
    /// ```no_run
    /// let server = psrpc_test_support::nats::NatsServer::start_with_config("max_payload: 65536")?;
    /// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
    /// ```
    pub fn start_with_config(config: &str) -> Result<Self, BrokerError> {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        config.hash(&mut hasher);
        let path = std::env::temp_dir().join(format!("psrpc-nats-{:016x}.conf", hasher.finish()));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(config) {
            // Written beside, then renamed: a concurrent start never reads half a file.
            let partial = path.with_extension(format!("{}.tmp", std::process::id()));
            std::fs::write(&partial, config).and_then(|()| std::fs::rename(&partial, &path)).map_err(|e| {
                BrokerError::Start { binary: "nats-server", reason: format!("config {}: {e}", path.display()) }
            })?;
        }
        Self::spawn(&["-c", &path.display().to_string()])
    }
}
