//! A Redis primary and replica watched by three Sentinels.

use std::path::{Path, PathBuf};

use super::{FORMATION_LIMIT, Scratch, field, poll, redis_cli_with, start_error};
use crate::broker::{BrokerError, BrokerProcess, free_port};
use crate::tls::SelfSigned;

/// How many of each Sentinel's last log lines a formation error shows.
const LOG_TAIL: usize = 25;

/// The master name the Sentinels monitor.
pub const MASTER_NAME: &str = "psrpc";

/// The data nodes' ACL user in a [secured](RedisSentinel::start_secured)
/// topology (its `default` user is off).
pub const DATA_USER: &str = "app";
/// [`DATA_USER`]'s password.
pub const DATA_PASSWORD: &str = "app-s3cret";
/// The Sentinels' ACL user in a [secured](RedisSentinel::start_secured)
/// topology (their `default` user is off).
pub const SENTINEL_USER: &str = "watcher";
/// [`SENTINEL_USER`]'s password.
pub const SENTINEL_PASSWORD: &str = "watch-s3cret";

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
    secured: Option<Secured>,
}

/// How a secured topology is reached: ACL users on every node and
/// Sentinel, and TLS when `tls` names a certificate.
#[derive(Debug, Clone)]
pub(crate) struct Secured {
    /// The certificate and its key: every node's and Sentinel's, the CA
    /// they trust, and the certificate clients present (TLS clients must
    /// present one).
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
}

impl Secured {
    /// The settings (name, value) that make a data node or Sentinel listen
    /// on `port`: with TLS only when the topology has a certificate.
    pub(crate) fn tls_settings(&self, port: u16) -> Vec<[String; 2]> {
        let Some((cert, key)) = &self.tls else {
            return vec![["port".to_owned(), port.to_string()]];
        };
        let file = |path: &PathBuf| path.display().to_string();
        [
            ["port", "0"].map(str::to_owned),
            ["tls-port".to_owned(), port.to_string()],
            ["tls-cert-file".to_owned(), file(cert)],
            ["tls-key-file".to_owned(), file(key)],
            ["tls-ca-cert-file".to_owned(), file(cert)],
            ["tls-auth-clients", "yes"].map(str::to_owned),
            ["tls-replication", "yes"].map(str::to_owned),
        ]
        .into()
    }

    /// `redis-cli` options that log in as `user` (and speak TLS).
    pub(crate) fn cli_options(&self, user: &str, password: &str) -> Vec<String> {
        let mut options: Vec<String> =
            ["--user", user, "--pass", password, "--no-auth-warning"].map(str::to_owned).into();
        if let Some((cert, key)) = &self.tls {
            options.push("--tls".to_owned());
            for (flag, path) in [("--cacert", cert), ("--cert", cert), ("--key", key)] {
                options.extend([flag.to_owned(), path.display().to_string()]);
            }
        }
        options
    }
}

fn data_args(port: u16, dir: &Path, secured: Option<&Secured>) -> Vec<String> {
    // Replicas sync at once (Redis waits 5 s for more by default); a
    // replica's copy of the data lands in the scratch directory.
    let mut args: Vec<String> =
        ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"]
            .iter()
            .map(|a| (*a).to_owned())
            .chain(["--dir".to_owned(), dir.display().to_string()])
            .collect();
    let Some(secured) = secured else {
        args.extend(["--port".to_owned(), port.to_string()]);
        return args;
    };
    for [name, value] in secured.tls_settings(port) {
        args.extend([format!("--{name}"), value]);
    }
    // Each word of an ACL rule is its own argument (Redis quotes each).
    args.extend(["--user", "default", "off", "--user", DATA_USER, "on"].map(str::to_owned));
    args.extend([format!(">{DATA_PASSWORD}"), "~*".to_owned(), "&*".to_owned(), "+@all".to_owned()]);
    // Any node may become a replica after a failover.
    args.extend(["--masteruser", DATA_USER, "--masterauth", DATA_PASSWORD].map(str::to_owned));
    args
}

/// A Sentinel's configuration file.
fn sentinel_config(port: u16, dir: &Path, primary: u16, secured: Option<&Secured>) -> String {
    let listen: String = match secured {
        Some(secured) => secured.tls_settings(port).iter().map(|[name, value]| format!("{name} {value}\n")).collect(),
        None => format!("port {port}\n"),
    };
    let mut text = format!(
        "bind 127.0.0.1\n{listen}dir {dir}\nlogfile {dir}/sentinel-{port}.log\n\
         sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2\n\
         sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
         sentinel failover-timeout {MASTER_NAME} 5000\n\
         sentinel parallel-syncs {MASTER_NAME} 1\n",
        dir = dir.display(),
    );
    if secured.is_some() {
        text.push_str(&format!(
            "user default off\nuser {SENTINEL_USER} on >{SENTINEL_PASSWORD} allchannels +@all\n\
             sentinel sentinel-user {SENTINEL_USER}\nsentinel sentinel-pass {SENTINEL_PASSWORD}\n\
             sentinel auth-user {MASTER_NAME} {DATA_USER}\nsentinel auth-pass {MASTER_NAME} {DATA_PASSWORD}\n"
        ));
    }
    text
}

impl RedisSentinel {
    /// Starts the primary, its replica and three Sentinels, and waits until
    /// the replica is in sync and every Sentinel knows the replica and the
    /// other Sentinels.
    pub fn start() -> Result<Self, BrokerError> {
        super::with_fresh_ports(|| Self::start_once(None))
    }

    /// Starts the same topology secured: every data node has only the ACL
    /// user [`DATA_USER`] and every Sentinel only [`SENTINEL_USER`] (the
    /// Sentinels log in to the data nodes and to each other with them);
    /// with `tls`, every process listens with TLS only, with `tls`'s
    /// certificate, and asks clients for a certificate it signed.
    ///
    /// ```no_run
    /// let certs = psrpc_test_support::tls::SelfSigned::create()?;
    /// let topology = psrpc_test_support::topology::RedisSentinel::start_secured(Some(&certs))?;
    /// let url = topology.url(); // "rediss+sentinel://app:…@…/psrpc?sentinel_username=watcher&…"
    /// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
    /// ```
    pub fn start_secured(tls: Option<&SelfSigned>) -> Result<Self, BrokerError> {
        let secured = Secured { tls: tls.map(|certs| (certs.cert(), certs.key())) };
        super::with_fresh_ports(|| Self::start_once(Some(secured.clone())))
    }

    /// One attempt of [`start`](Self::start).
    fn start_once(secured: Option<Secured>) -> Result<Self, BrokerError> {
        let scratch = Scratch::new("redis-sentinel")?;
        let primary = free_port();
        let replica = free_port();
        let args = |port| data_args(port, scratch.path(), secured.as_ref());
        let mut servers = vec![BrokerProcess::start("redis-server", args(primary), primary)?];
        let mut replica_args = args(replica);
        replica_args.extend(["--replicaof".to_owned(), "127.0.0.1".to_owned(), primary.to_string()]);
        servers.push(BrokerProcess::start("redis-server", replica_args, replica)?);
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let config = scratch.path().join(format!("sentinel-{port}.conf"));
            let text = sentinel_config(port, scratch.path(), primary, secured.as_ref());
            std::fs::write(&config, text).map_err(|e| start_error("redis-sentinel", e.to_string()))?;
            sentinels.push(BrokerProcess::start("redis-sentinel", vec![config.display().to_string()], port)?);
        }
        let topology = RedisSentinel { servers, sentinels, scratch, secured };
        topology.wait_ready(1)?;
        Ok(topology)
    }

    /// `redis+sentinel://` URL naming every Sentinel and the master name;
    /// for a [secured](Self::start_secured) topology, with both users'
    /// credentials (`rediss+sentinel://` and the certificate's files with
    /// TLS).
    pub fn url(&self) -> String {
        let hosts = self.sentinel_addrs().join(",");
        let Some(secured) = &self.secured else {
            return format!("redis+sentinel://{hosts}/{MASTER_NAME}");
        };
        let scheme = if secured.tls.is_some() { "rediss+sentinel" } else { "redis+sentinel" };
        let mut url = format!(
            "{scheme}://{DATA_USER}:{DATA_PASSWORD}@{hosts}/{MASTER_NAME}\
             ?sentinel_username={SENTINEL_USER}&sentinel_password={SENTINEL_PASSWORD}"
        );
        if let Some((cert, key)) = &secured.tls {
            let (cert, key) = (cert.display(), key.display());
            url.push_str(&format!("&tls_ca={cert}&tls_cert={cert}&tls_key={key}"));
        }
        url
    }

    /// Runs `redis-cli` against data node or Sentinel `port`, logged in as
    /// its user when the topology is secured.
    fn cli(&self, port: u16, args: &[&str]) -> Result<String, BrokerError> {
        let options = match &self.secured {
            None => Vec::new(),
            Some(secured) if self.sentinels.iter().any(|s| s.port() == port) => {
                secured.cli_options(SENTINEL_USER, SENTINEL_PASSWORD)
            }
            Some(secured) => secured.cli_options(DATA_USER, DATA_PASSWORD),
        };
        redis_cli_with(port, &options, args)
    }

    /// `host:port` of every Sentinel.
    pub fn sentinel_addrs(&self) -> Vec<String> {
        self.sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port())).collect()
    }

    /// The port of the current master, as the Sentinels report it.
    pub fn master_port(&self) -> Option<u16> {
        let reply = self.cli(self.sentinels[0].port(), &["SENTINEL", "get-master-addr-by-name", MASTER_NAME]).ok()?;
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
            let role = self.cli(port, &["ROLE"]).map_err(|e| e.to_string())?;
            if role.lines().next() != Some("master") {
                return Err(format!("{port} is not a master yet"));
            }
            for sentinel in &self.sentinels {
                let view =
                    self.cli(sentinel.port(), &["SENTINEL", "master", MASTER_NAME]).map_err(|e| e.to_string())?;
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
        let args = data_args(port, self.scratch.path(), self.secured.as_ref());
        self.servers[index] = BrokerProcess::start("redis-server", args, port)?;
        self.wait_ready(1)
    }

    /// Keeps the current master from being demoted: its default user may
    /// no longer run `REPLICAOF` or `SLAVEOF`, so after a failover it stays
    /// a master that still answers, as a replaced master that came back
    /// before the Sentinels reached it does for a while. Returns its port.
    pub fn pin_master(&self) -> Result<u16, BrokerError> {
        let port = self.master_port().ok_or_else(|| start_error("redis-sentinel", "no master known"))?;
        let user = if self.secured.is_some() { DATA_USER } else { "default" };
        let reply = self.cli(port, &["ACL", "SETUSER", user, "-replicaof", "-slaveof"])?;
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
        let reply = self.cli(self.sentinels[0].port(), &["SENTINEL", "FAILOVER", MASTER_NAME])?;
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
            let info = self.cli(master, &["INFO", "replication"]).map_err(|e| e.to_string())?;
            if field(&info, "role").as_deref() != Some("master") {
                return Err(format!("the Sentinels' master {master} is not a master"));
            }
            let online = info.lines().filter(|l| l.starts_with("slave") && l.contains("state=online")).count();
            if online < replicas {
                return Err(format!("master {master} has {online} replicas online"));
            }
            for sentinel in &self.sentinels {
                let reply =
                    self.cli(sentinel.port(), &["SENTINEL", "master", MASTER_NAME]).map_err(|e| e.to_string())?;
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
