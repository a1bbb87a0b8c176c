//! Where the subscriber connection of a Redis Cluster with classic pub/sub
//! goes: one node.
//!
//! Every node of a cluster forwards every classic `PUBLISH` to every other
//! node (replicas included), so one subscription on any one node receives
//! each frame exactly once. The bus keeps all its classic subscriptions on
//! one connection to one node, chosen among the seeds first (in random
//! order, so a fleet's subscribers spread over them), then among the nodes
//! the cluster names (`CLUSTER NODES`), preferring a node that reports
//! `cluster_state:ok`. When that node is lost, the subscriber moves to
//! another one and subscribes every channel there.
//!
//! A cluster connection would route each `SUBSCRIBE` by its channel's slot
//! and resubscribe by itself after reconnects; but a subscribe retried
//! while the slot's node was unreachable may land on another node, and the
//! later resubscription on the slot's node then made a second subscription,
//! so every frame of that channel arrived twice.

use std::time::Duration;

use rand::seq::SliceRandom as _;
use redis::aio::MultiplexedConnection;
use redis::{ConnectionInfo, RedisResult};

use crate::endpoint::{ClusterTarget, at, io_error, tuned};

/// The node the subscriber connection should use: `current` if it is still
/// a healthy member, otherwise the first healthy node (or, if none reports
/// `cluster_state:ok`, the first node that answers).
pub(crate) async fn subscriber_node(
    cluster: &ClusterTarget,
    current: Option<&str>,
    timeout: Duration,
) -> RedisResult<ConnectionInfo> {
    // The seeds in random order: the subscribers of a fleet spread over them.
    let mut candidates: Vec<ConnectionInfo> = cluster.seeds.iter().map(tuned).collect();
    candidates.shuffle(&mut rand::rng());
    if let Some(current) = current.and_then(|name| with_addr(&cluster.seeds[0], name)) {
        candidates.insert(0, current);
    }
    let mut reachable = None;
    let mut last = None;
    let mut named = false;
    let mut i = 0;
    while i < candidates.len() {
        let candidate = candidates[i].clone();
        i += 1;
        match tokio::time::timeout(timeout, probe(&candidate)).await {
            Ok(Ok(probe)) => {
                if probe.healthy {
                    return Ok(candidate);
                }
                if !named {
                    // The cluster's own list of nodes, once.
                    named = true;
                    for name in probe.nodes {
                        if let Some(info) = with_addr(&cluster.seeds[0], &name)
                            && !candidates.iter().any(|c| c.addr() == info.addr())
                        {
                            candidates.push(info);
                        }
                    }
                }
                reachable.get_or_insert(candidate);
            }
            Ok(Err(e)) => last = Some(e),
            Err(_) => last = Some(io_error(format!("{}: no answer within {timeout:?}", candidate.addr()))),
        }
    }
    reachable.ok_or_else(|| last.unwrap_or_else(|| io_error("no cluster node given".into())))
}

/// What a node says about the cluster.
struct Probe {
    /// `cluster_state:ok`.
    healthy: bool,
    /// `host:port` of every node it knows that is not failing.
    nodes: Vec<String>,
}

async fn probe(info: &ConnectionInfo) -> RedisResult<Probe> {
    let client = redis::Client::open(info.clone())?;
    let mut conn: MultiplexedConnection = client.get_multiplexed_async_connection().await?;
    let state: String = redis::cmd("CLUSTER").arg("INFO").query_async(&mut conn).await?;
    let healthy = state.lines().any(|line| line.trim() == "cluster_state:ok");
    let nodes = if healthy {
        Vec::new()
    } else {
        let listing: String = redis::cmd("CLUSTER").arg("NODES").query_async(&mut conn).await?;
        live_nodes(&listing)
    };
    Ok(Probe { healthy, nodes })
}

/// `host:port` of the nodes in a `CLUSTER NODES` listing that are neither
/// failing nor without an address.
fn live_nodes(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_id, addr, flags) = (fields.next()?, fields.next()?, fields.next()?);
            let failing = flags.split(',').any(|f| matches!(f, "fail" | "fail?" | "noaddr" | "handshake"));
            let addr = addr.split('@').next()?;
            (!failing && !addr.starts_with(':')).then(|| addr.to_owned())
        })
        .collect()
}

/// `like` at the node named `host:port`.
fn with_addr(like: &ConnectionInfo, name: &str) -> Option<ConnectionInfo> {
    let (host, port) = name.rsplit_once(':')?;
    Some(at(like, host.to_owned(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::live_nodes;

    #[test]
    fn failing_and_addressless_nodes_are_left_out() {
        let listing = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001 master,fail - 0 0 2 disconnected 5461-10922
c3 127.0.0.1:7002@17002 slave a1 0 0 1 connected
d4 :0@0 master,noaddr - 0 0 3 disconnected
e5 127.0.0.1:7004@17004 master,fail? - 0 0 4 connected 10923-16383
";
        assert_eq!(live_nodes(listing), ["127.0.0.1:7000", "127.0.0.1:7002"]);
    }
}
