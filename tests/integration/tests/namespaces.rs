//! Namespaces (docs/WIRE.md section 14): three deployments of one service
//! on one broker, in namespace `a`, in namespace `b` and in none, never see
//! each other's traffic. Every kind of call is answered only by the
//! caller's own deployment, subscribers receive only their deployment's
//! messages, and discovery lists only the deployment's own servers. On the
//! in-process bus, NATS, one Redis and a Redis Cluster.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use psrpc::discovery::wire::Want;
use psrpc::discovery::{Registry, RegistryOptions};
use psrpc::{
    ClientOptions, Delivery, Error, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer,
    Selection, ServerOptions, SharedBus,
};
use psrpc_integration_tests::{Note, talk};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::connect;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use psrpc_test_support::topology::RedisCluster;

static SINGLE: MethodInfo = MethodInfo::new("Single", MethodKind::Unary(Selection::Queue { topics: false }));
static ROOM: MethodInfo = MethodInfo::new("Room", MethodKind::Unary(Selection::Affinity { topics: true }));
static ALL: MethodInfo = MethodInfo::new("All", MethodKind::Multi { topics: true });
static TALK: MethodInfo = MethodInfo::new("Talk", MethodKind::Stream(Selection::Queue { topics: false }));
// Subscriptions live in a service of their own: on NATS a queue
// subscription shares the service's queue subject with its queue methods.
static EVERY: MethodInfo =
    MethodInfo::new("Every", MethodKind::Subscription { delivery: Delivery::Every, topics: false });
static QUEUED: MethodInfo =
    MethodInfo::new("Queued", MethodKind::Subscription { delivery: Delivery::Queue, topics: false });

/// New connections (processes) in one namespace, or in none.
type Connect = Arc<dyn Fn() -> BoxFuture<'static, SharedBus> + Send + Sync>;

async fn answer(ctx: RequestContext, note: Note) -> Result<Note, Error> {
    Ok(Note { text: format!("{} from {}", note.text, ctx.server_id()) })
}

/// One deployment: a server of every kind, a client, a publisher and
/// subscribers of both deliveries, and a registry.
struct Deployment {
    name: &'static str,
    server: RpcServer,
    client: RpcClient,
    publisher: RpcServer,
    /// Holds the subscriptions' connection.
    _subscriber: RpcClient,
    every: psrpc::TypedSubscription<Note>,
    queued: psrpc::TypedSubscription<Note>,
    registry: Registry,
}

impl Deployment {
    async fn start(name: &'static str, connect: &Connect) -> Self {
        let server = RpcServer::new("Ns", connect().await, ServerOptions::default());
        server.register_unary(&SINGLE, vec![], answer, None).await.expect("register Single");
        server.register_unary(&ROOM, vec!["lobby".into()], answer, None).await.expect("register Room");
        server.register_unary(&ALL, vec!["t".into()], answer, None).await.expect("register All");
        server.register_stream(&TALK, vec![], talk, None).await.expect("register Talk");
        let options = ClientOptions::default().timeout(Duration::from_secs(5));
        let client = RpcClient::new("Ns", connect().await, options.clone()).await.expect("client");
        let publisher = RpcServer::new("NsNews", connect().await, ServerOptions::default());
        let subscriber = RpcClient::new("NsNews", connect().await, options).await.expect("subscriber");
        let every = subscriber.subscribe::<Note>(&EVERY, vec![]).await.expect("subscribe Every");
        let queued = subscriber.subscribe::<Note>(&QUEUED, vec![]).await.expect("subscribe Queued");
        let registry = Registry::new(connect().await, RegistryOptions::default()).await.expect("registry");
        Deployment { name, server, client, publisher, _subscriber: subscriber, every, queued, registry }
    }

    fn own(&self, text: &str) -> String {
        format!("{text} from {}", self.server.id())
    }

    /// Every kind of call reaches this deployment's server only.
    async fn calls(&self) {
        let name = self.name;
        for n in 0..4 {
            let note = Note { text: format!("{name} single {n}") };
            let reply = self.client.request_single::<Note, Note>(&SINGLE, vec![], &note, RequestOptions::default());
            assert_eq!(reply.await.expect("single").message.text, self.own(&note.text), "{name}");
        }
        let note = Note { text: format!("{name} room") };
        let reply =
            self.client.request_single::<Note, Note>(&ROOM, vec!["lobby".into()], &note, RequestOptions::default());
        assert_eq!(reply.await.expect("affinity").message.text, self.own(&note.text), "{name}");

        // Collected until the timeout: every server that heard the request answers.
        let options = RequestOptions::default().timeout(Duration::from_millis(500));
        let note = Note { text: format!("{name} all") };
        let all = self.client.request_multi::<Note, Note>(&ALL, vec!["t".into()], &note, options);
        let answers = all.await.expect("multi").collect_all().await;
        let servers: BTreeSet<_> = answers.iter().map(|r| r.server_id.as_str()).collect();
        assert_eq!(servers, BTreeSet::from([self.server.id()]), "{name}: multi answered only by its own server");
        assert_eq!(answers[0].result.as_ref().expect("answer").text, self.own(&note.text));

        let mut stream =
            self.client.open_stream::<Note, Note>(&TALK, vec![], RequestOptions::default()).await.expect("open");
        let text = format!("{name} talk");
        stream.send(&Note { text: text.clone() }).await.expect("send");
        assert_eq!(stream.recv().await.expect("open stream").expect("reply").text, self.own(&text), "{name}");
        stream.close(None).await.expect("close");
    }

    /// Discovery lists this deployment's server only, and only it answers
    /// a query.
    async fn discovery(&self) {
        let listed = self.registry.wait_for("Ns", Duration::from_secs(30)).await.expect("own server listed");
        let ids: Vec<_> = listed.iter().map(|i| i.server_id.as_str()).collect();
        assert_eq!(ids, [self.server.id()], "{}: registry lists only its own server", self.name);
        let reports = self.registry.query(Want::Info, "", Duration::from_millis(500)).await.expect("query");
        let ids: BTreeSet<_> = reports.iter().map(|r| r.server_id.as_str()).collect();
        assert!(ids.contains(self.server.id()), "{}", self.name);
        assert!(
            ids.is_subset(&BTreeSet::from([self.server.id(), self.publisher.id()])),
            "{}: answered by {ids:?}",
            self.name
        );
    }
}

/// Publishes in every deployment in turn and checks that each subscriber
/// receives its own deployment's message first: a message published
/// earlier in another namespace would have come before it.
async fn subscriptions(deployments: &mut [Deployment]) {
    for own in deployments.iter_mut() {
        // Received before the next deployment publishes: the broker handled
        // this publish (and any cross-delivery) before the next one.
        let note = Note { text: format!("news from {}", own.name) };
        publish_and_receive(own, note, "its own message first").await;
    }
    for d in deployments.iter_mut() {
        let last = Note { text: format!("last of {}", d.name) };
        publish_and_receive(d, last, "nothing from another namespace").await;
    }
}

/// Publishes `note` to both subscriptions of `d` and checks that each
/// receives it next (`what` names the expectation).
async fn publish_and_receive(d: &mut Deployment, note: Note, what: &str) {
    d.publisher.publish(&EVERY, vec![], &note).await.expect("publish Every");
    d.publisher.publish(&QUEUED, vec![], &note).await.expect("publish Queued");
    assert_eq!(d.every.recv().await.expect("Every open"), note, "{}: {what}", d.name);
    assert_eq!(d.queued.recv().await.expect("Queued open"), note, "{}: {what}", d.name);
}

/// Namespace `a`, namespace `b` and no namespace on one broker.
async fn no_cross_talk(connect_in: impl Fn(Option<&'static str>) -> Connect) {
    let mut deployments = Vec::new();
    for (name, namespace) in [("a", Some("a")), ("b", Some("b")), ("none", None)] {
        deployments.push(Deployment::start(name, &connect_in(namespace)).await);
    }
    for d in &deployments {
        d.calls().await;
    }
    for d in &deployments {
        d.discovery().await;
    }
    subscriptions(&mut deployments).await;
    for d in deployments {
        d.server.shutdown().await;
    }
}

/// Connections to the broker at `url` with `?namespace=` added.
fn by_url(url: String) -> impl Fn(Option<&'static str>) -> Connect {
    move |namespace| {
        let url = match namespace {
            Some(ns) => format!("{url}?namespace={ns}"),
            None => url.clone(),
        };
        Arc::new(move || {
            let url = url.clone();
            Box::pin(async move { connect(&url).await })
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_local_bus() {
    let bus = psrpc::local::LocalBus::new();
    no_cross_talk(|namespace| {
        let bus: SharedBus = Arc::new(bus.in_namespace(namespace.map(|ns| ns.parse().expect("namespace"))));
        Arc::new(move || {
            let bus = bus.clone();
            Box::pin(async move { bus })
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats() {
    let Some(server) = skip_or_fail(NatsServer::start()) else { return };
    no_cross_talk(by_url(server.url().to_owned())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis() {
    let Some(server) = skip_or_fail(RedisServer::start()) else { return };
    no_cross_talk(by_url(server.url().to_owned())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster() {
    let Some(cluster) = skip_or_fail(RedisCluster::start(3)) else { return };
    no_cross_talk(by_url(cluster.url())).await;
}
