//! Claimed queue requests on a real Redis: every process sees the request at
//! once, and the queue lock taken together with the claim's PUBLISH lets
//! exactly one process claim it, with Go servers (plain `SET … NX`) as well
//! as with an ACL that refuses scripts.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use psrpc_bus_redis::{RedisBus, RedisBusOptions};
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::transport::bus::Subscription;
use psrpc_core::transport::channel::{Channel, claim_request_channel, request_channel};
use psrpc_core::{MethodInfo, MethodKind, RpcClient, RpcServer, Selection, SharedBus};
use psrpc_test_support::rpc_suite::{Ping, Pong, echo, ping};

const FRAMES: usize = 200;

/// The names and frames of one test: its own service, and request frames
/// (so queue locks) no other test on a shared Redis produces.
struct Names {
    service: String,
}

impl Names {
    fn new() -> Self {
        Names { service: psrpc_test_support::unique_name("Claimed") }
    }

    fn channels(&self) -> (Channel, Channel) {
        let service = self.service.as_str();
        (request_channel(service, "Work", &[] as &[&str], true), claim_request_channel(service, "CLI_claimed00000"))
    }

    fn request_frame(&self, n: usize) -> Bytes {
        let payload = format!("{}/{n}", self.service);
        Bytes::from(psrpc_test_support::handmade::frame("type.googleapis.com/internal.Request", payload.as_bytes(), ""))
    }
}

async fn next_frame(sub: &mut Subscription) -> Bytes {
    tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.expect("delivered").expect("open").expect("frame")
}

/// Two processes take every request frame; each tries to claim each one.
/// Returns how many claims each process published, and the claims seen on
/// the claim channel.
async fn two_processes_claim_every_frame(
    names: &Names,
    processes: [SharedBus; 2],
    watcher: SharedBus,
) -> ([usize; 2], usize) {
    let (requests, claims) = names.channels();
    let mut watch = watcher.subscribe(&claims, FRAMES * 2).await.expect("subscribe claims");
    let mut subs = Vec::new();
    for bus in &processes {
        subs.push(bus.subscribe_queue_claimed(&requests, FRAMES).await.expect("subscribe requests"));
    }
    for n in 0..FRAMES {
        watcher.publish(&requests, names.request_frame(n)).await.expect("publish request");
    }
    let mut published = [0usize; 2];
    for _ in 0..FRAMES {
        let a = next_frame(&mut subs[0]).await;
        let b = next_frame(&mut subs[1]).await;
        assert_eq!(a, b, "both processes see the same requests, in order");
        let claim = |i: usize| {
            let bus = Arc::clone(&processes[i]);
            let (queued, claims) = (a.clone(), claims.clone());
            async move { bus.publish_claim(&queued, &claims, Bytes::from(format!("claim by {i}"))).await }
        };
        let (won_a, won_b) = tokio::join!(claim(0), claim(1));
        let (won_a, won_b) = (won_a.expect("claim a"), won_b.expect("claim b"));
        assert!(won_a ^ won_b, "exactly one process claims each request (a: {won_a}, b: {won_b})");
        published[usize::from(won_b)] += 1;
    }
    // A sentinel published after every claim: everything before it has arrived.
    watcher.publish(&claims, Bytes::from_static(b"end")).await.expect("sentinel");
    let mut seen = 0;
    while next_frame(&mut watch).await != "end" {
        seen += 1;
    }
    (published, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_claims_each_request_and_the_claim_goes_out_once() {
    let Some(redis) = common::server() else { return };
    let processes = [common::bus(&redis).await, common::bus(&redis).await];
    let names = Names::new();
    let (published, seen) = two_processes_claim_every_frame(&names, processes, common::bus(&redis).await).await;
    assert_eq!(published.iter().sum::<usize>(), FRAMES);
    assert_eq!(seen, FRAMES, "one claim per request reached the client");
    assert!(published.iter().all(|&p| p > 0), "both processes won some: {published:?}");
}

#[tokio::test]
async fn a_request_locked_by_a_go_server_is_not_claimed_and_ours_locks_like_go() {
    let Some(redis) = common::server() else { return };
    let bus = common::bus(&redis).await;
    let names = Names::new();
    let (requests, claims) = names.channels();
    let mut watch = bus.subscribe(&claims, 4).await.expect("subscribe claims");
    let mut sub = bus.subscribe_queue_claimed(&requests, 4).await.expect("subscribe requests");
    let mut raw = common::raw(&redis).get_multiplexed_async_connection().await.expect("conn");

    // A Go server took the first request: SET base64(sha256(frame)) <rand> EX 5 NX.
    let taken = names.request_frame(1);
    let go_lock: Option<String> = redis::cmd("SET")
        .arg(base64_sha256(&taken))
        .arg(8_674_665_223_082_153_551_i64)
        .arg("EX")
        .arg(5)
        .arg("NX")
        .query_async(&mut raw)
        .await
        .expect("go lock");
    assert!(go_lock.is_some());
    bus.publish(&requests, taken.clone()).await.expect("publish");
    let queued = next_frame(&mut sub).await;
    assert_eq!(queued, taken, "the request still reaches this process");
    assert!(!bus.publish_claim(&queued, &claims, Bytes::from_static(b"ours")).await.expect("claim"));

    // A request nobody holds: ours wins, publishes, and leaves Go's lock behind.
    let free = names.request_frame(2);
    bus.publish(&requests, free.clone()).await.expect("publish");
    let queued = next_frame(&mut sub).await;
    assert!(bus.publish_claim(&queued, &claims, Bytes::from_static(b"ours")).await.expect("claim"));
    assert_eq!(next_frame(&mut watch).await, "ours", "only the won claim was published");
    let lock_key = base64_sha256(&free);
    let ttl: i64 = redis::cmd("TTL").arg(&lock_key).query_async(&mut raw).await.expect("ttl");
    assert!((1..=5).contains(&ttl), "the lock lasts 5 s like Go's, ttl {ttl}");
    let go_would_win: Option<String> =
        redis::cmd("SET").arg(&lock_key).arg(1).arg("EX").arg(5).arg("NX").query_async(&mut raw).await.expect("set");
    assert_eq!(go_would_win, None, "a Go server now loses this request");
}

fn base64_sha256(frame: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(frame))
}

static WORK: MethodInfo = MethodInfo::new("Work", MethodKind::Unary(Selection::Queue { topics: false }));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_script_permission_the_lock_and_claim_go_separately() {
    let Some((_redis, _, url)) = common::server_without_scripts().await else { return };
    let connect =
        || async { Arc::new(RedisBus::connect(&url, RedisBusOptions::default()).await.expect("connect")) as SharedBus };

    let processes = [connect().await, connect().await];
    let names = Names::new();
    let (published, seen) = two_processes_claim_every_frame(&names, processes.clone(), connect().await).await;
    assert_eq!((published.iter().sum::<usize>(), seen), (FRAMES, FRAMES));

    // And whole calls work with two servers in separate "processes".
    let servers = [
        RpcServer::new(names.service.as_str(), Arc::clone(&processes[0]), ServerOptions::default()),
        RpcServer::new(names.service.as_str(), Arc::clone(&processes[1]), ServerOptions::default()),
    ];
    for server in &servers {
        server.register_unary(&WORK, vec![], echo, None).await.expect("register");
    }
    let client =
        RpcClient::new(names.service.as_str(), connect().await, ClientOptions::default()).await.expect("client");
    for n in 0..20 {
        let reply = client
            .request_single::<Ping, Pong>(&WORK, vec![], &ping(&n.to_string()), RequestOptions::default())
            .await
            .expect("answered once");
        assert_eq!(reply.message.text, n.to_string());
    }
}
