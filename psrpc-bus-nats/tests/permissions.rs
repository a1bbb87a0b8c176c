//! Permission violations against a real nats-server whose users have allow
//! lists: a refused publish, subscription or tap fails with
//! `permission_denied` naming the subject, nothing of it stays behind, and
//! the connection's other subjects carry on meanwhile; a user that may not
//! use the bus's readiness subject cannot connect.

use bytes::Bytes;
use psrpc_bus_nats::{ConnectOptions, NatsBus};
use psrpc_core::BusErrorKind;
use psrpc_core::transport::bus::{BusError, MessageBus as _};
use psrpc_core::transport::channel::{self, Channel};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::nats_permissions::{NatsUser, PermittedNats, USER_PASSWORD};

/// `limited` may use service `Open` (and the readiness subjects), nothing
/// else; `blind` may not even use the readiness subjects.
fn start() -> Option<PermittedNats> {
    let open = ["SRV.Open", "SRV.Open.>", "CLI.Open.>", "_PSRPC.ready.*"];
    let limited = NatsUser::new("limited", open, open);
    let blind = NatsUser::new("blind", ["SRV.Open"], ["SRV.Open"]);
    skip_or_fail(PermittedNats::start(&[limited, blind]))
}

async fn connect(server: &PermittedNats, user: &str) -> Result<NatsBus, BusError> {
    NatsBus::connect(&server.url(user), ConnectOptions::new()).await
}

/// A frame for `channel`, numbered `n`.
fn frame(channel: &Channel, n: u32) -> Bytes {
    psrpc_protocol::frame::encode_raw_frame("test", &n.to_be_bytes(), &channel.local)
}

/// `error` is `permission_denied` naming `subject`, and repeats no secret.
fn refused(error: BusError, subject: &str) {
    assert_eq!(error.kind(), BusErrorKind::PermissionDenied, "{error}");
    let text = format!("{error} {error:?}");
    assert!(text.contains(&format!("subject {subject}:")), "names {subject}: {text}");
    assert!(!text.contains(USER_PASSWORD), "a secret in {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_publishes_fail_and_the_connections_other_subjects_carry_on() {
    let Some(server) = start() else { return };
    let bus = connect(&server, "limited").await.expect("connects");
    let open = channel::response_channel("Open", "CLI_a");
    let closed = channel::response_channel("Closed", "CLI_a");
    let mut received = bus.subscribe(&open, 1024).await.expect("subscribes where allowed");

    // Frames flow on the allowed subject while publishes on the refused
    // one fail, on the same connection, at the same time.
    const FRAMES: u32 = 200;
    let flowing = async {
        for n in 0..FRAMES {
            bus.publish(&open, frame(&open, n)).await.expect("allowed publish");
        }
    };
    let refusing = async {
        // Each publish to the refused subject is verified again (a refused
        // subject is never remembered as accepted), and each fails.
        for n in 0..3 {
            refused(bus.publish(&closed, frame(&closed, n)).await.expect_err("refused"), "CLI.Closed.CLI_a.RES");
        }
    };
    tokio::join!(flowing, refusing);
    for n in 0..FRAMES {
        let got = received.recv().await.expect("open").expect("a frame");
        assert_eq!(got, frame(&open, n), "frame {n} in order");
    }
    assert_eq!(bus.permission_violations(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_subscriptions_and_taps_fail_and_leave_nothing_behind() {
    let Some(server) = start() else { return };
    let bus = connect(&server, "limited").await.expect("connects");
    let open = channel::response_channel("Open", "CLI_b");
    let mut received = bus.subscribe(&open, 8).await.expect("subscribes where allowed");

    let plain = channel::response_channel("Closed", "CLI_b");
    refused(bus.subscribe(&plain, 8).await.expect_err("refused"), "CLI.Closed.CLI_b.RES");
    let queue = channel::request_channel("Closed", "Work", &[] as &[&str], true);
    refused(bus.subscribe_queue(&queue, 8).await.expect_err("refused"), &queue.server);
    refused(bus.tap("Closed", 8).await.map(drop).expect_err("refused"), "SRV.Closed");
    assert_eq!(bus.subject_subscriptions(), 1, "only the allowed subscription is held");

    // The allowed subscription still receives, and a refused subject can
    // be tried again (nothing of the first attempt is left to share).
    bus.publish(&open, frame(&open, 7)).await.expect("allowed publish");
    assert_eq!(received.recv().await.expect("open").expect("a frame"), frame(&open, 7));
    refused(bus.subscribe(&plain, 8).await.expect_err("refused again"), "CLI.Closed.CLI_b.RES");
    assert!(bus.permission_violations() >= 4, "{}", bus.permission_violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_the_readiness_subject_cannot_connect() {
    let Some(server) = start() else { return };
    let error = connect(&server, "blind").await.expect_err("refused");
    assert_eq!(error.kind(), BusErrorKind::PermissionDenied, "{error}");
    let text = error.to_string();
    assert!(text.contains("subject _PSRPC.ready."), "names the readiness subject: {text}");
    assert!(text.contains("NS._PSRPC.ready.*"), "says what the user needs: {text}");
    assert!(!text.contains(USER_PASSWORD), "a secret in {text}");
}
