//! Discovery on every bus: servers announce themselves and answer ping,
//! info and stats; a registry on another connection lists them, watches
//! them come and go and waits for them; calls fail early when their server
//! vanishes, are checked against the registry, and stick to one server per key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use psrpc::discovery::wire::Want;
use psrpc::discovery::{DiscoveryOptions, Registry, RegistryEvent, RegistryOptions, sticky_server};
use psrpc::{
    ClientOptions, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer,
    Selection, ServerOptions, SharedBus,
};
use psrpc_integration_tests::{Note, talk};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::faulty::CuttableBus;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use psrpc_test_support::unique_name;
use tokio::time::Instant;

static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
static ROOM: MethodInfo = MethodInfo::new("Room", MethodKind::Unary(Selection::Affinity { topics: true }));
static HANG: MethodInfo = MethodInfo::new("Hang", MethodKind::Unary(Selection::Queue { topics: false }));
static TALK: MethodInfo = MethodInfo::new("Talk", MethodKind::Stream(Selection::Queue { topics: false }));
static NOBODY: MethodInfo = MethodInfo::new("Nobody", MethodKind::Unary(Selection::Queue { topics: false }));

type Connect = Arc<dyn Fn() -> BoxFuture<'static, SharedBus> + Send + Sync>;

const BEAT: Duration = Duration::from_millis(200);

fn server_options() -> ServerOptions {
    let discovery = DiscoveryOptions::default().version("9.9.9").metadata("zone", "z1").heartbeat_interval(BEAT);
    ServerOptions::default().discovery(discovery)
}

async fn echo(ctx: RequestContext, note: Note) -> Result<Note, Error> {
    if note.text == "fail" {
        return Err(Error::new(ErrorCode::Internal, "asked to fail"));
    }
    Ok(Note { text: format!("{} from {}", note.text, ctx.server_id()) })
}

async fn serve(connect: &Connect, service: &str) -> RpcServer {
    let server = RpcServer::new(service.to_owned(), connect().await, server_options());
    server.register_unary(&ECHO, vec![], echo, None).await.expect("register Echo");
    server.register_unary(&ROOM, vec!["lobby".into()], echo, None).await.expect("register Room");
    server.register_stream(&TALK, vec![], talk, None).await.expect("register Talk");
    server
}

async fn registry(connect: &Connect) -> Registry {
    Registry::new(connect().await, RegistryOptions::default()).await.expect("registry")
}

/// Waits (on the registry's events) until `holds` is true of it.
async fn until(registry: &Registry, what: &str, holds: impl Fn(&Registry) -> bool) {
    let mut events = registry.watch();
    // A minute tells a hang from a slow machine; it bounds no timing.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !holds(registry) {
        let event = tokio::time::timeout_at(deadline, events.recv()).await;
        assert!(event.is_ok(), "timed out waiting until {what}");
    }
}

/// Waits until `count` servers of `service` serve all three methods.
async fn until_serving(registry: &Registry, service: &str, count: usize) {
    until(registry, "every server serves every method", |r| {
        let all = ["Echo", "Talk"].iter().all(|m| r.servers_of(service, m, &[]).len() == count);
        all && r.servers_of(service, "Room", &["lobby".into()]).len() == count
    })
    .await;
}

/// Discovery: ping, info, stats, instances, watch and wait_for.
async fn discovery(connect: Connect) {
    let service = unique_name("Disc");
    let registry = registry(&connect).await;
    let mut events = registry.watch();
    let waiting = {
        let (registry, service) = (registry.clone(), service.clone());
        tokio::spawn(async move { registry.wait_for(&service, Duration::from_secs(5)).await })
    };
    let server = serve(&connect, &service).await;
    let up = waiting.await.expect("task").expect("the service came up");
    assert_eq!(up.len(), 1);
    until_serving(&registry, &service, 1).await;
    let instance = registry.instances(&service).into_iter().next().expect("listed");
    assert_eq!((instance.server_id.as_str(), instance.version.as_str()), (server.id(), "9.9.9"));
    assert_eq!(instance.metadata.get("zone").map(String::as_str), Some("z1"));
    assert!(instance.serves("Room", &["lobby".into()]) && !instance.serves("Room", &["attic".into()]));
    let names: Vec<&str> = instance.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["Echo", "Room", "Talk"]);
    assert_eq!(instance.methods[1].kind, "unary:affinity:topics");
    loop {
        match events.recv().await.expect("events") {
            RegistryEvent::Up(i) if i.server_id == server.id() => break,
            _ => {}
        }
    }

    let client = RpcClient::new(service.clone(), connect().await, ClientOptions::default()).await.expect("client");
    for text in ["a", "b", "fail"] {
        let _ =
            client.request_single::<Note, Note>(&ECHO, vec![], &Note { text: text.into() }, Default::default()).await;
    }
    let pings = registry.query(Want::Ping, &service, Duration::from_secs(2)).await.expect("ping");
    assert_eq!(pings.len(), 1);
    assert!(pings[0].methods.is_empty() && pings[0].stats.is_empty(), "a ping is identity only");
    let stats = registry.query(Want::Stats, &service, Duration::from_secs(2)).await.expect("stats");
    let echo = stats[0].stats.iter().find(|s| s.method == "Echo").expect("Echo stats");
    assert_eq!((echo.requests, echo.errors, echo.in_flight), (3, 1, 0));
    assert!(echo.p50_micros > 0 && echo.p99_micros >= echo.p50_micros);
    let info = registry.query(Want::Info, &service, Duration::from_secs(2)).await.expect("info");
    assert_eq!(info[0].methods.len(), 3);

    server.deregister("Room", &["lobby".into()]).await;
    loop {
        match events.recv().await.expect("events") {
            RegistryEvent::Changed(i) if i.server_id == server.id() && !i.serves("Room", &["lobby".into()]) => break,
            _ => {}
        }
    }
    server.shutdown().await;
    loop {
        match events.recv().await.expect("events") {
            RegistryEvent::Down { server_id, .. } if server_id == server.id() => break,
            _ => {}
        }
    }
    assert!(registry.instances(&service).is_empty());
    let err = registry.wait_for(&service, Duration::from_millis(50)).await.expect_err("gone");
    assert_eq!(err.code(), ErrorCode::Unavailable);
}

/// A call whose server vanishes fails `unavailable` once the registry sees
/// the server go (two heartbeat intervals of silence), not at its timeout.
async fn fails_early(connect: Connect) {
    let service = unique_name("Early");
    let bus = CuttableBus::new(connect().await);
    let server = RpcServer::new(service.clone(), bus.clone() as SharedBus, server_options());
    let (arrived, mut arrivals) = tokio::sync::mpsc::channel::<()>(1);
    let hang = move |_: RequestContext, _: Note| {
        let arrived = arrived.clone();
        async move {
            let _ = arrived.send(()).await;
            std::future::pending::<Result<Note, Error>>().await
        }
    };
    server.register_unary(&HANG, vec![], hang, None).await.expect("register");
    let registry = registry(&connect).await;
    until(&registry, "Hang is served", |r| !r.servers_of(&service, "Hang", &[]).is_empty()).await;
    let options = ClientOptions::default().registry(registry).timeout(Duration::from_secs(10));
    let client = RpcClient::new(service.clone(), connect().await, options).await.expect("client");
    let call = tokio::spawn(async move {
        client.request_single::<Note, Note>(&HANG, vec![], &Note::default(), Default::default()).await
    });
    arrivals.recv().await.expect("the request reached the server");
    bus.cut();
    // `unavailable` naming the server, not the call's `deadline_exceeded`
    // after 10 s: the registry saw the server go.
    let err = call.await.expect("task").expect_err("the server vanished");
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    assert!(err.message().contains(server.id()), "{err}");
}

/// Registry-checked calls fail at once, naming what is missing.
async fn checked(connect: Connect) {
    let service = unique_name("Checked");
    let server = serve(&connect, &service).await;
    let registry = registry(&connect).await;
    until_serving(&registry, &service, 1).await;
    // A selection timeout beyond the call's own: a call that waited for it
    // would end `deadline_exceeded`, not with the registry's answer.
    let options = ClientOptions::default()
        .registry(registry.clone())
        .check_registry(true)
        .selection_timeout(Duration::from_secs(3_600))
        .timeout(Duration::from_secs(20));
    let client = RpcClient::new(service.clone(), connect().await, options.clone()).await.expect("client");
    let note = Note { text: "hi".into() };
    let ok = client.request_single::<Note, Note>(&ECHO, vec![], &note, Default::default()).await.expect("served");
    assert_eq!(ok.server_id, server.id());

    let err = client.request_single::<Note, Note>(&NOBODY, vec![], &note, Default::default()).await.expect_err("none");
    assert_eq!(err.code(), ErrorCode::Unimplemented);
    assert!(err.message().contains(&service) && err.message().contains("Nobody"), "{err}");
    let err = client
        .request_single::<Note, Note>(&ROOM, vec!["attic".into()], &note, Default::default())
        .await
        .expect_err("no such topic");
    assert_eq!(err.code(), ErrorCode::Unavailable);
    assert!(err.message().contains("Room") && err.message().contains("attic"), "{err}");
    let ghost = RpcClient::new(unique_name("Ghost"), connect().await, options).await.expect("client");
    let err = ghost.request_single::<Note, Note>(&ECHO, vec![], &note, Default::default()).await.expect_err("none");
    assert_eq!(err.code(), ErrorCode::Unavailable);
    let err = ghost.open_stream::<Note, Note>(&TALK, vec![], Default::default()).await.expect_err("none");
    assert_eq!(err.code(), ErrorCode::Unavailable);
    server.shutdown().await;
}

/// Sticky calls: a key always reaches one server (affinity, queue and
/// stream methods); a leaving server moves only its keys.
async fn sticky(connect: Connect) {
    let service = unique_name("Sticky");
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(serve(&connect, &service).await);
    }
    let registry = registry(&connect).await;
    until_serving(&registry, &service, 3).await;
    let client = RpcClient::new(service.clone(), connect().await, ClientOptions::default().registry(registry.clone()))
        .await
        .expect("client");
    let keys: Vec<String> = (0..24).map(|i| format!("key-{i}")).collect();
    let mut placed: HashMap<String, String> = HashMap::new();
    for key in &keys {
        let sticky = || RequestOptions::default().sticky(key.clone());
        let note = Note { text: key.clone() };
        let a = client.request_single::<Note, Note>(&ECHO, vec![], &note, sticky()).await.expect("queue");
        let b = client.request_single::<Note, Note>(&ECHO, vec![], &note, sticky()).await.expect("queue again");
        let c = client.request_single::<Note, Note>(&ROOM, vec!["lobby".into()], &note, sticky()).await.expect("room");
        assert_eq!((&a.server_id, &b.server_id), (&c.server_id, &c.server_id), "{key}: one server");
        let ids = registry.servers_of(&service, "Echo", &[]);
        assert_eq!(Some(a.server_id.as_str()), sticky_server(key, &ids));
        let stream = client.open_stream::<Note, Note>(&TALK, vec![], sticky()).await.expect("open");
        stream.send(&note).await.expect("send");
        let mut stream = stream;
        let reply = stream.recv().await.expect("recv").expect("a reply");
        assert!(reply.text.ends_with(&a.server_id), "{key}: stream on {}", reply.text);
        stream.close(None).await.expect("close");
        placed.insert(key.clone(), a.server_id);
    }
    assert!(placed.values().collect::<std::collections::HashSet<_>>().len() > 1, "keys spread");

    let leaving = servers.remove(0);
    let leaving_id = leaving.id().to_owned();
    leaving.shutdown().await;
    until(&registry, "the leaving server is dropped", |r| r.instance(&leaving_id).is_none()).await;
    for key in &keys {
        let note = Note { text: key.clone() };
        let options = RequestOptions::default().sticky(key.clone());
        let now = client.request_single::<Note, Note>(&ECHO, vec![], &note, options).await.expect("after");
        if placed[key] != leaving_id {
            assert_eq!(now.server_id, placed[key], "{key} did not belong to the leaving server and stays");
        } else {
            assert_ne!(now.server_id, leaving_id);
        }
    }
    let plain = RpcClient::new(service.clone(), connect().await, ClientOptions::default()).await.expect("client");
    let err = plain
        .request_single::<Note, Note>(&ECHO, vec![], &Note::default(), RequestOptions::default().sticky("k"))
        .await
        .expect_err("no registry");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    for server in servers {
        server.shutdown().await;
    }
}

/// Connections to the in-process bus: all the same bus.
fn local_bus() -> Connect {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    Arc::new(move || {
        let bus = bus.clone();
        Box::pin(async move { bus })
    })
}

/// New connections to the broker at `url` (NATS or Redis by scheme).
fn broker_bus(url: String) -> Connect {
    Arc::new(move || {
        let url = url.clone();
        Box::pin(async move { psrpc_test_support::factory::connect(&url).await })
    })
}

macro_rules! on_every_bus {
    ($($scenario:ident),*) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::local_bus()).await;
                }
            )*
        }
        mod nats {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(broker) = super::skip_or_fail(super::NatsServer::start()) else { return };
                    super::$scenario(super::broker_bus(broker.url().to_owned())).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(broker) = super::skip_or_fail(super::RedisServer::start()) else { return };
                    super::$scenario(super::broker_bus(broker.url().to_owned())).await;
                }
            )*
        }
    };
}

on_every_bus!(discovery, fails_early, checked, sticky);

/// The topics of `method` in a heartbeat frame.
fn topics_in_heartbeat(frame: bytes::Bytes, method: &str) -> usize {
    let message = psrpc_protocol::frame::decode_frame(frame).expect("a heartbeat frame");
    let report = <psrpc::discovery::wire::Report as prost::Message>::decode(message.value).expect("a report");
    report.methods.iter().filter(|m| m.name == method).map(|m| m.topics.len()).sum()
}

/// A server registering many topics one after another announces them in a
/// few heartbeats, not one per registration (each report walks every
/// topic). Paused time: the registrations yield between each other, as a
/// broker round trip would, but no time passes during the burst.
#[tokio::test(start_paused = true)]
async fn a_burst_of_registrations_is_announced_together() {
    const TOPICS: usize = 200;
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let mut heartbeats = bus.subscribe(&psrpc::discovery::wire::heartbeat_channel(), 4096).await.expect("subscribe");
    let server = RpcServer::new("Burst", bus, ServerOptions::default().discovery(DiscoveryOptions::default()));
    for i in 0..TOPICS {
        server.register_unary(&ROOM, vec![format!("room{i}")], echo, None).await.expect("register");
        tokio::task::yield_now().await;
    }
    let mut sent = 0;
    loop {
        let frame = heartbeats.recv().await.expect("heartbeats").expect("a frame");
        sent += 1;
        if topics_in_heartbeat(frame, "Room") == TOPICS {
            break;
        }
    }
    // The periodic heartbeat at start, one for the burst, at most one more.
    assert!(sent <= 3, "{sent} heartbeats for a burst of {TOPICS} registrations");
    server.shutdown().await;
}
