//! A NATS cluster: `nats-server`s joined by routes.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use super::{FORMATION_LIMIT, poll, start_error};
use crate::broker::{BrokerError, BrokerProcess, free_port};

/// A cluster of `nats-server`s on loopback, every node routed to every
/// other (`--cluster`, `--routes`, cluster name `psrpc`). Nodes announce
/// each other to clients (`connect_urls` in `INFO`), so a client given one
/// URL learns the rest. Killed on drop.
///
/// ```no_run
/// let cluster = psrpc_test_support::topology::NatsCluster::start(3)?;
/// let urls = cluster.urls().join(","); // "nats://127.0.0.1:a,nats://127.0.0.1:b,…"
/// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
/// ```
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<Node>,
}

#[derive(Debug)]
struct Node {
    process: BrokerProcess,
    monitor: u16,
}

impl NatsCluster {
    /// Starts `size` nodes and waits until each has a route to every other.
    pub fn start(size: usize) -> Result<Self, BrokerError> {
        super::with_fresh_ports(|| Self::start_once(size))
    }

    /// One attempt of [`start`](Self::start).
    fn start_once(size: usize) -> Result<Self, BrokerError> {
        let ports: Vec<(u16, u16, u16)> = (0..size).map(|_| (free_port(), free_port(), free_port())).collect();
        let mut nodes = Vec::with_capacity(size);
        for (i, &(client, route, monitor)) in ports.iter().enumerate() {
            let routes: Vec<String> = ports
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &(_, r, _))| format!("nats://127.0.0.1:{r}"))
                .collect();
            let args = vec![
                "-a".to_owned(),
                "127.0.0.1".to_owned(),
                "-p".to_owned(),
                client.to_string(),
                "-m".to_owned(),
                monitor.to_string(),
                "--cluster_name".to_owned(),
                "psrpc".to_owned(),
                "--cluster".to_owned(),
                format!("nats://127.0.0.1:{route}"),
                "--routes".to_owned(),
                routes.join(","),
            ];
            nodes.push(Node { process: BrokerProcess::start("nats-server", args, client)?, monitor });
        }
        let cluster = NatsCluster { nodes };
        cluster.wait_formed()?;
        Ok(cluster)
    }

    /// The client URL of every node.
    pub fn urls(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.url(i)).collect()
    }

    /// The client URL of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].process.port())
    }

    /// How many nodes the cluster has.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// Kills node `i` (its clients move to the others).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].process.stop();
    }

    /// Starts a killed node `i` again and waits until the cluster is whole.
    pub fn restart(&mut self, i: usize) -> Result<(), BrokerError> {
        self.nodes[i].process.restart()?;
        self.wait_formed()
    }

    /// Waits until every node has a route to every other node.
    pub fn wait_formed(&self) -> Result<(), BrokerError> {
        let want = self.nodes.len() - 1;
        poll("nats-server", "a full mesh of routes", FORMATION_LIMIT, || {
            let counts: Vec<Option<usize>> = self.nodes.iter().map(|node| routes(node.monitor)).collect();
            counts
                .iter()
                .all(|n| n.is_some_and(|n| n >= want))
                .then_some(())
                .ok_or_else(|| format!("routes per node {counts:?}"))
        })
    }
}

/// The number of routes node with monitoring port `monitor` has (`/routez`).
fn routes(monitor: u16) -> Option<usize> {
    let body = http_get(monitor, "/routez").ok()?;
    let at = body.find("\"num_routes\":")? + "\"num_routes\":".len();
    let digits: String = body[at..].trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A plain HTTP/1.0 GET on loopback; the whole response.
fn http_get(port: u16, path: &str) -> Result<String, BrokerError> {
    let io = |e: std::io::Error| start_error("nats-server", e.to_string());
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(io)?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).map_err(io)?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(io)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(io)?;
    Ok(response)
}
