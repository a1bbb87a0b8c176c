//! The broker topologies a soak runs on, started with psrpc-test-support's
//! launchers on free loopback ports, and the faults the orchestrator can
//! inflict on them.
//!
//! | topology | bus URL given to workers | broker nodes (kill, pause) | connection cut |
//! |---|---|---|---|
//! | `nats` | a TCP [`Proxy`] in front of one `nats-server` | the server | the proxy drops every connection |
//! | `nats-cluster` | every node's URL (`nats://a,nats://b,nats://c`) | each of 3 nodes | none: clients follow the cluster to other nodes; killing a node cuts its connections |
//! | `redis` | `redis://` | the server | `CLIENT KILL TYPE normal` and `TYPE pubsub` |
//! | `redis-sentinel` | `redis+sentinel://` (3 Sentinels) | the current master | `CLIENT KILL` on the current master |
//! | `redis-cluster` | `redis+cluster://` (3 masters, 3 replicas) | each of 6 nodes | `CLIENT KILL` on every node |
//!
//! Killing a Sentinel topology's master makes the Sentinels fail over; it
//! comes back as a replica. Every restart waits until the topology is whole
//! again (psrpc-test-support's launchers wait for it).

pub(crate) mod proxy;

use std::fmt;

use anyhow::Context as _;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use psrpc_test_support::topology::{NatsCluster, RedisCluster, RedisSentinel};

use self::proxy::Proxy;

/// A broker topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Topology {
    /// One `nats-server`, behind a proxy.
    Nats,
    /// Three routed `nats-server`s.
    NatsCluster,
    /// One `redis-server`.
    Redis,
    /// A Redis primary and replica watched by three Sentinels.
    RedisSentinel,
    /// A Redis Cluster of three masters with a replica each.
    RedisCluster,
}

impl Topology {
    /// Every topology, in the order `--topology all` runs them.
    pub(crate) const ALL: [Topology; 5] =
        [Topology::Nats, Topology::NatsCluster, Topology::Redis, Topology::RedisSentinel, Topology::RedisCluster];

    /// How many broker nodes faults can pick from.
    pub(crate) fn broker_nodes(self) -> usize {
        match self {
            Topology::Nats | Topology::Redis | Topology::RedisSentinel => 1,
            Topology::NatsCluster => 3,
            Topology::RedisCluster => 6,
        }
    }

    /// Whether the orchestrator can cut the workers' connections without
    /// killing a node.
    pub(crate) fn can_cut(self) -> bool {
        self != Topology::NatsCluster
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Topology::Nats => "nats",
            Topology::NatsCluster => "nats-cluster",
            Topology::Redis => "redis",
            Topology::RedisSentinel => "redis-sentinel",
            Topology::RedisCluster => "redis-cluster",
        })
    }
}

/// A started topology: its processes die when it is dropped.
#[derive(Debug)]
pub(crate) enum Running {
    /// One `nats-server` behind a proxy.
    Nats {
        /// The server.
        server: NatsServer,
        /// The proxy the workers connect through.
        proxy: Proxy,
    },
    /// A NATS cluster.
    NatsCluster(NatsCluster),
    /// One `redis-server`.
    Redis(RedisServer),
    /// Redis with Sentinels; `killed` is the data node killed last.
    RedisSentinel {
        /// The topology.
        topology: RedisSentinel,
        /// The data node killed last, to restart.
        killed: Option<usize>,
    },
    /// A Redis Cluster.
    RedisCluster(RedisCluster),
}

impl Running {
    /// Starts `topology` and waits until it is formed (blocking).
    pub(crate) fn start(topology: Topology, runtime: &tokio::runtime::Handle) -> anyhow::Result<Running> {
        Ok(match topology {
            Topology::Nats => {
                let server = NatsServer::start_own()?;
                let port = port_of(server.url())?;
                Running::Nats { server, proxy: Proxy::start(runtime, port)? }
            }
            Topology::NatsCluster => Running::NatsCluster(NatsCluster::start(3)?),
            Topology::Redis => Running::Redis(RedisServer::start_own()?),
            Topology::RedisSentinel => Running::RedisSentinel { topology: RedisSentinel::start()?, killed: None },
            Topology::RedisCluster => Running::RedisCluster(RedisCluster::start(3)?),
        })
    }

    /// The bus URL workers connect with (the library's URL forms).
    pub(crate) fn url(&self) -> String {
        match self {
            Running::Nats { proxy, .. } => format!("nats://127.0.0.1:{}", proxy.port()),
            Running::NatsCluster(cluster) => cluster.urls().join(","),
            Running::Redis(server) => server.url().to_owned(),
            Running::RedisSentinel { topology, .. } => topology.url(),
            Running::RedisCluster(cluster) => cluster.url(),
        }
    }

    /// Kills broker `node` with `SIGKILL` (blocking); what was killed.
    pub(crate) fn kill(&mut self, node: usize) -> anyhow::Result<String> {
        Ok(match self {
            Running::Nats { server, .. } => {
                server.stop();
                "nats-server".into()
            }
            Running::NatsCluster(cluster) => {
                cluster.kill(node);
                format!("nats-server node {node}")
            }
            Running::Redis(server) => {
                server.stop();
                "redis-server".into()
            }
            Running::RedisSentinel { topology, killed } => {
                let index = topology.kill_master()?;
                *killed = Some(index);
                format!("master (data node {index})")
            }
            Running::RedisCluster(cluster) => {
                let role = if cluster.masters().contains(&node) { "master" } else { "replica" };
                cluster.kill(node);
                format!("redis-server node {node} ({role})")
            }
        })
    }

    /// Starts killed broker `node` again and waits until the topology is
    /// whole (blocking).
    pub(crate) fn restart(&mut self, node: usize) -> anyhow::Result<()> {
        match self {
            Running::Nats { server, .. } => server.restart()?,
            Running::NatsCluster(cluster) => cluster.restart(node)?,
            Running::Redis(server) => server.restart()?,
            Running::RedisSentinel { topology, killed } => {
                let index = killed.take().context("no Sentinel data node was killed")?;
                topology.restart(index)?;
            }
            Running::RedisCluster(cluster) => cluster.restart(node)?,
        }
        Ok(())
    }

    /// The process id of broker `node`, to pause it.
    pub(crate) fn pid(&self, node: usize) -> anyhow::Result<u32> {
        let port = match self {
            Running::Nats { server, .. } => return server.pid().context("nats-server is not running"),
            Running::Redis(server) => return server.pid().context("redis-server is not running"),
            Running::NatsCluster(cluster) => port_of(&cluster.url(node))?,
            Running::RedisSentinel { topology, .. } => topology.master_port().context("no master known")?,
            Running::RedisCluster(cluster) => port_of(&cluster.addrs()[node])?,
        };
        pid_listening_on(port)
    }

    /// Cuts every client connection (blocking); how many were cut.
    pub(crate) fn cut(&self) -> anyhow::Result<usize> {
        match self {
            Running::Nats { proxy, .. } => Ok(proxy.cut()),
            Running::NatsCluster(_) => anyhow::bail!("a NATS cluster's connections are cut by killing a node"),
            Running::Redis(server) => client_kill(port_of(server.url())?),
            Running::RedisSentinel { topology, .. } => client_kill(topology.master_port().context("no master known")?),
            Running::RedisCluster(cluster) => {
                cluster.addrs().iter().map(|addr| client_kill(port_of(addr)?)).sum::<anyhow::Result<usize>>()
            }
        }
    }
}

/// The port at the end of `url` (`nats://127.0.0.1:4222`, `127.0.0.1:7000`).
fn port_of(url: &str) -> anyhow::Result<u16> {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .with_context(|| format!("no port in {url}"))
}

/// `CLIENT KILL TYPE normal` and `TYPE pubsub` on the Redis node at
/// `port`: every client connection but the asking one; how many.
fn client_kill(port: u16) -> anyhow::Result<usize> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut connection = client.get_connection()?;
    let mut killed = 0;
    for kind in ["normal", "pubsub"] {
        killed += redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg(kind).query::<usize>(&mut connection)?;
    }
    Ok(killed)
}

/// The process listening on `127.0.0.1:port`: the socket's inode from
/// `/proc/net/tcp`, then the process holding it (Linux).
fn pid_listening_on(port: u16) -> anyhow::Result<u32> {
    const LISTEN: &str = "0A";
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    let inode = table
        .lines()
        .skip(1)
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit(':').next()?;
            (u16::from_str_radix(local_port, 16).ok()? == port && *fields.get(3)? == LISTEN)
                .then(|| fields.get(9).map(|inode| format!("socket:[{inode}]")))?
        })
        .with_context(|| format!("nothing listens on port {port}"))?;
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == inode.as_str()))
        {
            return Ok(pid);
        }
    }
    anyhow::bail!("no process of ours holds the socket listening on port {port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_read_from_urls_and_addresses() {
        assert_eq!(port_of("nats://127.0.0.1:4222").expect("port"), 4222);
        assert_eq!(port_of("127.0.0.1:7000").expect("port"), 7000);
        assert!(port_of("redis://host").is_err());
    }

    #[test]
    fn the_listener_of_a_port_is_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert_eq!(pid_listening_on(port).expect("found"), std::process::id());
    }
}
