//! A Redis Cluster: masters with one replica each.

use super::sentinel::{DATA_PASSWORD, DATA_USER, Secured};
use super::{FORMATION_LIMIT, Scratch, field, poll, redis_cli_with, start_error};
use crate::broker::{BrokerError, BrokerProcess, free_port};
use crate::tls::SelfSigned;

/// A Redis Cluster on loopback: `masters` masters with one replica each,
/// created by `redis-cli --cluster create`. A node is failed after 1 s
/// without answers (`cluster-node-timeout 1000`), so a replica takes over
/// within a few seconds. Killed on drop.
///
/// ```no_run
/// let cluster = psrpc_test_support::topology::RedisCluster::start(3)?;
/// let url = cluster.url(); // "redis+cluster://127.0.0.1:a,127.0.0.1:b,…"
/// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<BrokerProcess>,
    _scratch: Scratch,
    secured: Option<Secured>,
}

impl RedisCluster {
    /// Starts `2 × masters` nodes, creates the cluster, and waits until
    /// every node reports `cluster_state:ok`.
    pub fn start(masters: usize) -> Result<Self, BrokerError> {
        super::with_fresh_ports(|| Self::start_once(masters, None))
    }

    /// Starts the same cluster secured: every node has only the ACL user
    /// [`DATA_USER`] (replicas log in to their masters with it); with
    /// `tls`, every node listens with TLS only (`--tls-port`), speaks TLS
    /// on the cluster bus (`--tls-cluster yes`) and to its master
    /// (`--tls-replication yes`), with `tls`'s certificate, and asks
    /// clients for a certificate it signed.
    ///
    /// ```no_run
    /// let certs = psrpc_test_support::tls::SelfSigned::create()?;
    /// let cluster = psrpc_test_support::topology::RedisCluster::start_secured(3, Some(&certs))?;
    /// let url = cluster.url(); // "rediss+cluster://app:…@…?tls_ca=…&tls_cert=…&tls_key=…"
    /// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
    /// ```
    pub fn start_secured(masters: usize, tls: Option<&SelfSigned>) -> Result<Self, BrokerError> {
        let secured = Secured { tls: tls.map(|certs| (certs.cert(), certs.key())) };
        super::with_fresh_ports(|| Self::start_once(masters, Some(secured.clone())))
    }

    /// One attempt of [`start`](Self::start).
    fn start_once(masters: usize, secured: Option<Secured>) -> Result<Self, BrokerError> {
        let scratch = Scratch::new("redis-cluster")?;
        let mut nodes = Vec::new();
        for _ in 0..masters * 2 {
            let (port, bus) = (free_port(), free_port());
            let config = scratch.path().join(format!("nodes-{port}.conf"));
            let mut args: Vec<String> = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                .iter()
                .map(|a| (*a).to_owned())
                .chain([
                    "--cluster-enabled".to_owned(),
                    "yes".to_owned(),
                    "--cluster-port".to_owned(),
                    bus.to_string(),
                    "--cluster-node-timeout".to_owned(),
                    "1000".to_owned(),
                    // A replica may always take over (its data is a cache of nothing).
                    "--cluster-replica-validity-factor".to_owned(),
                    "0".to_owned(),
                    // Replicas sync at once (Redis waits 5 s for more by default).
                    "--repl-diskless-sync-delay".to_owned(),
                    "0".to_owned(),
                    "--cluster-config-file".to_owned(),
                    config.display().to_string(),
                    "--dir".to_owned(),
                    scratch.path().display().to_string(),
                ])
                .collect();
            args.extend(listen_args(port, secured.as_ref()));
            nodes.push(BrokerProcess::start("redis-server", args, port)?);
        }
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        let mut create = vec!["--cluster", "create"];
        create.extend(addrs.iter().map(String::as_str));
        create.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        let cluster = RedisCluster { nodes, _scratch: scratch, secured };
        let out = cluster.cli(cluster.nodes[0].port(), &create)?;
        if !out.contains("[OK] All 16384 slots covered") {
            return Err(start_error("redis-server", format!("redis-cli --cluster create: {out}")));
        }
        cluster.wait_healthy()?;
        poll("redis-server", "every replica in sync", FORMATION_LIMIT, || {
            cluster
                .live()
                .all(|n| {
                    cluster.cli(n.port(), &["INFO", "replication"]).ok().is_some_and(|info| {
                        field(&info, "role").as_deref() == Some("master")
                            || field(&info, "master_link_status").as_deref() == Some("up")
                    })
                })
                .then_some(())
                .ok_or_else(|| "a replica's master link is down".to_owned())
        })?;
        Ok(cluster)
    }

    /// `redis+cluster://` URL naming every node as a seed; for a
    /// [secured](Self::start_secured) cluster, with the ACL user's
    /// credentials (`rediss+cluster://` and the certificate's files with
    /// TLS).
    pub fn url(&self) -> String {
        let hosts = self.addrs().join(",");
        match &self.secured {
            None => format!("redis+cluster://{hosts}"),
            Some(Secured { tls: None }) => format!("redis+cluster://{DATA_USER}:{DATA_PASSWORD}@{hosts}"),
            Some(Secured { tls: Some((cert, key)) }) => {
                let (cert, key) = (cert.display(), key.display());
                format!(
                    "rediss+cluster://{DATA_USER}:{DATA_PASSWORD}@{hosts}?tls_ca={cert}&tls_cert={cert}&tls_key={key}"
                )
            }
        }
    }

    /// Runs `redis-cli` against node `port`, logged in as the ACL user
    /// (and over TLS) when the cluster is secured.
    fn cli(&self, port: u16, args: &[&str]) -> Result<String, BrokerError> {
        let options = self.secured.as_ref().map(|s| s.cli_options(DATA_USER, DATA_PASSWORD)).unwrap_or_default();
        redis_cli_with(port, &options, args)
    }

    /// `host:port` of every node.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect()
    }

    /// The index of the master serving `slot`, from a live node's view.
    pub fn master_of_slot(&self, slot: u16) -> Option<usize> {
        let view = self.live().find_map(|n| self.cli(n.port(), &["CLUSTER", "NODES"]).ok())?;
        let port = view.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let is_live_master = fields.get(2)?.split(',').any(|f| f == "master") && !fields[2].contains("fail");
            let serves = fields.iter().skip(8).any(|range| match range.split_once('-') {
                Some((a, b)) => {
                    a.parse::<u16>().ok().zip(b.parse::<u16>().ok()).is_some_and(|(a, b)| (a..=b).contains(&slot))
                }
                None => range.parse::<u16>().ok() == Some(slot),
            });
            let port = fields.get(1)?.split(['@', ':']).nth(1)?.parse::<u16>().ok()?;
            (is_live_master && serves).then_some(port)
        })?;
        self.nodes.iter().position(|n| n.port() == port)
    }

    /// Moves `slot` (and its keys) to the master at index `to`, the way
    /// `redis-cli --cluster reshard` does, for one slot.
    pub fn move_slot(&self, slot: u16, to: usize) -> Result<(), BrokerError> {
        let from =
            self.master_of_slot(slot).ok_or_else(|| start_error("redis-server", format!("slot {slot} unserved")))?;
        if from == to {
            return Ok(());
        }
        let (from_port, to_port) = (self.nodes[from].port(), self.nodes[to].port());
        let id = |port: u16| self.cli(port, &["CLUSTER", "MYID"]).map(|s| s.trim().to_owned());
        let (from_id, to_id) = (id(from_port)?, id(to_port)?);
        let slot_text = slot.to_string();
        let run = |port: u16, args: &[&str]| -> Result<(), BrokerError> {
            let out = self.cli(port, args)?;
            if out.starts_with("ERR") {
                return Err(start_error("redis-server", format!("{args:?}: {out}")));
            }
            Ok(())
        };
        run(to_port, &["CLUSTER", "SETSLOT", &slot_text, "IMPORTING", &from_id])?;
        run(from_port, &["CLUSTER", "SETSLOT", &slot_text, "MIGRATING", &to_id])?;
        loop {
            let keys = self.cli(from_port, &["CLUSTER", "GETKEYSINSLOT", &slot_text, "100"])?;
            let keys: Vec<&str> = keys.lines().map(str::trim).filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let to_port_text = to_port.to_string();
            let mut migrate = vec!["MIGRATE", "127.0.0.1", &to_port_text, "", "0", "5000", "KEYS"];
            migrate.extend(keys);
            run(from_port, &migrate)?;
        }
        // The new owner first, then the old; the other masters learn it by gossip.
        for port in [to_port, from_port] {
            run(port, &["CLUSTER", "SETSLOT", &slot_text, "NODE", &to_id])?;
        }
        poll("redis-server", "the slot moved everywhere", FORMATION_LIMIT, || match self.master_of_slot(slot) {
            Some(owner) if owner == to => Ok(()),
            owner => Err(format!("slot {slot} served by node {owner:?}")),
        })
    }

    /// The indexes of the live masters.
    pub fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i].is_running()
                    && self.cli(self.nodes[i].port(), &["ROLE"]).is_ok_and(|r| r.lines().next() == Some("master"))
            })
            .collect()
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`).
    pub fn slot_of(&self, key: &str) -> Option<u16> {
        let node = self.live().next()?;
        self.cli(node.port(), &["CLUSTER", "KEYSLOT", key]).ok()?.trim().parse().ok()
    }

    /// Drops every client connection of every live node (`CLIENT KILL TYPE
    /// normal` and `TYPE pubsub`), as a network cut would; how many.
    ///
    /// ```no_run
    /// let cluster = psrpc_test_support::topology::RedisCluster::start(3)?;
    /// assert_eq!(cluster.cut_clients(), 0, "nobody connected yet");
    /// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
    /// ```
    pub fn cut_clients(&self) -> usize {
        let kill = |port, kind| self.cli(port, &["CLIENT", "KILL", "TYPE", kind]).ok()?.trim().parse::<usize>().ok();
        self.live().map(|n| kill(n.port(), "normal").unwrap_or(0) + kill(n.port(), "pubsub").unwrap_or(0)).sum()
    }

    /// How many connections, over all live nodes, subscribe the classic
    /// channel `channel` (`PUBSUB NUMSUB` on each).
    ///
    /// ```no_run
    /// let cluster = psrpc_test_support::topology::RedisCluster::start(3)?;
    /// assert_eq!(cluster.subscribers("nobody-listens"), 0);
    /// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
    /// ```
    pub fn subscribers(&self, channel: &str) -> u64 {
        self.live()
            .filter_map(|n| self.cli(n.port(), &["PUBSUB", "NUMSUB", channel]).ok())
            .filter_map(|reply| field(&reply, channel)?.parse::<u64>().ok())
            .sum()
    }

    /// Kills node `i`.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].stop();
    }

    /// Kills the master serving `slot`; its index.
    pub fn kill_master_of(&mut self, slot: u16) -> Result<usize, BrokerError> {
        let master =
            self.master_of_slot(slot).ok_or_else(|| start_error("redis-server", format!("slot {slot} unserved")))?;
        self.kill(master);
        Ok(master)
    }

    /// Waits until a master other than node `old` serves `slot` and the
    /// cluster is healthy again; the new master's index.
    pub fn wait_failover(&self, slot: u16, old: usize) -> Result<usize, BrokerError> {
        let new = poll("redis-server", "a replica promoted", FORMATION_LIMIT, || {
            self.master_of_slot(slot).filter(|&m| m != old).ok_or_else(|| format!("slot {slot} still on node {old}"))
        })?;
        self.wait_healthy()?;
        Ok(new)
    }

    /// Starts a killed node again (it rejoins as a replica) and waits until
    /// the cluster is healthy.
    pub fn restart(&mut self, i: usize) -> Result<(), BrokerError> {
        self.nodes[i].restart()?;
        self.wait_healthy()
    }

    /// Waits until every live node reports `cluster_state:ok` and sees
    /// every slot served by a master it considers up.
    pub fn wait_healthy(&self) -> Result<(), BrokerError> {
        poll("redis-server", "cluster_state:ok on every node", FORMATION_LIMIT, || {
            self.live()
                .all(|n| {
                    self.cli(n.port(), &["CLUSTER", "INFO"]).ok().is_some_and(|info| {
                        field(&info, "cluster_state").as_deref() == Some("ok")
                            && field(&info, "cluster_slots_ok").as_deref() == Some("16384")
                    })
                })
                .then_some(())
                .ok_or_else(|| "a node is not ok or misses slots".to_owned())
        })
    }

    fn live(&self) -> impl Iterator<Item = &BrokerProcess> {
        self.nodes.iter().filter(|n| n.is_running())
    }
}

/// How a node listens on `port`, and, when `secured`, its ACL user and TLS
/// settings (TLS on the cluster bus and to its master too).
fn listen_args(port: u16, secured: Option<&Secured>) -> Vec<String> {
    let Some(secured) = secured else { return vec!["--port".to_owned(), port.to_string()] };
    let mut args = Vec::new();
    for [name, value] in secured.tls_settings(port) {
        args.extend([format!("--{name}"), value]);
    }
    if secured.tls.is_some() {
        args.extend(["--tls-cluster", "yes"].map(str::to_owned));
    }
    // Each word of an ACL rule is its own argument (Redis quotes each).
    args.extend(["--user", "default", "off", "--user", DATA_USER, "on"].map(str::to_owned));
    args.extend([format!(">{DATA_PASSWORD}"), "~*".to_owned(), "&*".to_owned(), "+@all".to_owned()]);
    args.extend(["--masteruser", DATA_USER, "--masterauth", DATA_PASSWORD].map(str::to_owned));
    args
}
