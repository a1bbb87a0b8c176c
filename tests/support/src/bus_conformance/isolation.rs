//! Isolation: channels do not leak into each other, slow subscribers block
//! nobody else, bad frames break nothing.

use std::time::Duration;

use bytes::Bytes;
use psrpc_core::transport::channel::request_channel;

use super::{arrives_within, next_frame, number_of, numbered_frame};
use crate::BusFactory;

/// Frames reach only their own channel, even for names differing only in a topic.
pub async fn channels_are_isolated(factory: &dyn BusFactory) {
    let bus = factory.connect().await;
    let svc = format!("Conf{}", psrpc_protocol::id::new_id(""));
    let a = request_channel(&svc, "M", &["a"], false);
    let b = request_channel(&svc, "M", &["b"], false);
    let other_method = request_channel(&svc, "N", &["a"], false);
    let mut sub_a = bus.subscribe(&a, 8).await.expect("subscribe");
    let mut sub_b = bus.subscribe(&b, 8).await.expect("subscribe");
    let mut sub_n = bus.subscribe(&other_method, 8).await.expect("subscribe");
    bus.publish(&a, numbered_frame(&*bus, &a, 1)).await.expect("publish");
    assert_eq!(number_of(next_frame(&mut sub_a).await), 1);
    assert!(!arrives_within(&mut sub_b, Duration::from_millis(150)).await);
    assert!(!arrives_within(&mut sub_n, Duration::from_millis(50)).await);
}

/// A subscriber that stops reading loses frames (reported as a slow
/// consumer), but neither another channel nor another subscriber of its own
/// channel stalls.
pub async fn stalled_subscriber_blocks_nobody_else(factory: &dyn BusFactory) {
    let bus = factory.connect().await;
    let svc = format!("Conf{}", psrpc_protocol::id::new_id(""));
    let busy = request_channel(&svc, "Busy", &["t"], false);
    let calm = request_channel(&svc, "Calm", &["t"], false);
    let mut stalled = bus.subscribe(&busy, 2).await.expect("subscribe");
    let mut healthy = bus.subscribe(&busy, 64).await.expect("subscribe");
    let mut other = bus.subscribe(&calm, 64).await.expect("subscribe");
    let publisher = factory.connect().await;
    for n in 0..20 {
        publisher.publish(&busy, numbered_frame(&*publisher, &busy, n)).await.expect("publish");
        publisher.publish(&calm, numbered_frame(&*publisher, &calm, n)).await.expect("publish");
    }
    for n in 0..20 {
        assert_eq!(number_of(next_frame(&mut other).await), n);
        assert_eq!(number_of(next_frame(&mut healthy).await), n);
    }
    // The stalled subscriber keeps what fit and learns what it lost.
    let mut kept = 0;
    let mut dropped = 0;
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(200), stalled.recv()).await {
        match item {
            Ok(_) => kept += 1,
            Err(e) => dropped += e.dropped().unwrap_or_else(|| panic!("unexpected {e}")),
        }
    }
    assert_eq!(kept + dropped, 20, "kept {kept}, dropped {dropped}");
    assert!(dropped > 0);
}

/// Arbitrary bytes on a channel do not stop valid frames after them.
pub async fn garbage_frames_do_not_break_the_bus(factory: &dyn BusFactory) {
    let bus = factory.connect().await;
    let ch = super::unique_channel("M");
    let mut sub = bus.subscribe(&ch, 64).await.expect("subscribe");
    let publisher = factory.connect().await;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for len in [0usize, 1, 3, 17, 100, 1000] {
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed.to_le_bytes()[0]
            })
            .collect();
        // A bus may refuse or skip what it cannot route, but must not fail later frames.
        let _ = publisher.publish(&ch, Bytes::from(garbage)).await;
    }
    publisher.publish(&ch, numbered_frame(&*publisher, &ch, 42)).await.expect("publish");
    loop {
        let frame = next_frame(&mut sub).await;
        if psrpc_protocol::frame::decode_envelope::<psrpc_protocol::envelope::Request>(frame.clone()).is_ok()
            && number_of(frame) == 42
        {
            break;
        }
    }
}
