//! Delivery: publish/subscribe, fan-out, queues, order, unsubscribe, close, readiness.

use std::collections::HashSet;
use std::time::Duration;

use psrpc_core::transport::bus::BusErrorKind;

use super::{arrives_within, next_frame, number_of, numbered_frame, unique_channel};
use crate::BusFactory;

/// A frame published after `subscribe` returned reaches the subscriber, intact.
pub async fn publish_reaches_a_subscriber(factory: &dyn BusFactory) {
    let bus = factory.connect().await;
    let ch = unique_channel("M");
    let mut sub = bus.subscribe(&ch, 8).await.expect("subscribe");
    let frame = numbered_frame(&*bus, &ch, 7);
    bus.publish(&ch, frame.clone()).await.expect("publish");
    assert_eq!(next_frame(&mut sub).await, frame);
}

/// Every plain subscriber, on any connection, receives every frame.
pub async fn fan_out_reaches_every_connection(factory: &dyn BusFactory) {
    let ch = unique_channel("M");
    let mut subs = Vec::new();
    let mut buses = Vec::new();
    for _ in 0..3 {
        let bus = factory.connect().await;
        subs.push(bus.subscribe(&ch, 16).await.expect("subscribe"));
        buses.push(bus);
    }
    let publisher = factory.connect().await;
    for n in 0..5 {
        publisher.publish(&ch, numbered_frame(&*publisher, &ch, n)).await.expect("publish");
    }
    for sub in &mut subs {
        for n in 0..5 {
            assert_eq!(number_of(next_frame(sub).await), n);
        }
    }
}

/// A queue group spread over two connections gets each frame exactly once,
/// and both connections are members. The split need not be even: on Redis
/// the process whose queue lock `SET` lands first wins, and on a Cluster
/// with classic pub/sub the member whose subscriber node is the publisher's
/// hears every frame first (under load it may win all of them). So the
/// frames go out in rounds until both members have been served.
pub async fn queue_delivers_each_frame_exactly_once(factory: &dyn BusFactory) {
    let ch = psrpc_core::transport::channel::request_channel(
        &format!("Conf{}", psrpc_protocol::id::new_id("")),
        "Q",
        &["t"],
        true,
    );
    let (bus_a, bus_b) = (factory.connect().await, factory.connect().await);
    let mut a = bus_a.subscribe_queue(&ch, 256).await.expect("subscribe");
    let mut b = bus_b.subscribe_queue(&ch, 256).await.expect("subscribe");
    let publisher = factory.connect().await;
    const ROUND: u64 = 200;
    const ROUNDS: u64 = 10;
    let mut seen = Vec::new();
    let (mut from_a, mut from_b) = (0, 0);
    let mut published = 0;
    while published < ROUND * ROUNDS && (published == 0 || from_a == 0 || from_b == 0) {
        for n in published..published + ROUND {
            publisher.publish(&ch, numbered_frame(&*publisher, &ch, n)).await.expect("publish");
        }
        published += ROUND;
        while (seen.len() as u64) < published {
            tokio::select! {
                Ok(Some(Ok(f))) = tokio::time::timeout(Duration::from_secs(5), a.recv()) => { seen.push(number_of(f)); from_a += 1; }
                Ok(Some(Ok(f))) = tokio::time::timeout(Duration::from_secs(5), b.recv()) => { seen.push(number_of(f)); from_b += 1; }
                else => panic!("frames missing: got {} of {published}", seen.len()),
            }
        }
    }
    assert!(!arrives_within(&mut a, Duration::from_millis(200)).await, "no duplicates");
    assert!(!arrives_within(&mut b, Duration::from_millis(50)).await, "no duplicates");
    let unique: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique.len() as u64, published, "each frame exactly once");
    assert!(from_a > 0 && from_b > 0, "both members served within {published} frames: {from_a}/{from_b}");
}

/// Frames on one channel arrive in publish order, under load.
pub async fn order_is_kept_per_channel(factory: &dyn BusFactory) {
    let bus = factory.connect().await;
    let ch = unique_channel("M");
    let mut sub = bus.subscribe(&ch, 1024).await.expect("subscribe");
    let publisher = factory.connect().await;
    for n in 0..1000 {
        publisher.publish(&ch, numbered_frame(&*publisher, &ch, n)).await.expect("publish");
    }
    for n in 0..1000 {
        assert_eq!(number_of(next_frame(&mut sub).await), n);
    }
}

/// A frame whose `publish` returned is delivered even if its bus is then
/// dropped without `close` (a server dropped right after its last response).
pub async fn frames_published_before_a_drop_are_delivered(factory: &dyn BusFactory) {
    let ch = unique_channel("M");
    let subscriber = factory.connect().await;
    let mut sub = subscriber.subscribe(&ch, 1024).await.expect("subscribe");
    for round in 0..20u64 {
        let publisher = factory.connect().await;
        for n in 0..10 {
            publisher.publish(&ch, numbered_frame(&*publisher, &ch, round * 10 + n)).await.expect("publish");
        }
        drop(publisher);
        for n in 0..10 {
            assert_eq!(number_of(next_frame(&mut sub).await), round * 10 + n, "round {round}");
        }
    }
}

/// Dropping a subscription stops delivery to it; others keep receiving.
pub async fn unsubscribe_by_drop_stops_delivery(factory: &dyn BusFactory) {
    let bus = factory.connect().await;
    let ch = unique_channel("M");
    let dropped = bus.subscribe(&ch, 8).await.expect("subscribe");
    let mut kept = bus.subscribe(&ch, 8).await.expect("subscribe");
    drop(dropped);
    bus.publish(&ch, numbered_frame(&*bus, &ch, 1)).await.expect("publish");
    assert_eq!(number_of(next_frame(&mut kept).await), 1);
    drop(kept);
    // With no subscribers left, publishing still succeeds.
    bus.publish(&ch, numbered_frame(&*bus, &ch, 2)).await.expect("publish to nobody");
    let mut again = bus.subscribe(&ch, 8).await.expect("resubscribe");
    bus.publish(&ch, numbered_frame(&*bus, &ch, 3)).await.expect("publish");
    // Frame 2 was published before the subscription: it may still be on its
    // way (a Redis Cluster forwards classic frames between nodes), but
    // nothing delivered before it comes back.
    let mut first = number_of(next_frame(&mut again).await);
    if first == 2 {
        first = number_of(next_frame(&mut again).await);
    }
    assert_eq!(first, 3, "a new subscription sees no frame delivered before it");
}

/// `close` ends subscriptions; later calls fail with `Closed`.
pub async fn close_ends_subscriptions_and_later_calls(factory: &dyn BusFactory) {
    let bus = factory.connect().await;
    let ch = unique_channel("M");
    let mut sub = bus.subscribe(&ch, 8).await.expect("subscribe");
    bus.close().await;
    let end = tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.expect("ends promptly");
    assert!(end.is_none(), "subscription ended: {end:?}");
    let refused = bus.publish(&ch, numbered_frame(&*bus, &ch, 1)).await.expect_err("closed");
    assert_eq!(refused.kind(), BusErrorKind::Closed);
    assert_eq!(bus.subscribe(&ch, 8).await.expect_err("closed").kind(), BusErrorKind::Closed);
}

/// When `subscribe` returns, a frame published right after from another
/// connection is delivered — every time.
pub async fn subscribe_means_ready(factory: &dyn BusFactory) {
    let subscriber = factory.connect().await;
    let publisher = factory.connect().await;
    for n in 0..300 {
        let ch = unique_channel("Ready");
        let mut sub = subscriber.subscribe(&ch, 4).await.expect("subscribe");
        publisher.publish(&ch, numbered_frame(&*publisher, &ch, n)).await.expect("publish");
        assert_eq!(number_of(next_frame(&mut sub).await), n, "frame {n} lost");
    }
}
