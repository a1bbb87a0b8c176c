//! Readiness probes: "subscribe means ready", on one server and across a
//! cluster.
//!
//! The bus subscribes a private subject once; a probe publishes a unique
//! token to it and waits for the token to come back. NATS processes one
//! connection's commands in order, so when the token arrives, every `SUB`
//! sent before it is active on the bus's own server.
//!
//! **In a cluster** that is not enough: the server tells the other nodes of
//! a new subscription asynchronously (over its routes), so a request
//! published through another node right after `subscribe` returned could
//! find no interest there and be dropped. So the bus also keeps one
//! *witness* connection on every node it knows (the URLs it was given and
//! the servers the cluster announces), each subscribed to the probe
//! subject, and a probe waits until every connected witness got the token
//! too. A server forwards a message over a route after the interest
//! changes it processed before it, in order, so a witness on node B
//! receiving the token proves B already knows every subscription made
//! before the probe. The token is republished every 20 ms until all
//! witnesses saw it (a witness whose own interest has not reached the
//! bus's node yet, just after it connected, gets a later copy).
//!
//! Cost: one idle connection per node per bus, and per subscribe one
//! round trip through the farthest route (sub-millisecond on one host).
//! A witness whose node is unreachable is not waited for: a dead node holds
//! no clients. A probe that is not confirmed within 5 s fails.
//!
//! A probe also serves to verify a command (see the `permissions` module):
//! a round trip of [`Reach::Own`] waits for the bus's own server only. When
//! the server reports that it refuses the probe subject itself (a user
//! whose permissions lack `NS._PSRPC.ready.*`, such as one of another
//! namespace), the probe fails at once with `permission_denied`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::connection::State;
use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::future::OptionFuture;
use parking_lot::Mutex;
use psrpc_protocol::bus::BusError;
use psrpc_protocol::namespace::{Namespace, nats_subject};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::permissions::{Mark, Operation, Permissions};

/// Who has seen each token in flight: receiver ids (0 = the bus's own
/// connection, then one per witness).
type Waiting = Arc<Mutex<HashMap<Bytes, HashSet<usize>>>>;

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const REPUBLISH_EVERY: Duration = Duration::from_millis(20);
const WITNESS_CONNECT: Duration = Duration::from_secs(1);
const OWN: usize = 0;

/// The probe subject of one bus, its receivers and the probes in flight.
#[derive(Debug)]
pub(crate) struct Probe {
    subject: String,
    waiting: Waiting,
    arrived: Arc<Notify>,
    own: JoinHandle<()>,
    /// Set when the bus knows how to connect (so it can reach every node).
    witnesses: Option<Witnesses>,
    /// The violations the server reports, when the bus watches them.
    permissions: Option<Arc<Permissions>>,
}

/// Which servers a round trip waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The bus's own server.
    Own,
    /// The bus's own server and every node of the cluster it can reach.
    Everywhere,
}

/// One connection per cluster node, each subscribed to the probe subject.
#[derive(Debug)]
struct Witnesses {
    options: async_nats::ConnectOptions,
    /// `host:port` of the URLs the bus was given.
    seeds: Vec<String>,
    /// By `host:port`.
    nodes: Mutex<HashMap<String, Witness>>,
    next_id: AtomicUsize,
}

#[derive(Debug)]
struct Witness {
    id: usize,
    client: async_nats::Client,
    task: JoinHandle<()>,
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for ProbeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeOptions").field("seeds", &self.seeds).finish_non_exhaustive()
    }
}

/// How to reach the other nodes of a cluster: the connect options and the
/// URLs the bus was given.
pub(crate) struct ProbeOptions {
    pub(crate) options: async_nats::ConnectOptions,
    pub(crate) seeds: Vec<String>,
}

impl Probe {
    /// Subscribes the bus's private probe subject; with `cluster` (how to
    /// connect), also on every node of a cluster.
    /// The subject is `_PSRPC.ready.<id>`, in the bus's namespace. With
    /// `permissions`, a first round trip verifies that the server lets the
    /// bus use the subject.
    pub(crate) async fn start(
        client: &async_nats::Client,
        cluster: Option<ProbeOptions>,
        namespace: Option<&Namespace>,
        permissions: Option<Arc<Permissions>>,
    ) -> Result<Self, BusError> {
        let subject = nats_subject(namespace, &format!("_PSRPC.ready.{}", psrpc_protocol::id::new_id(""))).into_owned();
        let waiting: Waiting = Arc::default();
        let arrived = Arc::new(Notify::new());
        let subscriber = client.subscribe(subject.clone()).await.map_err(BusError::unavailable)?;
        let own = tokio::spawn(receive(subscriber, OWN, Arc::clone(&waiting), Arc::clone(&arrived)));
        let witnesses = cluster.map(|c| Witnesses {
            options: c.options,
            seeds: c.seeds.iter().filter_map(|url| node_key(url)).collect(),
            nodes: Mutex::default(),
            next_id: AtomicUsize::new(1),
        });
        let verify = permissions.is_some();
        let probe = Probe { subject, waiting, arrived, own, witnesses, permissions };
        if verify {
            probe.round_trip(client, Reach::Own).await?;
        }
        probe.add_witnesses(client).await;
        Ok(probe)
    }

    /// On a cluster (several seeds, or a server announcing others), adds a
    /// witness on every node that has none yet.
    async fn add_witnesses(&self, client: &async_nats::Client) {
        let Some(witnesses) = &self.witnesses else { return };
        let announced = client.server_info().connect_urls;
        if announced.is_empty() && witnesses.seeds.len() <= 1 {
            return;
        }
        let mut nodes: HashSet<String> = witnesses.seeds.iter().cloned().collect();
        nodes.extend(announced.iter().filter_map(|url| node_key(url)));
        let known = witnesses.nodes.lock().keys().cloned().collect::<HashSet<_>>();
        let adding = nodes.into_iter().filter(|n| !known.contains(n)).map(|node| self.add_witness(witnesses, node));
        futures_util::future::join_all(adding).await;
    }

    /// Connects a witness to `node` (`host:port`).
    async fn add_witness(&self, witnesses: &Witnesses, node: String) {
        // Pinned to its node; connects (and reconnects) in the background,
        // so a node that is down now is waited for once it is back.
        let options = witnesses
            .options
            .clone()
            .ignore_discovered_servers()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .event_callback(|_| async {});
        let Ok(client) = options.connect(format!("nats://{node}")).await else {
            return tracing::debug!(%node, "psrpc nats: no readiness witness for this node");
        };
        let Ok(subscriber) = client.subscribe(self.subject.clone()).await else { return };
        // A live node is connected within a second; a dead one is not
        // waited for (it counts once it is back).
        let _ = tokio::time::timeout(WITNESS_CONNECT, client.flush()).await;
        let id = witnesses.next_id.fetch_add(1, Ordering::Relaxed);
        let task = tokio::spawn(receive(subscriber, id, Arc::clone(&self.waiting), Arc::clone(&self.arrived)));
        witnesses.nodes.lock().entry(node).or_insert(Witness { id, client, task });
    }

    /// Resolves once the bus's server (and with [`Reach::Everywhere`],
    /// every node of the cluster it can reach) has processed everything
    /// sent before it.
    pub(crate) async fn round_trip(&self, client: &async_nats::Client, reach: Reach) -> Result<(), BusError> {
        if reach == Reach::Everywhere {
            self.add_witnesses(client).await;
        }
        let token = Bytes::from(psrpc_protocol::id::new_id(""));
        self.waiting.lock().insert(token.clone(), HashSet::new());
        let outcome = tokio::time::timeout(PROBE_TIMEOUT, self.confirm(client, &token, reach)).await;
        self.waiting.lock().remove(&token);
        match outcome {
            Ok(result) => result,
            Err(_) => Err(BusError::unavailable(match reach {
                Reach::Everywhere => "subscription not confirmed by every server in time",
                Reach::Own => "the NATS server did not confirm in time",
            })),
        }
    }

    /// Publishes `token` until every receiver that must see it did.
    ///
    /// The first copy goes out at once, not on the republishing timer's
    /// first tick: the timer's resolution is a millisecond, which would
    /// add about a millisecond to every subscribe (a loopback round trip
    /// takes tens of microseconds).
    async fn confirm(&self, client: &async_nats::Client, token: &Bytes, reach: Reach) -> Result<(), BusError> {
        let publish = || client.publish(self.subject.clone(), token.clone());
        publish().await.map_err(BusError::unavailable)?;
        let mut republish = tokio::time::interval_at(tokio::time::Instant::now() + REPUBLISH_EVERY, REPUBLISH_EVERY);
        loop {
            let arrived = self.arrived.notified();
            let reported = OptionFuture::from(self.permissions.as_deref().map(Permissions::reported));
            self.refused()?;
            if self.confirmed(token, reach) {
                return Ok(());
            }
            tokio::select! {
                () = arrived => {}
                Some(()) = reported => {}
                _ = republish.tick() => publish().await.map_err(BusError::unavailable)?,
            }
        }
    }

    /// Fails when the server reported that it refuses the probe subject:
    /// no probe can then be confirmed.
    fn refused(&self) -> Result<(), BusError> {
        let Some(permissions) = &self.permissions else { return Ok(()) };
        let mut refusals = [Operation::Subscribe, Operation::Publish]
            .into_iter()
            .filter_map(|operation| permissions.refusal(Mark::default(), operation, &self.subject));
        match refusals.next() {
            Some(why) => Err(BusError::permission_denied(format!(
                "{why} (the bus's readiness probe: its user needs NS._PSRPC.ready.* of its namespace)"
            ))),
            None => Ok(()),
        }
    }

    /// Whether the own connection (and with [`Reach::Everywhere`], every
    /// connected witness) saw `token`.
    fn confirmed(&self, token: &Bytes, reach: Reach) -> bool {
        let waiting = self.waiting.lock();
        let Some(seen) = waiting.get(token) else { return false };
        if !seen.contains(&OWN) {
            return false;
        }
        reach == Reach::Own
            || self.witnesses.as_ref().is_none_or(|w| {
                w.nodes
                    .lock()
                    .values()
                    .all(|witness| witness.client.connection_state() != State::Connected || seen.contains(&witness.id))
            })
    }

    /// How many witness connections the probe holds (one per known node).
    pub(crate) fn witnesses(&self) -> usize {
        self.witnesses.as_ref().map_or(0, |w| w.nodes.lock().len())
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.own.abort();
    }
}

/// Records each token `subscriber` receives as seen by receiver `id`.
async fn receive(mut subscriber: async_nats::Subscriber, id: usize, waiting: Waiting, arrived: Arc<Notify>) {
    while let Some(message) = subscriber.next().await {
        if let Some(seen) = waiting.lock().get_mut(&message.payload) {
            seen.insert(id);
        }
        arrived.notify_waiters();
    }
}

/// `host:port` of a server URL (`nats://user:pw@host:port`, `tls://…`,
/// or a bare `host:port` as servers announce them).
pub(crate) fn node_key(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, hp)| hp).trim_end_matches('/');
    if host_port.is_empty() {
        return None;
    }
    Some(if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:4222") })
}

#[cfg(test)]
mod tests {
    use super::node_key;

    #[test]
    fn node_keys_drop_scheme_and_credentials() {
        assert_eq!(node_key("nats://127.0.0.1:4222").as_deref(), Some("127.0.0.1:4222"));
        assert_eq!(node_key("tls://ada:pw@nats.example:4443").as_deref(), Some("nats.example:4443"));
        assert_eq!(node_key("10.0.0.2:4223").as_deref(), Some("10.0.0.2:4223"));
        assert_eq!(node_key("nats://host").as_deref(), Some("host:4222"));
        assert_eq!(node_key(""), None);
    }
}
