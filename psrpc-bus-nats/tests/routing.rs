//! Routing on shared subjects: golden frames from `testdata/wire_vectors.json`
//! (bytes computed from docs/WIRE.md, not by our encoder) published raw on a real
//! NATS reach exactly the local subscribers their `Msg.channel` names.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use psrpc_core::BusErrorKind;
use psrpc_core::transport::bus::Subscription;
use psrpc_core::transport::channel::{self, Channel};
use psrpc_test_support::handmade as pb;
use psrpc_test_support::unique_name;

/// The golden frame whose description starts with `what`.
fn golden(what: &str) -> Bytes {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/wire_vectors.json");
    let text = std::fs::read_to_string(path).expect("wire vectors");
    let vectors: serde_json::Value = serde_json::from_str(&text).expect("json");
    let frames = vectors["frames"].as_array().expect("frames");
    let frame = frames.iter().find(|f| f["what"].as_str().is_some_and(|w| w.starts_with(what))).expect("vector");
    Bytes::from(hex::decode(frame["frame_hex"].as_str().expect("hex")).expect("valid hex"))
}

/// A service of its own, named like the vectors' (`foo…`), and the request
/// channel of their method `NormalRPC`.
fn golden_service() -> (String, Channel) {
    let svc = unique_name("foo");
    let requests = channel::request_channel(&svc, "NormalRPC", &[] as &[&str], false);
    (svc, requests)
}

async fn next(sub: &mut Subscription) -> Bytes {
    tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("a frame within 5 s")
        .expect("subscription open")
        .expect("no error")
}

#[tokio::test]
async fn golden_frames_reach_the_local_channel_they_name() {
    let Some(nats) = common::server() else { return };
    let bus = common::bus(&nats).await;
    let (svc, requests) = golden_service();
    let claims = channel::claim_response_channel(&svc, "NormalRPC", &[] as &[&str]);
    assert_eq!(requests.server, claims.server, "one shared subject");
    let mut request_sub = bus.subscribe(&requests, 8).await.expect("subscribe requests");
    let mut claim_sub = bus.subscribe(&claims, 8).await.expect("subscribe claims");
    let responses = channel::response_channel(&svc, "CLI_bbbbbbbbbbbb");
    let mut response_sub = bus.subscribe(&responses, 8).await.expect("subscribe responses");

    let raw = common::raw(&nats).await;
    let request = golden("Request: ids");
    let claim = Bytes::from(pb::frame("type.googleapis.com/internal.ClaimResponse", &[], "NormalRPC.RCLAIM"));
    let response = golden("Response success");
    raw.publish(format!("SRV.{svc}"), request.clone()).await.expect("publish");
    raw.publish(format!("SRV.{svc}"), claim.clone()).await.expect("publish");
    raw.publish(format!("CLI.{svc}.CLI_bbbbbbbbbbbb.RES"), response.clone()).await.expect("publish");
    raw.flush().await.expect("flush");

    assert_eq!(next(&mut request_sub).await, request, "byte for byte");
    // Frames of one subject keep their order, so the claim subscriber's first
    // frame being the claim proves it never saw the request.
    assert_eq!(next(&mut claim_sub).await, claim);
    assert_eq!(next(&mut response_sub).await, response);
    assert_eq!(request_sub.buffered(), 0);
}

#[tokio::test]
async fn bad_frames_on_a_shared_subject_are_skipped() {
    let Some(nats) = common::server() else { return };
    let bus = common::bus(&nats).await;
    let (svc, requests) = golden_service();
    let mut sub = bus.subscribe(&requests, 8).await.expect("subscribe");

    let raw = common::raw(&nats).await;
    let bad = [
        Bytes::from_static(b"\xff\xff\xff\xff not protobuf"),
        Bytes::from_static(b"\x1a\xff"), // Msg.channel with a truncated length
        Bytes::from(pb::frame("type.googleapis.com/not.Psrpc", b"\x01\x02", "Unknown.REQ")),
        Bytes::from(pb::frame("type.googleapis.com/internal.Request", &[], "Nobody.REQ")),
    ];
    for frame in bad {
        raw.publish(format!("SRV.{svc}"), frame).await.expect("publish");
    }
    let good = golden("Request: ids");
    raw.publish(format!("SRV.{svc}"), good.clone()).await.expect("publish");
    raw.flush().await.expect("flush");
    assert_eq!(next(&mut sub).await, good, "the first frame delivered is the valid one");
}

#[tokio::test]
async fn a_queue_channel_round_robins_over_its_local_subscribers() {
    let Some(nats) = common::server() else { return };
    let bus = common::bus(&nats).await;
    let ch = channel::request_channel(&unique_name("rr"), "Work", &[] as &[&str], true);
    let mut first = bus.subscribe_queue(&ch, 16).await.expect("first");
    let mut second = bus.subscribe_queue(&ch, 16).await.expect("second");
    let raw = common::raw(&nats).await;
    for n in 0..10u8 {
        raw.publish(ch.server.to_string(), Bytes::from(pb::frame("t", &[n], &ch.local))).await.expect("publish");
    }
    raw.flush().await.expect("flush");
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(next(&mut first).await);
        seen.push(next(&mut second).await);
    }
    let mut values: Vec<u8> = seen.iter().map(|f| f[f.len() - ch.local.len() - 3]).collect();
    values.sort_unstable();
    assert_eq!(values, (0..10).collect::<Vec<u8>>(), "each frame exactly once, five each");
}

#[tokio::test]
async fn one_subject_in_both_modes_is_refused() {
    let Some(nats) = common::server() else { return };
    let bus = common::bus(&nats).await;
    let subject: std::sync::Arc<str> = format!("SRV.{}", unique_name("mixed")).into();
    let plain = Channel { legacy: "a|b|REQ".into(), server: subject.clone(), local: "b.REQ".into() };
    let queue = Channel { legacy: "a|c|REQ".into(), server: subject.clone(), local: "c.REQ".into() };
    let _plain = bus.subscribe(&plain, 1).await.expect("plain");
    let refused = bus.subscribe_queue(&queue, 1).await;
    let err = refused.expect_err("mode mismatch");
    assert_eq!(err.kind(), BusErrorKind::ModeMismatch);
    assert!(err.to_string().contains(&*subject), "{err}");
}

/// The number a [`flood`] frame carries (its value's last four bytes,
/// before `Msg.channel`'s tag and length).
fn number(frame: &[u8], local: &str) -> u32 {
    let end = frame.len() - local.len() - 2;
    u32::from_be_bytes(frame[end - 4..end].try_into().expect("four bytes"))
}

/// A process joining a queue group while frames flow: NATS may hand it a
/// frame before its `subscribe_queue` returns (while the subscription is
/// being confirmed). That frame was given to no other member, so it must
/// wait for the new subscription rather than be dropped: every frame
/// reaches exactly one of the two processes.
#[tokio::test]
async fn a_process_joining_a_busy_queue_group_loses_no_frame() {
    let Some(nats) = common::server() else { return };
    let (first_bus, second_bus) = (common::bus(&nats).await, common::bus(&nats).await);
    let ch = channel::request_channel(&unique_name("join"), "Work", &[] as &[&str], true);
    let mut first = first_bus.subscribe_queue(&ch, 1 << 20).await.expect("first");

    let raw = common::raw(&nats).await;
    let joined = std::sync::Arc::new(AtomicBool::new(false));
    let flood = tokio::spawn({
        let (raw, subject, local, joined) = (raw.clone(), ch.server.to_string(), ch.local.to_string(), joined.clone());
        async move {
            // Frames flow until the second process has joined, then 1000 more.
            let (mut sent, mut after) = (0u32, None);
            loop {
                let frame = Bytes::from(pb::frame("t", &sent.to_be_bytes(), &local));
                raw.publish(subject.clone(), frame).await.expect("publish");
                sent += 1;
                if let Some(left) = after.as_mut() {
                    *left -= 1;
                    if *left == 0 {
                        break;
                    }
                } else if sent % 64 == 0 {
                    raw.flush().await.expect("flush");
                    if joined.load(Ordering::Acquire) {
                        after = Some(1000u32);
                    }
                }
            }
            raw.flush().await.expect("flush");
            sent
        }
    });
    let mut second = second_bus.subscribe_queue(&ch, 1 << 20).await.expect("second");
    joined.store(true, Ordering::Release);
    let sent = flood.await.expect("flood");

    let mut seen = vec![0u8; sent as usize];
    let mut by_second = 0;
    for _ in 0..sent {
        let (frame, to_second) = tokio::select! {
            frame = next(&mut first) => (frame, false),
            frame = next(&mut second) => (frame, true),
        };
        seen[number(&frame, &ch.local) as usize] += 1;
        by_second += usize::from(to_second);
    }
    assert!(seen.iter().all(|&n| n == 1), "every one of {sent} frames exactly once");
    assert!(by_second > 0, "the second process took part");
}
