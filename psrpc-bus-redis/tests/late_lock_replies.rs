//! Queue locks whose replies come late: every queue frame is still handled
//! by exactly one member, on one server and on a Redis Cluster (classic
//! and sharded pub/sub), for queue subscribers and for claimed requests
//! (by script, and without script permission).
//!
//! Each test publishes its frames and pauses Redis's writes in one
//! pipeline (`CLIENT PAUSE 1000 WRITE`): Redis pushes the frames to the
//! members, then holds every lock command they send for a second, ten
//! times the members' 100 ms response timeout. The replies then all come
//! late.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use psrpc_bus_redis::{RedisBus, RedisBusOptions};
use psrpc_core::SharedBus;
use psrpc_core::transport::bus::Subscription;
use psrpc_core::transport::channel::{Channel, claim_request_channel, request_channel};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::topology::RedisCluster;

/// The members' response timeout: far shorter than the pause.
const TIMEOUT: Duration = Duration::from_millis(100);

/// How long Redis holds writes.
const PAUSE_MS: u64 = 1000;

const MEMBERS: usize = 3;
const FRAMES: usize = 40;

/// Frames of one test (unique, so their locks are too).
fn frames(prefix: &str, count: usize) -> Vec<Bytes> {
    (0..count).map(|n| Bytes::from(format!("{prefix}/{n}"))).collect()
}

/// Runs `publish` (a command per frame) and then `CLIENT PAUSE … WRITE` on
/// `conn` as one pipeline.
async fn publish_then_pause(
    conn: &mut impl redis::aio::ConnectionLike,
    publish: &str,
    channel: &Channel,
    frames: &[Bytes],
) {
    let mut pipe = redis::pipe();
    for frame in frames {
        pipe.cmd(publish).arg(&*channel.legacy).arg(frame.as_ref()).ignore();
    }
    pipe.cmd("CLIENT").arg("PAUSE").arg(PAUSE_MS).arg("WRITE").ignore();
    pipe.query_async::<()>(conn).await.expect("publish, then pause writes");
}

/// The next frame any of `subscriptions` yields, and which one did.
async fn next_frame(subscriptions: &mut [Subscription]) -> (Bytes, usize) {
    let (frame, member, _) =
        futures_util::future::select_all(subscriptions.iter_mut().map(|s| Box::pin(s.recv()))).await;
    (frame.expect("subscription open").expect("a frame"), member)
}

/// Receives from every subscription until each of `frames` arrived,
/// failing on a frame that arrives twice; then goes on receiving for a
/// while to catch a repeat that comes late. Returns how many frames each
/// subscription took.
async fn each_frame_once(subscriptions: &mut [Subscription], frames: &[Bytes]) -> Vec<usize> {
    let mut taken_by: HashMap<Bytes, usize> = HashMap::new();
    let mut counts = vec![0; subscriptions.len()];
    // Generous: the frames come about a second after the publish.
    let all = tokio::time::timeout(Duration::from_secs(30), async {
        while taken_by.len() < frames.len() {
            let (frame, member) = next_frame(subscriptions).await;
            if let Some(first) = taken_by.insert(frame.clone(), member) {
                panic!("frame {frame:?} handled twice (members {first} and {member})");
            }
            counts[member] += 1;
        }
    })
    .await;
    assert!(all.is_ok(), "{} of {} frames handled", taken_by.len(), frames.len());
    assert!(frames.iter().all(|f| taken_by.contains_key(f)), "only the frames published");
    // A member settles a lock within 4.5 s of its first ask; a repeat
    // would come within that time of the last frame.
    let late = tokio::time::timeout(Duration::from_secs(5), next_frame(subscriptions)).await;
    assert!(late.is_err(), "a frame came after every frame was handled: {late:?}");
    counts
}

async fn members(url: &str) -> Vec<SharedBus> {
    let options = RedisBusOptions::default().response_timeout(TIMEOUT);
    let connect =
        |_| async { Arc::new(RedisBus::connect(url, options.clone()).await.expect("connect a member")) as SharedBus };
    join_all((0..MEMBERS).map(connect)).await
}

async fn queue_subscriptions(members: &[SharedBus], channel: &Channel) -> Vec<Subscription> {
    let mut subscriptions = Vec::new();
    for member in members {
        subscriptions.push(member.subscribe_queue(channel, FRAMES).await.expect("subscribe_queue"));
    }
    subscriptions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_lock_replies_lose_no_queue_frame_and_double_none() {
    let Some(redis) = common::own_server() else { return };
    let service = psrpc_test_support::unique_name("LateLock");
    let channel = request_channel(&service, "Work", &["t"], true);
    let members = members(redis.url()).await;
    let mut subscriptions = queue_subscriptions(&members, &channel).await;
    let frames = frames(&service, FRAMES);

    let mut raw = common::raw(&redis).get_multiplexed_async_connection().await.expect("raw connection");
    publish_then_pause(&mut raw, "PUBLISH", &channel, &frames).await;
    let counts = each_frame_once(&mut subscriptions, &frames).await;
    eprintln!("frames taken by each member: {counts:?}");
}

/// Member `i` receives [`FRAMES`] requests on `subscription` and tries to
/// claim each (all at once); whether it won each one.
async fn claim_every_request(
    i: usize,
    member: &SharedBus,
    claims: &Channel,
    subscription: &mut Subscription,
) -> HashMap<Bytes, bool> {
    let mut received = Vec::new();
    while received.len() < FRAMES {
        received.push(subscription.recv().await.expect("open").expect("a request"));
    }
    let claimed = join_all(received.into_iter().map(|queued| async move {
        let won = member.publish_claim(&queued, claims, Bytes::from(format!("claim by {i}"))).await;
        (queued, won.expect("the claim is settled, not failed"))
    }))
    .await;
    claimed.into_iter().collect()
}

/// Two members see every request of a claimed queue and try to claim each
/// one while Redis holds their locks: exactly one claims each, and its
/// claim is published once.
async fn late_claims(members_url: &str, admin_url: &str) {
    let service = psrpc_test_support::unique_name("LateClaim");
    let requests = request_channel(&service, "Work", &[] as &[&str], true);
    let claims = claim_request_channel(&service, "CLI_lateclaim000");
    let members = &members(members_url).await[..2];
    let admin = redis::Client::open(admin_url).expect("admin client");
    let mut admin = admin.get_multiplexed_async_connection().await.expect("admin connection");
    let watcher = members[0].clone();
    let mut watch = watcher.subscribe(&claims, FRAMES * 2).await.expect("subscribe claims");
    let mut subscriptions = Vec::new();
    for member in members {
        subscriptions.push(member.subscribe_queue_claimed(&requests, FRAMES).await.expect("subscribe"));
    }
    let frames = frames(&service, FRAMES);

    publish_then_pause(&mut admin, "PUBLISH", &requests, &frames).await;
    let [a, b] = &mut subscriptions[..] else { unreachable!("two members") };
    let (won_a, won_b) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(claim_every_request(0, &members[0], &claims, a), claim_every_request(1, &members[1], &claims, b))
    })
    .await
    .expect("every request claimed or lost by each member");
    for frame in &frames {
        let (a, b) = (won_a[frame], won_b[frame]);
        assert!(a ^ b, "exactly one member claims {frame:?} (a: {a}, b: {b})");
    }
    // A marker published after every claim: everything before it has arrived.
    watcher.publish(&claims, Bytes::from_static(b"end")).await.expect("marker");
    let mut published = 0;
    loop {
        let claim = tokio::time::timeout(Duration::from_secs(30), watch.recv()).await.expect("claims arrive");
        if claim.expect("open").expect("a claim") == "end" {
            break;
        }
        published += 1;
    }
    assert_eq!(published, FRAMES, "one claim published per request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_lock_replies_let_exactly_one_member_claim_each_request() {
    let Some(redis) = common::own_server() else { return };
    late_claims(redis.url(), redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_lock_replies_let_exactly_one_member_claim_each_request_without_scripts() {
    let Some((_redis, admin_url, members_url)) = common::server_without_scripts().await else { return };
    late_claims(&members_url, &admin_url).await;
}

/// On a cluster: frames whose locks live on the node serving the channel,
/// published there, with that node's writes paused.
async fn late_lock_replies_on_a_cluster(query: &str) {
    let Some(cluster) = skip_or_fail(RedisCluster::start(3)) else { return };
    let service = psrpc_test_support::unique_name("LateLockCluster");
    let channel = request_channel(&service, "Work", &["t"], true);
    let slot = cluster.slot_of(&channel.legacy).expect("the channel's slot");
    let node = cluster.master_of_slot(slot).expect("the channel's node");
    let node = redis::Client::open(format!("redis://{}", cluster.addrs()[node])).expect("node client");
    let mut node = node.get_multiplexed_async_connection().await.expect("node connection");

    // Frames whose lock key this node serves (others answer MOVED).
    let mut frames = Vec::new();
    for candidate in self::frames(&service, FRAMES * 10) {
        let key = lock_key(&candidate);
        if redis::cmd("EXISTS").arg(&key).query_async::<i64>(&mut node).await.is_ok() {
            frames.push(candidate);
        }
        if frames.len() == FRAMES {
            break;
        }
    }
    assert_eq!(frames.len(), FRAMES, "enough frames whose lock the channel's node serves");

    let members = members(&format!("{}{query}", cluster.url())).await;
    let mut subscriptions = queue_subscriptions(&members, &channel).await;
    let publish = if query.contains("sharded") { "SPUBLISH" } else { "PUBLISH" };
    publish_then_pause(&mut node, publish, &channel, &frames).await;
    let counts = each_frame_once(&mut subscriptions, &frames).await;
    eprintln!("frames taken by each member ({query:?}): {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_lock_replies_on_a_cluster_classic() {
    late_lock_replies_on_a_cluster("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_lock_replies_on_a_cluster_sharded() {
    late_lock_replies_on_a_cluster("?pubsub=sharded").await;
}

/// Go psrpc's lock key: standard padded base64 of the frame's SHA-256.
fn lock_key(frame: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(frame))
}
