//! One connection handle over a single server or a whole Redis Cluster.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};

/// A connection to one server (reconnecting by itself), or to a cluster
/// (routing each command to the node of its key's slot, reconnecting and
/// resubscribing by itself).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Whether this is a cluster connection.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// `SUBSCRIBE`s `channels` (on a cluster with `sharded`, `SSUBSCRIBE`s:
    /// sharded pub/sub exists only there).
    pub(crate) async fn subscribe(&mut self, channels: &[&str], sharded: bool) -> RedisResult<()> {
        match self {
            Conn::Single(c) => c.subscribe(channels).await,
            Conn::Cluster(c) if sharded => c.ssubscribe(channels).await,
            Conn::Cluster(c) => c.subscribe(channels).await,
        }
    }

    /// Undoes [`subscribe`](Self::subscribe).
    pub(crate) async fn unsubscribe(&mut self, channels: &[&str], sharded: bool) -> RedisResult<()> {
        match self {
            Conn::Single(c) => c.unsubscribe(channels).await,
            Conn::Cluster(c) if sharded => c.sunsubscribe(channels).await,
            Conn::Cluster(c) => c.unsubscribe(channels).await,
        }
    }

    /// A `PING` (on a cluster, to any one node: a dead node that a replica
    /// replaced must not keep the bus down).
    pub(crate) async fn ping(&mut self) -> RedisResult<()> {
        self.on_any_node::<String>(redis::cmd("PING")).await.map(drop)
    }

    /// Runs `command`, which names no key, on the server (on a cluster, on
    /// any one node).
    pub(crate) async fn on_any_node<T: FromRedisValue>(&mut self, command: Cmd) -> RedisResult<T> {
        match self {
            Conn::Single(c) => command.query_async(c).await,
            Conn::Cluster(c) => {
                let value = c.route_command(command, RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random)).await?;
                redis::from_redis_value(value).map_err(Into::into)
            }
        }
    }
}
