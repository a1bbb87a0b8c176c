//! Why the native wire mode exists on NATS: in the Go-compatible mode every
//! queue method and queue subscription of a service shares one subject and
//! queue group, so a process subscribed to one of them takes requests of the
//! others and drops them. In the native mode each has a subject of its own.

mod common;

use std::time::Duration;

use psrpc_core::info::{Delivery, MethodInfo, MethodKind, Selection};
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::wire_mode::WireMode;
use psrpc_core::{RpcClient, RpcServer};
use psrpc_test_support::rpc_suite::{Ping, Pong, echo, ping};
use psrpc_test_support::unique_name;

static WORK: MethodInfo = MethodInfo::new("Work", MethodKind::Unary(Selection::Queue { topics: false }));
static UPDATES: MethodInfo =
    MethodInfo::new("Updates", MethodKind::Subscription { delivery: Delivery::Queue, topics: false });

/// How many of `calls` queue calls fail while another process holds a queue
/// subscription of the same service, all in wire mode `mode`.
async fn failed_calls_beside_a_queue_subscriber(nats: &psrpc_test_support::nats::NatsServer, mode: WireMode) -> usize {
    let svc = unique_name("Shared");
    let server = RpcServer::new(svc.clone(), common::bus(nats).await, ServerOptions::default().wire_mode(mode));
    server.register_unary(&WORK, vec![], echo, None).await.expect("register");
    let listener = RpcClient::new(svc.clone(), common::bus(nats).await, ClientOptions::default().wire_mode(mode))
        .await
        .expect("listener");
    let _updates = listener.subscribe::<Pong>(&UPDATES, vec![]).await.expect("subscribe");
    let options = ClientOptions::default()
        .wire_mode(mode)
        .timeout(Duration::from_secs(1))
        .selection_timeout(Duration::from_millis(150));
    let caller = RpcClient::new(svc, common::bus(nats).await, options).await.expect("caller");
    let mut failed = 0;
    for i in 0..20 {
        let request = ping(&i.to_string());
        let call = caller.request_single::<Ping, Pong>(&WORK, vec![], &request, RequestOptions::default());
        failed += usize::from(call.await.is_err());
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_subscriber_takes_other_methods_requests_only_in_the_go_compatible_mode() {
    let Some(nats) = common::server() else { return };
    // NATS hands each request to the server or the listener at random: all
    // 20 reaching the server has a chance of one in a million.
    let lost = failed_calls_beside_a_queue_subscriber(&nats, WireMode::GoCompatible).await;
    assert!(lost > 0, "the shared `bus` group should hand some requests to the listener");
    assert_eq!(failed_calls_beside_a_queue_subscriber(&nats, WireMode::Native).await, 0);
}
