//! Where the bus's connections go: one server, the master a set of
//! Sentinels names (followed across failovers), or a Redis Cluster.
//!
//! With Sentinels, the bus asks them all (`SENTINEL MASTER`; a settled view
//! of the newest configuration wins) for the master's address when it connects, again
//! whenever a connection is lost, and when they announce a switch (see
//! `sentinel_watch`); if the master moved, the lost
//! connection is replaced by one to the new master (the subscriber
//! connection resubscribes every channel there), after checking that the
//! node answers `ROLE` as a master. Until then the connection counts as
//! down and calls fail at once with `unavailable`.

use std::time::Duration;

use parking_lot::RwLock;

use crate::cluster_node;
use crate::conn::Conn;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::TcpSettings;
use redis::{ProtocolVersion, PushInfo, RedisResult};
use tokio::sync::mpsc;

/// The servers a bus talks to.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// One server.
    Direct(redis::ConnectionInfo),
    /// The master named `master`, as the Sentinels at `sentinels` see it.
    Sentinel(Box<SentinelTarget>),
    /// A Redis Cluster reached through seed nodes.
    Cluster(ClusterTarget),
}

/// How frames travel on a Redis Cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClusterPubSub {
    /// `PUBLISH`/`SUBSCRIBE`: every node forwards every frame to every
    /// other node, so a subscriber on any node gets it; Go psrpc services
    /// on the same cluster see the frames. The default.
    #[default]
    Classic,
    /// `SPUBLISH`/`SSUBSCRIBE`: a channel lives on the node serving its
    /// slot and frames go there only, so pub/sub traffic spreads over the
    /// masters instead of reaching all of them. Go psrpc (classic
    /// `PUBLISH`) does not see these frames: for fleets of psrpc-rs
    /// services only.
    Sharded,
}

/// A Redis Cluster: seed nodes, how frames travel, and the certificates
/// of its TLS connections.
#[derive(Debug, Clone)]
pub(crate) struct ClusterTarget {
    /// Connection infos of the seed nodes.
    pub(crate) seeds: Vec<redis::ConnectionInfo>,
    pub(crate) pubsub: ClusterPubSub,
    /// A private CA or a client certificate (the seeds' `rediss` says TLS).
    pub(crate) certificates: Option<redis::TlsCertificates>,
}

/// A master known by name to a set of Sentinels.
#[derive(Debug, Clone)]
pub(crate) struct SentinelTarget {
    /// `host:port` of each Sentinel.
    sentinels: Vec<String>,
    /// The master's name.
    master: String,
    /// The connection settings for the data nodes (address excluded).
    node: redis::ConnectionInfo,
    /// The connection settings for the Sentinels (address excluded):
    /// their own credentials, TLS like the data nodes'.
    access: redis::ConnectionInfo,
}

impl SentinelTarget {
    /// The master `master` as the Sentinels at `sentinels` (`host:port`
    /// each) see it; `node` and `access` reach the data nodes and the
    /// Sentinels (their addresses are ignored).
    pub(crate) fn new(
        sentinels: Vec<String>,
        master: String,
        node: redis::ConnectionInfo,
        access: redis::ConnectionInfo,
    ) -> Self {
        SentinelTarget { sentinels, master, node, access }
    }

    /// How the data nodes are reached (address excluded).
    #[cfg(test)]
    pub(crate) fn node(&self) -> &redis::ConnectionInfo {
        &self.node
    }

    /// How the Sentinels are reached (address excluded).
    #[cfg(test)]
    pub(crate) fn access(&self) -> &redis::ConnectionInfo {
        &self.access
    }

    /// A client of the Sentinel at `sentinel` (`host:port`).
    pub(crate) fn client(&self, sentinel: &str) -> redis::RedisResult<redis::Client> {
        let (host, port) = sentinel
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.to_owned(), port.parse().ok()?)))
            .ok_or_else(|| io_error(format!("Sentinel {sentinel:?} is not host:port")))?;
        redis::Client::open(moved(&self.access, host, port))
    }

    /// The master's `host:port` in the newest configuration the Sentinels
    /// know. Every Sentinel is asked at once (`SENTINEL MASTER`, each
    /// within `timeout`), and the views with the highest `config-epoch`
    /// decide: a Sentinel that has not heard of the last failover yet names
    /// the old master, which may be answering again as a master after a
    /// stall, and what is published there reaches no one on the new one. Of
    /// the newest views, one that is settled wins: a Sentinel that sees the
    /// master down (`s_down`, `o_down`) or failing over names an address
    /// that may be about to change, and while every newest view is so, the
    /// bus stays where it is (down) and asks again. A Sentinel that does not
    /// answer delays this by up to `timeout`.
    pub(crate) async fn master_addr(&self, timeout: Duration) -> RedisResult<(String, u16)> {
        let asks = self.sentinels.iter().map(|sentinel| async move {
            let ask = async {
                let mut conn = self.client(sentinel)?.get_multiplexed_async_connection().await?;
                redis::cmd("SENTINEL")
                    .arg("MASTER")
                    .arg(&self.master)
                    .query_async::<std::collections::HashMap<String, String>>(&mut conn)
                    .await
            };
            match tokio::time::timeout(timeout, ask).await {
                Ok(Ok(view)) => Ok(view),
                Ok(Err(e)) => Err(format!("sentinel {sentinel}: {e}")),
                Err(_) => Err(format!("sentinel {sentinel}: no answer within {timeout:?}")),
            }
        });
        let answers = futures_util::future::join_all(asks).await;
        newest_master(&answers, &self.master).map_err(io_error)
    }

    /// The Sentinels at which the bus listens for master switches.
    pub(crate) fn sentinels(&self) -> &[String] {
        &self.sentinels
    }

    /// The master's name.
    pub(crate) fn master(&self) -> &str {
        &self.master
    }
}

/// The address in a Sentinel's `SENTINEL MASTER` reply, unless its flags
/// say the master is down or being replaced.
fn settled_master(view: &std::collections::HashMap<String, String>) -> Result<(String, u16), String> {
    let flags = view.get("flags").map(String::as_str).unwrap_or_default();
    if let Some(flag) = flags.split(',').find(|f| matches!(*f, "s_down" | "o_down" | "failover_in_progress")) {
        return Err(format!("is {flag}: its address may be about to change"));
    }
    let ip = view.get("ip").ok_or("has no address yet")?;
    let port = view.get("port").and_then(|p| p.parse().ok()).ok_or("has no port yet")?;
    Ok((ip.clone(), port))
}

/// The settled address among the newest views in `answers` (one per
/// Sentinel: its `SENTINEL MASTER` reply or why there is none), or why
/// there is none.
fn newest_master(
    answers: &[Result<std::collections::HashMap<String, String>, String>],
    master: &str,
) -> Result<(String, u16), String> {
    let epoch = |view: &std::collections::HashMap<String, String>| {
        view.get("config-epoch").and_then(|e| e.parse::<u64>().ok()).unwrap_or(0)
    };
    let views: Vec<_> = answers.iter().filter_map(|answer| answer.as_ref().ok()).collect();
    let Some(newest) = views.iter().map(|view| epoch(view)).max() else {
        let why: Vec<&str> = answers.iter().filter_map(|a| a.as_ref().err().map(String::as_str)).collect();
        return Err(if why.is_empty() { "no sentinel given".into() } else { why.join("; ") });
    };
    let mut unsettled = None;
    for view in views.into_iter().filter(|view| epoch(view) == newest) {
        match settled_master(view) {
            Ok(addr) => return Ok(addr),
            Err(why) => unsettled = Some(format!("master {master:?} {why} (config epoch {newest})")),
        }
    }
    Err(unsettled.unwrap_or_default())
}

pub(crate) fn io_error(message: String) -> redis::RedisError {
    std::io::Error::new(std::io::ErrorKind::NotConnected, message).into()
}

/// A connection and the node it goes to.
#[derive(Clone)]
pub(crate) struct Placed {
    pub(crate) conn: Conn,
    pub(crate) node: String,
}

/// The bus's target, its publisher connection, and how to make new ones.
pub(crate) struct Endpoint {
    target: Target,
    base: ConnectionManagerConfig,
    timeout: Duration,
    publisher: RwLock<Placed>,
    publisher_pushes: mpsc::UnboundedSender<PushInfo>,
    subscriber_pushes: mpsc::UnboundedSender<PushInfo>,
}

/// Push receivers of a new endpoint: the publisher's (disconnections) and
/// the subscriber's (messages and disconnections).
pub(crate) struct Pushes {
    pub(crate) publisher: mpsc::UnboundedReceiver<PushInfo>,
    pub(crate) subscriber: mpsc::UnboundedReceiver<PushInfo>,
}

impl Endpoint {
    /// Connects the publisher and the subscriber connection to `target`.
    pub(crate) async fn connect(target: Target, timeout: Duration) -> RedisResult<(Self, Placed, Pushes)> {
        // One quick retry per reconnect: the bus's links drive the reconnect
        // from then on, so a command never waits through a long backoff.
        let base = ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout))
            .set_number_of_retries(1);
        let (publisher_pushes, publisher_rx) = mpsc::unbounded_channel();
        let (subscriber_pushes, subscriber_rx) = mpsc::unbounded_channel();
        let cluster = match &target {
            // Sharded channels live on their slot's node: a cluster
            // connection routes them; classic ones go to one node (see
            // `cluster_node`).
            Target::Cluster(cluster) => Some((
                cluster_connection(cluster, timeout, None).await?,
                match cluster.pubsub {
                    ClusterPubSub::Sharded => {
                        Some(cluster_connection(cluster, timeout, Some(subscriber_pushes.clone())).await?)
                    }
                    ClusterPubSub::Classic => None,
                },
            )),
            _ => None,
        };
        if let Some((publisher, sharded)) = cluster {
            let endpoint = Endpoint {
                target,
                base,
                timeout,
                publisher: RwLock::new(publisher),
                publisher_pushes,
                subscriber_pushes,
            };
            let subscriber = match sharded {
                Some(subscriber) => subscriber,
                None => endpoint.subscriber_at(&locate(&endpoint.target, timeout).await?).await?,
            };
            return Ok((endpoint, subscriber, Pushes { publisher: publisher_rx, subscriber: subscriber_rx }));
        }
        let node = locate(&target, timeout).await?;
        let master = matches!(target, Target::Sentinel(_));
        let publisher = manager(&node, base.clone().set_push_sender(publisher_pushes.clone()), master).await?;
        let endpoint =
            Endpoint { target, base, timeout, publisher: RwLock::new(publisher), publisher_pushes, subscriber_pushes };
        let subscriber = endpoint.subscriber_at(&node).await?;
        Ok((endpoint, subscriber, Pushes { publisher: publisher_rx, subscriber: subscriber_rx }))
    }

    /// The current publisher connection.
    pub(crate) fn publisher(&self) -> Conn {
        self.publisher.read().conn.clone()
    }

    /// The `host:port` the publisher connection goes to (`cluster` on a
    /// cluster).
    pub(crate) fn publisher_node(&self) -> String {
        self.publisher.read().node.clone()
    }

    /// Whether channels are sharded (`SPUBLISH`/`SSUBSCRIBE`).
    pub(crate) fn sharded(&self) -> bool {
        matches!(&self.target, Target::Cluster(c) if c.pubsub == ClusterPubSub::Sharded)
    }

    /// Where a connection placed on `node` should go now, if that moved:
    /// the master the Sentinels name, or another cluster node for the
    /// classic subscriber (a cluster connection follows its nodes by
    /// itself).
    pub(crate) async fn moved_from(&self, node: &str) -> RedisResult<Option<redis::ConnectionInfo>> {
        let now = match &self.target {
            Target::Sentinel(_) => locate(&self.target, self.timeout).await?,
            Target::Cluster(cluster) if cluster.pubsub == ClusterPubSub::Classic => {
                cluster_node::subscriber_node(cluster, Some(node), self.timeout).await?
            }
            _ => return Ok(None),
        };
        Ok((node_name(&now) != node).then_some(now))
    }

    /// The node a classic subscriber connection goes to now (the master
    /// the Sentinels name, one node of a cluster), for a tap's connection.
    pub(crate) async fn subscriber_node(&self) -> RedisResult<redis::ConnectionInfo> {
        locate(&self.target, self.timeout).await
    }

    /// Replaces the publisher connection if the master moved (Sentinel
    /// only: on a cluster the publisher is a cluster connection).
    pub(crate) async fn follow_publisher(&self) -> RedisResult<()> {
        if !matches!(self.target, Target::Sentinel(_)) {
            return Ok(());
        }
        let node = self.publisher.read().node.clone();
        if let Some(now) = self.moved_from(&node).await? {
            let config = self.base.clone().set_push_sender(self.publisher_pushes.clone());
            let placed = manager(&now, config, true).await?;
            tracing::info!(from = %node, to = %placed.node, "psrpc redis: publisher follows the master");
            *self.publisher.write() = placed;
        }
        Ok(())
    }

    /// A new subscriber connection to `node` (it resubscribes by itself
    /// after reconnects to the same node).
    pub(crate) async fn subscriber_at(&self, node: &redis::ConnectionInfo) -> RedisResult<Placed> {
        let config = self.base.clone().set_push_sender(self.subscriber_pushes.clone()).set_automatic_resubscription();
        manager(node, config, matches!(self.target, Target::Sentinel(_))).await
    }
}

/// The `host:port` a connection info points at.
fn node_name(info: &redis::ConnectionInfo) -> String {
    match info.addr() {
        redis::ConnectionAddr::Tcp(host, port) | redis::ConnectionAddr::TcpTls { host, port, .. } => {
            format!("{host}:{port}")
        }
        other => other.to_string(),
    }
}

/// The connection info of the node to talk to now.
async fn locate(target: &Target, timeout: Duration) -> RedisResult<redis::ConnectionInfo> {
    match target {
        Target::Direct(info) => Ok(tuned(info)),
        Target::Cluster(cluster) => cluster_node::subscriber_node(cluster, None, timeout).await,
        Target::Sentinel(sentinel) => {
            let (host, port) = sentinel.master_addr(timeout).await?;
            Ok(at(&sentinel.node, host, port))
        }
    }
}

/// `like` (credentials, TLS, database) at `host:port` instead, [`tuned`].
pub(crate) fn at(like: &redis::ConnectionInfo, host: String, port: u16) -> redis::ConnectionInfo {
    tuned(&moved(like, host, port))
}

/// `like` (credentials, TLS, database) at `host:port` instead.
fn moved(like: &redis::ConnectionInfo, host: String, port: u16) -> redis::ConnectionInfo {
    let addr = match like.addr() {
        redis::ConnectionAddr::TcpTls { insecure, tls_params, .. } => {
            redis::ConnectionAddr::TcpTls { host, port, insecure: *insecure, tls_params: tls_params.clone() }
        }
        _ => redis::ConnectionAddr::Tcp(host, port),
    };
    like.clone().set_addr(addr)
}

/// `info` with RESP3 (pushes) and `TCP_NODELAY` (redis-rs leaves it off,
/// which adds up to 40 ms of delayed-ACK latency to small frames).
pub(crate) fn tuned(info: &redis::ConnectionInfo) -> redis::ConnectionInfo {
    let redis_settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
    info.clone().set_tcp_settings(TcpSettings::default().set_nodelay(true)).set_redis_settings(redis_settings)
}

/// A connection manager to `info`; if `master`, the node must answer
/// `ROLE` as a master.
async fn manager(info: &redis::ConnectionInfo, config: ConnectionManagerConfig, master: bool) -> RedisResult<Placed> {
    let client = redis::Client::open(info.clone())?;
    let mut conn = client.get_connection_manager_with_config(config).await?;
    if master {
        check_master(&mut conn).await?;
    }
    Ok(Placed { conn: Conn::Single(conn), node: node_name(info) })
}

/// A connection to the whole cluster (RESP3, `TCP_NODELAY`); pushes (its
/// subscriptions' messages) go to `pushes`.
async fn cluster_connection(
    cluster: &ClusterTarget,
    timeout: Duration,
    pushes: Option<mpsc::UnboundedSender<PushInfo>>,
) -> RedisResult<Placed> {
    let mut builder = redis::cluster::ClusterClientBuilder::new(cluster.seeds.clone())
        .use_protocol(ProtocolVersion::RESP3)
        .tcp_settings(TcpSettings::default().set_nodelay(true))
        .connection_timeout(timeout)
        .response_timeout(timeout);
    if let Some(certificates) = &cluster.certificates {
        builder = builder.certs(certificates.clone());
    }
    if let Some(pushes) = pushes {
        builder = builder.push_sender(pushes);
    }
    let conn = builder.build()?.get_async_connection().await?;
    Ok(Placed { conn: Conn::Cluster(conn), node: "cluster".into() })
}

/// Checks that `conn` talks to a master (`ROLE`), so a bus never settles
/// on a node a failover demoted.
async fn check_master(conn: &mut ConnectionManager) -> RedisResult<()> {
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(conn).await?;
    match role.first() {
        Some(redis::Value::BulkString(b)) if b == b"master" => Ok(()),
        Some(redis::Value::SimpleString(s)) if s == "master" => Ok(()),
        _ => Err(io_error("the node is not a master (a failover is under way)".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::{newest_master, settled_master};

    #[test]
    fn a_master_down_or_failing_over_is_not_settled() {
        let view = |flags: &str| {
            [("ip", "10.0.0.1"), ("port", "6379"), ("flags", flags)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<std::collections::HashMap<_, _>>()
        };
        assert_eq!(settled_master(&view("master")), Ok(("10.0.0.1".to_owned(), 6379)));
        for flags in ["master,s_down", "master,s_down,o_down", "master,failover_in_progress"] {
            let why = settled_master(&view(flags)).expect_err(flags);
            assert!(why.contains("may be about to change"), "{why}");
        }
        let mut no_port = view("master");
        no_port.remove("port");
        assert!(settled_master(&no_port).is_err());
    }

    #[test]
    fn the_newest_configuration_wins_over_a_sentinel_that_lags() {
        let view = |ip: &str, epoch: &str, flags: &str| {
            Ok([("ip", ip), ("port", "6379"), ("flags", flags), ("config-epoch", epoch)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<std::collections::HashMap<_, _>>())
        };
        let lagging = view("10.0.0.1", "4", "master");
        let switched = view("10.0.0.2", "5", "master");
        let switching = view("10.0.0.1", "5", "master,failover_in_progress");
        let gone = Err("sentinel c: connection refused".to_owned());
        let pick = |answers: &[_]| newest_master(answers, "m");
        assert_eq!(pick(&[lagging.clone(), switched.clone(), gone.clone()]), Ok(("10.0.0.2".to_owned(), 6379)));
        assert_eq!(pick(&[switching.clone(), lagging.clone(), switched]), Ok(("10.0.0.2".to_owned(), 6379)));
        // The only newest view is still failing over: no older view is taken.
        let why = pick(&[lagging.clone(), switching]).expect_err("unsettled");
        assert!(why.contains("config epoch 5"), "{why}");
        assert_eq!(pick(&[lagging, gone.clone()]), Ok(("10.0.0.1".to_owned(), 6379)));
        assert_eq!(pick(&[gone]), Err("sentinel c: connection refused".to_owned()));
    }
}
