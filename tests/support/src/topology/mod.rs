//! Broker topologies on loopback, as run in production: a NATS cluster
//! ([`NatsCluster`]), a Redis primary with a replica watched by Sentinels
//! ([`RedisSentinel`]) and a Redis Cluster of masters with replicas
//! ([`RedisCluster`]). Each launcher starts real processes on free ports,
//! waits until the topology is formed, and kills every process (and removes
//! its scratch directory) when dropped.
//!
//! The same topologies, on fixed ports, are what `scripts/topology.sh`
//! starts for people.

mod cluster;
mod nats;
mod sentinel;

pub use cluster::RedisCluster;
pub use nats::NatsCluster;
pub use sentinel::{DATA_PASSWORD, DATA_USER, MASTER_NAME, RedisSentinel, SENTINEL_PASSWORD, SENTINEL_USER};

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::broker::{BrokerError, find_binary};

/// Runs `start` until it succeeds, at most three times: a port picked free
/// can be taken (by a parallel test's broker, or an outgoing connection)
/// before the broker binds it, and the next attempt picks new ports. A
/// missing binary fails at once.
pub(crate) fn with_fresh_ports<T>(start: impl Fn() -> Result<T, BrokerError>) -> Result<T, BrokerError> {
    let mut attempt = 1;
    loop {
        match start() {
            Err(BrokerError::Missing(binary)) => return Err(BrokerError::Missing(binary)),
            Err(e) if attempt < 3 => {
                eprintln!("topology did not start ({e}); trying again with other ports");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// A fresh directory under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new(prefix: &str) -> Result<Self, BrokerError> {
        let dir = std::env::temp_dir().join(format!("psrpc-{prefix}-{}", psrpc_protocol::id::new_id("")));
        std::fs::create_dir_all(&dir).map_err(|e| start_error(prefix_binary(prefix), e.to_string()))?;
        Ok(Scratch(dir))
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn prefix_binary(prefix: &str) -> &'static str {
    if prefix.starts_with("nats") { "nats-server" } else { "redis-server" }
}

pub(crate) fn start_error(binary: &'static str, reason: impl Into<String>) -> BrokerError {
    BrokerError::Start { binary, reason: reason.into() }
}

/// Runs `redis-cli` against `127.0.0.1:port`, with connection options
/// first (`--user`, `--tls`…); its standard output.
pub(crate) fn redis_cli_with(port: u16, options: &[String], args: &[&str]) -> Result<String, BrokerError> {
    let output = Command::new(find_binary("redis-cli")?)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(options)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| start_error("redis-cli", e.to_string()))?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The value after `key` in `redis-cli` output: `key:value` lines (`INFO`)
/// or a key line followed by its value line (a flat reply array).
pub(crate) fn field(output: &str, key: &str) -> Option<String> {
    let mut lines = output.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if let Some(value) = line.strip_prefix(key).and_then(|rest| rest.strip_prefix(':')) {
            return Some(value.to_owned());
        }
        if line == key {
            return lines.next().map(str::to_owned);
        }
    }
    None
}

/// How long a topology may take to reach a state (routes meshed, a master
/// elected, replicas in sync): a failover on a busy 2-core machine took more
/// than 30 s. Two minutes is no timing bound; it tells a topology that
/// cannot form from a slow one.
pub(crate) const FORMATION_LIMIT: Duration = Duration::from_secs(120);

/// Polls `check` every 50 ms until it gives a value or `limit` passed:
/// topology changes (gossip, elections) have no event to await from outside.
/// `check` says what is still missing; the error names the last such reason.
pub(crate) fn poll<T>(
    binary: &'static str,
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, BrokerError> {
    let start = Instant::now();
    loop {
        let missing = match check() {
            Ok(value) => return Ok(value),
            Err(missing) => missing,
        };
        if start.elapsed() > limit {
            return Err(start_error(binary, format!("{what} not reached within {limit:?} (last: {missing})")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_read_from_info_lines_and_flat_arrays() {
        assert_eq!(
            field("# Replication\r\nrole:master\r\nconnected_slaves:1\r\n", "connected_slaves"),
            Some("1".into())
        );
        assert_eq!(field("name\npsrpc\nnum-slaves\n1\n", "num-slaves"), Some("1".into()));
        assert_eq!(field("name\npsrpc\n", "num-slaves"), None);
    }
}
