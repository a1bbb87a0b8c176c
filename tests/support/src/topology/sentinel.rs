//! A Redis primary and replica watched by three Sentinels.

use super::{FORMATION_LIMIT, Scratch, field, poll, redis_cli, start_error};
use crate::broker::{BrokerError, BrokerProcess, free_port};

/// How many of each Sentinel's last log lines a formation error shows.
const LOG_TAIL: usize = 25;

/// The master name the Sentinels monitor.
pub const MASTER_NAME: &str = "psrpc";

/// A Redis primary, one replica and three Sentinels (quorum 2) on loopback.
/// A master is declared down after 1 s without answers
/// (`down-after-milliseconds 1000`), so a failover completes within a few
/// seconds. Killed on drop.
///
/// ```no_run
/// let topology = psrpc_test_support::topology::RedisSentinel::start()?;
/// let url = topology.url(); // "redis+sentinel://127.0.0.1:a,127.0.0.1:b,127.0.0.1:c/psrpc"
/// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
/// ```
#[derive(Debug)]
pub struct RedisSentinel {
    /// Data nodes: the first starts as the master.
    servers: Vec<BrokerProcess>,
    sentinels: Vec<BrokerProcess>,
    scratch: Scratch,
}

fn data_args(port: u16, dir: &std::path::Path) -> Vec<String> {
    // Replicas sync at once (Redis waits 5 s for more by default); a
    // replica's copy of the data lands in the scratch directory.
    ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--port"]
        .iter()
        .map(|a| (*a).to_owned())
        .chain([port.to_string(), "--dir".to_owned(), dir.display().to_string()])
        .collect()
}

impl RedisSentinel {
    /// Starts the primary, its replica and three Sentinels, and waits until
    /// the replica is in sync and every Sentinel knows the replica and the
    /// other Sentinels.
    pub fn start() -> Result<Self, BrokerError> {
        super::with_fresh_ports(Self::start_once)
    }

    /// One attempt of [`start`](Self::start).
    fn start_once() -> Result<Self, BrokerError> {
        let scratch = Scratch::new("redis-sentinel")?;
        let primary = free_port();
        let replica = free_port();
        let mut servers = vec![BrokerProcess::start("redis-server", data_args(primary, scratch.path()), primary)?];
        let mut replica_args = data_args(replica, scratch.path());
        replica_args.extend(["--replicaof".to_owned(), "127.0.0.1".to_owned(), primary.to_string()]);
        servers.push(BrokerProcess::start("redis-server", replica_args, replica)?);
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let config = scratch.path().join(format!("sentinel-{port}.conf"));
            let text = format!(
                "bind 127.0.0.1\nport {port}\ndir {dir}\nlogfile {dir}/sentinel-{port}.log\n\
                 sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                 sentinel failover-timeout {MASTER_NAME} 5000\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n",
                dir = scratch.path().display(),
            );
            std::fs::write(&config, text).map_err(|e| start_error("redis-sentinel", e.to_string()))?;
            sentinels.push(BrokerProcess::start("redis-sentinel", vec![config.display().to_string()], port)?);
        }
        let topology = RedisSentinel { servers, sentinels, scratch };
        topology.wait_ready(1)?;
        Ok(topology)
    }

    /// `redis+sentinel://` URL naming every Sentinel and the master name.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.sentinel_addrs();
        format!("redis+sentinel://{}/{MASTER_NAME}", hosts.join(","))
    }

    /// `host:port` of every Sentinel.
    pub fn sentinel_addrs(&self) -> Vec<String> {
        self.sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port())).collect()
    }

    /// The port of the current master, as the Sentinels report it.
    pub fn master_port(&self) -> Option<u16> {
        let reply = redis_cli(self.sentinels[0].port(), &["SENTINEL", "get-master-addr-by-name", MASTER_NAME]).ok()?;
        reply.lines().nth(1)?.trim().parse().ok()
    }

    /// Kills the current master; returns its index among the data nodes.
    pub fn kill_master(&mut self) -> Result<usize, BrokerError> {
        let port = self.master_port().ok_or_else(|| start_error("redis-sentinel", "no master known"))?;
        let index = self.index_of(port)?;
        self.servers[index].stop();
        Ok(index)
    }

    /// Waits until the Sentinels report a master other than data node
    /// `old`, that node answers as a master, and every Sentinel's view of
    /// it is settled (it names that node and no failover is in progress).
    pub fn wait_failover(&self, old: usize) -> Result<u16, BrokerError> {
        let old_port = self.servers[old].port();
        self.poll("a new master", || {
            let port = self.master_port().filter(|&p| p != old_port).ok_or("the Sentinels name the old master")?;
            let role = redis_cli(port, &["ROLE"]).map_err(|e| e.to_string())?;
            if role.lines().next() != Some("master") {
                return Err(format!("{port} is not a master yet"));
            }
            for sentinel in &self.sentinels {
                let view =
                    redis_cli(sentinel.port(), &["SENTINEL", "master", MASTER_NAME]).map_err(|e| e.to_string())?;
                let settled = field(&view, "port").is_some_and(|p| p == port.to_string())
                    && field(&view, "flags").is_some_and(|f| !f.contains("failover_in_progress"));
                if !settled {
                    return Err(format!("Sentinel {} sees {}", sentinel.port(), view.replace('\n', " ")));
                }
            }
            Ok(port)
        })
    }

    /// Starts a killed master again and waits until the topology is whole.
    ///
    /// It starts as a master, as a node whose configuration Sentinel rewrote
    /// would: if the Sentinels failed over meanwhile, they make it a replica
    /// of the new master; if not, the other node is still its replica.
    /// Restarting it with its first arguments instead (a replica's
    /// `--replicaof` the old primary) could make two nodes replicas of each
    /// other with no master, where no failover can ever succeed.
    pub fn restart(&mut self, index: usize) -> Result<(), BrokerError> {
        let port = self.servers[index].port();
        self.servers[index] = BrokerProcess::start("redis-server", data_args(port, self.scratch.path()), port)?;
        self.wait_ready(1)
    }

    /// Keeps the current master from being demoted: its default user may
    /// no longer run `REPLICAOF` or `SLAVEOF`, so after a failover it stays
    /// a master that still answers, as a replaced master that came back
    /// before the Sentinels reached it does for a while. Returns its port.
    pub fn pin_master(&self) -> Result<u16, BrokerError> {
        let port = self.master_port().ok_or_else(|| start_error("redis-sentinel", "no master known"))?;
        let reply = redis_cli(port, &["ACL", "SETUSER", "default", "-replicaof", "-slaveof"])?;
        if reply.trim() != "OK" {
            return Err(start_error("redis-sentinel", format!("pinning master {port}: {reply}")));
        }
        Ok(port)
    }

    /// Has the Sentinels fail over now (`SENTINEL FAILOVER`), with the
    /// master still up; waits until they name the new master, and returns
    /// its port.
    pub fn force_failover(&self) -> Result<u16, BrokerError> {
        let port = self.master_port().ok_or_else(|| start_error("redis-sentinel", "no master known"))?;
        let old = self.index_of(port)?;
        let reply = redis_cli(self.sentinels[0].port(), &["SENTINEL", "FAILOVER", MASTER_NAME])?;
        if reply.trim() != "OK" {
            return Err(start_error("redis-sentinel", format!("SENTINEL FAILOVER: {reply}")));
        }
        self.wait_failover(old)
    }

    fn index_of(&self, port: u16) -> Result<usize, BrokerError> {
        self.servers
            .iter()
            .position(|s| s.port() == port)
            .ok_or_else(|| start_error("redis-sentinel", format!("master port {port} is none of ours")))
    }

    /// Waits until the master has `replicas` replicas in sync and every
    /// Sentinel sees them and the other Sentinels.
    fn wait_ready(&self, replicas: usize) -> Result<(), BrokerError> {
        let others = (self.sentinels.len() - 1).to_string();
        self.poll("a formed Sentinel topology", || {
            let master = self.master_port().ok_or("no master known")?;
            let info = redis_cli(master, &["INFO", "replication"]).map_err(|e| e.to_string())?;
            if field(&info, "role").as_deref() != Some("master") {
                return Err(format!("the Sentinels' master {master} is not a master"));
            }
            let online = info.lines().filter(|l| l.starts_with("slave") && l.contains("state=online")).count();
            if online < replicas {
                return Err(format!("master {master} has {online} replicas online"));
            }
            for sentinel in &self.sentinels {
                let reply =
                    redis_cli(sentinel.port(), &["SENTINEL", "master", MASTER_NAME]).map_err(|e| e.to_string())?;
                let formed = field(&reply, "num-other-sentinels").as_deref() == Some(others.as_str())
                    && field(&reply, "num-slaves").and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| n >= replicas)
                    && field(&reply, "port").is_some_and(|p| p == master.to_string());
                if !formed {
                    return Err(format!("Sentinel {} sees {}", sentinel.port(), reply.replace('\n', " ")));
                }
            }
            Ok(())
        })
    }

    /// [`poll`] whose error ends with what each Sentinel logged last.
    fn poll<T>(&self, what: &str, check: impl FnMut() -> Result<T, String>) -> Result<T, BrokerError> {
        poll("redis-sentinel", what, FORMATION_LIMIT, check).map_err(|error| {
            let logs: String = self
                .sentinels
                .iter()
                .map(|s| {
                    let text = std::fs::read_to_string(self.log_path(s.port())).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(LOG_TAIL).collect();
                    format!(
                        "\n--- Sentinel {} log, last lines:\n{}",
                        s.port(),
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    )
                })
                .collect();
            start_error("redis-sentinel", format!("{error}{logs}"))
        })
    }

    /// Where Sentinel `port` writes its log.
    fn log_path(&self, port: u16) -> std::path::PathBuf {
        self.scratch.path().join(format!("sentinel-{port}.log"))
    }
}
