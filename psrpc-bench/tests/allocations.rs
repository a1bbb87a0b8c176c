//! Heap allocations per no-claim call, counted by the global allocator.
//!
//! The setup is psrpc-bench's `single-noclaim` kind: one server with a unary
//! single-server topic method echoing a 128-byte payload, one client, each on
//! its own bus connection, on a two-worker tokio runtime; calls are made one
//! at a time. The count is process-wide: every `alloc` and `realloc` of every
//! thread (client, server, both bus connections with their tasks, the tokio
//! runtime, and the caller's own topics vector), which is every allocation a
//! call causes when client and server are one process. Background work (the
//! NATS client's pings, the Redis connection's keep-alive) adds to it, so the
//! figure is the minimum over a few batches of sequential calls.
//!
//! `docs/BENCHMARKS.md` ("Allocations per call") lists what is left per call.
//! `PSRPC_ALLOC_REPORT=1 cargo test -p psrpc-bench --test allocations --
//! --nocapture` prints the counts of every bus.

use std::alloc::System;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use psrpc::{
    ClientOptions, Error, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection,
    ServerOptions, SharedBus,
};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The tests run one at a time, brokers' start and stop included: the
/// counter is process-wide.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Calls per batch, and batches; the figure is the batch with the fewest.
const CALLS: u64 = 2_000;
const BATCHES: usize = 5;

/// The bench's payload message (psrpc-bench's `Blob`).
#[derive(Clone, PartialEq, prost::Message)]
struct Blob {
    #[prost(bytes = "bytes", tag = "1")]
    data: bytes::Bytes,
}

static NOCLAIM: MethodInfo = MethodInfo::new("NoClaim", MethodKind::Unary(Selection::SingleServer));

async fn echo(_ctx: RequestContext, blob: Blob) -> Result<Blob, Error> {
    Ok(blob)
}

/// Allocations per call over `connect`'s buses: the fewest of [`BATCHES`]
/// batches of [`CALLS`] sequential calls, after a warm-up.
fn allocations_per_call(connect: impl AsyncFn() -> SharedBus) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let server = RpcServer::new("Bench", connect().await, ServerOptions::default().channel_capacity(100));
        server.register_unary(&NOCLAIM, vec!["t".into()], echo, None).await.expect("register");
        let options = ClientOptions::default().channel_capacity(100).timeout(Duration::from_secs(10));
        let client = RpcClient::new("Bench", connect().await, options).await.expect("client");
        let blob = Blob { data: bytes::Bytes::from(vec![0x5a; 128]) };
        let topics = vec!["t".to_owned()];
        let call = async || {
            let reply = client
                .request_single::<Blob, Blob>(&NOCLAIM, topics.clone(), &blob, RequestOptions::default())
                .await
                .expect("reply");
            assert_eq!(reply.message, blob);
        };
        for _ in 0..CALLS {
            call().await;
        }
        let mut fewest = u64::MAX;
        for _ in 0..BATCHES {
            let region = Region::new(ALLOCATOR);
            for _ in 0..CALLS {
                call().await;
            }
            let counted = region.change();
            fewest = fewest.min((counted.allocations + counted.reallocations) as u64);
        }
        drop((client, server));
        fewest as f64 / CALLS as f64
    })
}

/// Prints the figure (when `PSRPC_ALLOC_REPORT` is set) and checks it
/// against `bound`.
fn check(bus: &str, per_call: f64, bound: f64) {
    if std::env::var_os("PSRPC_ALLOC_REPORT").is_some() {
        println!("{bus}: {per_call:.2} allocations per no-claim call");
    }
    assert!(per_call <= bound, "{per_call} allocations per {bus} no-claim call, more than {bound}");
}

/// Measures and checks the calls over new connections to the broker at `url`.
fn check_broker(bus: &str, url: &str, bound: f64) {
    check(bus, allocations_per_call(async || factory::connect(url).await), bound);
}

/// What a NATS call allocated when this was written: 12 (20 before;
/// `docs/BENCHMARKS.md` lists each), plus one for background work.
const NATS_BOUND: f64 = 13.0;

/// The same on the in-process bus: 10 (20 before).
const LOCAL_BOUND: f64 = 11.0;

/// The same on Redis, where redis-rs allocates per command and reply: 58
/// (66 before).
const REDIS_BOUND: f64 = 60.0;

#[test]
fn a_nats_no_claim_call_allocates_within_its_bound() {
    let _serial = one_at_a_time();
    let Some(nats) = skip_or_fail(NatsServer::start_own()) else { return };
    check_broker("NATS", nats.url(), NATS_BOUND);
}

#[test]
fn a_redis_no_claim_call_allocates_within_its_bound() {
    let _serial = one_at_a_time();
    let Some(redis) = skip_or_fail(RedisServer::start_own()) else { return };
    check_broker("Redis", redis.url(), REDIS_BOUND);
}

#[test]
fn an_in_process_no_claim_call_allocates_within_its_bound() {
    let _serial = one_at_a_time();
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    check("in-process", allocations_per_call(async || Arc::clone(&bus)), LOCAL_BOUND);
}
