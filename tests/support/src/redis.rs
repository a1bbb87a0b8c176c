//! A real `redis-server` for tests.

use crate::broker::{Broker, BrokerError, BrokerProcess, free_port, launcher};

launcher!(
    /// A `redis-server` on a free loopback port, keeping nothing on disk (or the
    /// external server named by `PSRPC_REDIS_URL`, which cannot be restarted).
    RedisServer in "redis", env: "PSRPC_REDIS_URL", binary: "redis-server", args: "`--requirepass`, `--user`"
);

impl RedisServer {
    fn spawn(args: &[&str]) -> Result<Self, BrokerError> {
        let port = free_port();
        let mut all: Vec<String> = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--port"]
            .iter()
            .map(|a| (*a).to_owned())
            .collect();
        all.push(port.to_string());
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let process = BrokerProcess::start("redis-server", all, port)?;
        Ok(RedisServer(Broker::local(format!("redis://127.0.0.1:{port}"), process)))
    }

    /// Starts a TLS-only server (`rediss://`) with `cert` and `key`; clients
    /// are not asked for certificates.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Result<Self, BrokerError> {
        Self::spawn_tls(cert, key, None)
    }

    /// Starts a TLS-only server (`rediss://`) with `certs`' certificate,
    /// that asks every client for a certificate `certs` signed
    /// (`--tls-auth-clients yes`).
    ///
    /// ```no_run
    /// let certs = psrpc_test_support::tls::SelfSigned::create()?;
    /// let server = psrpc_test_support::redis::RedisServer::start_mutual_tls(&certs)?;
    /// let c = certs.cert().display().to_string();
    /// let url = format!("{}?tls_ca={c}&tls_cert={c}&tls_key={}", server.url(), certs.key().display());
    /// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
    /// ```
    pub fn start_mutual_tls(certs: &crate::tls::SelfSigned) -> Result<Self, BrokerError> {
        Self::spawn_tls(&certs.cert(), &certs.key(), Some(&certs.cert()))
    }

    /// A TLS-only server; with `client_ca`, clients must present a
    /// certificate it signed.
    fn spawn_tls(
        cert: &std::path::Path,
        key: &std::path::Path,
        client_ca: Option<&std::path::Path>,
    ) -> Result<Self, BrokerError> {
        let port = free_port();
        let mut args: Vec<String> = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--port", "0"]
            .iter()
            .map(|a| (*a).to_owned())
            .collect();
        let ask = if client_ca.is_some() { "yes" } else { "no" };
        args.extend(["--tls-port".to_owned(), port.to_string(), "--tls-auth-clients".to_owned(), ask.to_owned()]);
        args.extend(["--tls-cert-file".to_owned(), cert.display().to_string()]);
        args.extend(["--tls-key-file".to_owned(), key.display().to_string()]);
        if let Some(ca) = client_ca {
            args.extend(["--tls-ca-cert-file".to_owned(), ca.display().to_string()]);
        }
        let process = BrokerProcess::start("redis-server", args, port)?;
        Ok(RedisServer(Broker::local(format!("rediss://127.0.0.1:{port}"), process)))
    }
}
