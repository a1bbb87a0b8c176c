//! Sampled claims in the native wire mode, on every bus: an AFFINITY call
//! from a client with a registry asks `d` servers, so its bus messages do
//! not grow with the fleet; it asks every server when the registry knows
//! none, or when its candidates died or none qualified; the best candidate
//! wins, at once. The in-process runs use a paused clock and also check
//! when each call ends.

use std::sync::Arc;
use std::time::Duration;

use psrpc::discovery::{DiscoveryOptions, Registry, RegistryOptions};
use psrpc::{
    AffinityFn, ClientOptions, Error, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer,
    Selection, SelectionOptions, ServerOptions, SharedBus, WireMode,
};
use psrpc_integration_tests::Note;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::{BrokerBus, BusFactory, SameBus};
use psrpc_test_support::faulty::CuttableBus;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use psrpc_test_support::unique_name;
use tokio::time::Instant;

static ROOM: MethodInfo = MethodInfo::new("Room", MethodKind::Unary(Selection::Affinity { topics: false }));

type Connect = Arc<dyn BusFactory>;

/// Long enough that no periodic heartbeat falls inside a measurement, and
/// that a cut server stays in the registry for the whole test.
const BEAT: Duration = Duration::from_secs(60);
/// Generous: on a loaded machine a live candidate must never be taken for a dead one.
const WINDOW: Duration = Duration::from_secs(5);
const SELECTION: Duration = Duration::from_secs(20);

async fn room(ctx: RequestContext, note: Note) -> Result<Note, Error> {
    Ok(Note { text: format!("{} from {}", note.text, ctx.server_id()) })
}

/// A server of `ROOM` in `mode` with `affinity`, on a connection of its
/// own whose publishes are counted (and can be cut); known to registries
/// only when `discovered`.
async fn serve_in(
    mode: WireMode,
    connect: &Connect,
    service: &str,
    affinity: f32,
    discovered: bool,
) -> (RpcServer, Arc<CuttableBus>) {
    let bus = CuttableBus::new(connect.connect().await);
    let discovery = match discovered {
        true => DiscoveryOptions::default().heartbeat_interval(BEAT),
        false => DiscoveryOptions::disabled(),
    };
    let options = ServerOptions::default().wire_mode(mode).discovery(discovery);
    let server = RpcServer::new(service.to_owned(), Arc::clone(&bus) as SharedBus, options);
    let scored: AffinityFn<Note> = Arc::new(move |_, _| affinity);
    server.register_unary(&ROOM, vec![], room, Some(scored)).await.expect("register Room");
    (server, bus)
}

/// A native server (see [`serve_in`]).
async fn serve(connect: &Connect, service: &str, affinity: f32, discovered: bool) -> (RpcServer, Arc<CuttableBus>) {
    serve_in(WireMode::Native, connect, service, affinity, discovered).await
}

/// A registry on a connection of its own that knows `count` servers of
/// `ROOM`, each native (taking sampled claims) exactly when `mode` is.
async fn registry(connect: &Connect, service: &str, count: usize, mode: WireMode) -> Registry {
    let registry = Registry::new(connect.connect().await, RegistryOptions::default()).await.expect("registry");
    let mut events = registry.watch();
    // A minute tells a hang from a slow machine; it bounds no timing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let known = |r: &Registry| {
        let native = mode == WireMode::Native;
        let serves = |i: &psrpc::discovery::Instance| i.methods.iter().any(|m| m.name == "Room" && m.direct == native);
        r.instances(service).iter().filter(|i| serves(i)).count()
    };
    while known(&registry) < count {
        let event = tokio::time::timeout_at(deadline, events.recv()).await;
        assert!(event.is_ok(), "the registry never saw {count} native servers of {service}");
    }
    registry
}

/// A client in `mode` with `registry`, on a connection of its own whose publishes are counted.
async fn client(connect: &Connect, service: &str, mode: WireMode, registry: Registry) -> (RpcClient, Arc<CuttableBus>) {
    let bus = CuttableBus::new(connect.connect().await);
    let options = ClientOptions::default().wire_mode(mode).registry(registry).timeout(SELECTION * 2);
    let options = options.selection_timeout(SELECTION).candidate_window(WINDOW);
    let client = RpcClient::new(service.to_owned(), Arc::clone(&bus) as SharedBus, options).await.expect("client");
    (client, bus)
}

async fn call(client: &RpcClient, options: RequestOptions) -> Result<psrpc::Reply<Note>, Error> {
    client.request_single(&ROOM, (), &Note { text: "hi".into() }, options).await
}

fn published(buses: &[Arc<CuttableBus>]) -> usize {
    buses.iter().map(|b| b.published()).sum()
}

const CALLS: usize = 10;

/// Frames published by everyone per call, over `CALLS` calls to `servers`
/// servers from a client in `mode`.
async fn per_call(connect: &Connect, servers: usize, mode: WireMode) -> usize {
    let service = unique_name("Sampled");
    let mut fleet = Vec::new();
    for _ in 0..servers {
        fleet.push(serve_in(mode, connect, &service, 0.5, true).await);
    }
    let registry = registry(connect, &service, servers, mode).await;
    let (client, client_bus) = client(connect, &service, mode, registry).await;
    let mut buses: Vec<Arc<CuttableBus>> = fleet.iter().map(|(_, bus)| Arc::clone(bus)).collect();
    buses.push(client_bus);
    let before = published(&buses);
    for _ in 0..CALLS {
        call(&client, RequestOptions::default()).await.expect("call");
    }
    (published(&buses) - before) / CALLS
}

async fn messages_per_call_do_not_grow_with_the_fleet(connect: Connect, _paused: bool) {
    // d = 2: the request and the decision to each candidate, their two
    // claims, one response. Every claim has arrived when the call ends (it
    // waits for both candidates), so the count is exact.
    let four = per_call(&connect, 4, WireMode::Native).await;
    let sixteen = per_call(&connect, 16, WireMode::Native).await;
    assert_eq!((four, sixteen), (7, 7), "native: 3d + 1 frames per call at 4 and at 16 servers");
    // Every server claims in the Go-compatible mode (those whose claim came
    // after the short circuit are not counted: at least the 3 frames of a call).
    let go = per_call(&connect, 16, WireMode::GoCompatible).await;
    assert!(go > sixteen, "Go-compatible at 16 servers: {go} frames per call, native {sixteen}");
}

async fn an_empty_registry_asks_every_server(connect: Connect, _paused: bool) {
    let service = unique_name("Unknown");
    let mut fleet = Vec::new();
    for _ in 0..3 {
        fleet.push(serve(&connect, &service, 0.5, false).await);
    }
    let (client, client_bus) =
        client(&connect, &service, WireMode::Native, registry(&connect, &service, 0, WireMode::Native).await).await;
    let reply = call(&client, RequestOptions::default()).await.expect("a server of the broadcast answers");
    assert!(fleet.iter().any(|(s, _)| s.id() == reply.server_id));
    assert_eq!(client_bus.published(), 2, "one request and one decision, both to every server");
}

async fn dead_candidates_widen_to_every_server(connect: Connect, paused: bool) {
    let service = unique_name("Widen");
    let dead = [serve(&connect, &service, 0.9, true).await, serve(&connect, &service, 0.9, true).await];
    let registry = registry(&connect, &service, 2, WireMode::Native).await;
    // Not in the registry: only a widened call reaches it.
    let (alive, _) = serve(&connect, &service, 0.5, false).await;
    for (_, bus) in &dead {
        bus.cut();
    }
    let (client, client_bus) = client(&connect, &service, WireMode::Native, registry).await;
    // The first waits for the short circuit after the alive server's claim.
    let selections = [
        (SelectionOptions::best_affinity(SELECTION), Duration::from_millis(200)),
        (SelectionOptions::first_available(SELECTION), Duration::ZERO),
    ];
    for (selection, short_circuit) in selections {
        let before = client_bus.published();
        let started = Instant::now();
        let reply = call(&client, RequestOptions::default().selection(selection.clone())).await;
        let reply = reply.unwrap_or_else(|e| panic!("{selection:?}: the widened call failed: {e}"));
        assert_eq!(reply.server_id, alive.id(), "{selection:?}");
        assert_eq!(client_bus.published() - before, 4, "2 requests to the candidates, 1 to everyone, 1 decision");
        if paused {
            assert_eq!(started.elapsed(), WINDOW + short_circuit, "{selection:?}");
        }
    }
}

async fn the_best_candidate_wins_at_once(connect: Connect, paused: bool) {
    let service = unique_name("Best");
    let low = serve(&connect, &service, 0.3, true).await;
    let high = serve(&connect, &service, 0.9, true).await;
    let registry = registry(&connect, &service, 2, WireMode::Native).await;
    let (client, client_bus) = client(&connect, &service, WireMode::Native, registry).await;
    for _ in 0..5 {
        let started = Instant::now();
        let reply = call(&client, RequestOptions::default()).await.expect("call");
        assert_eq!(reply.server_id, high.0.id(), "the higher affinity of the two candidates");
        if paused {
            assert_eq!(started.elapsed(), Duration::ZERO, "no short circuit once both candidates claimed");
        }
    }
    // Server-id routing asks the named server alone.
    let before = client_bus.published();
    let only = SelectionOptions::best_affinity(SELECTION).only_servers([low.0.id()]);
    let reply = call(&client, RequestOptions::default().selection(only)).await.expect("routed call");
    assert_eq!(reply.server_id, low.0.id());
    assert_eq!(client_bus.published() - before, 2, "one request and one decision, to the named server");
}

/// Connections to the in-process bus: all the same bus.
fn local_bus() -> Connect {
    Arc::new(SameBus(Arc::new(psrpc::local::LocalBus::new())))
}

/// New connections to the broker at `url` (NATS or Redis by scheme).
fn broker_bus(url: String) -> Connect {
    Arc::new(BrokerBus(url))
}

macro_rules! on_every_bus {
    ($($scenario:ident),*) => {
        mod local {
            $(
                #[tokio::test(start_paused = true)]
                async fn $scenario() {
                    super::$scenario(super::local_bus(), true).await;
                }
            )*
        }
        mod nats {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(broker) = super::skip_or_fail(super::NatsServer::start()) else { return };
                    super::$scenario(super::broker_bus(broker.url().to_owned()), false).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(broker) = super::skip_or_fail(super::RedisServer::start()) else { return };
                    super::$scenario(super::broker_bus(broker.url().to_owned()), false).await;
                }
            )*
        }
    };
}

on_every_bus!(
    messages_per_call_do_not_grow_with_the_fleet,
    an_empty_registry_asks_every_server,
    dead_candidates_widen_to_every_server,
    the_best_candidate_wins_at_once
);
