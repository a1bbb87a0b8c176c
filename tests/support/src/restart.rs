//! The broker-restart scenario, shared by the broker buses: RPCs fail with
//! `unavailable` while the broker is down and succeed again after it
//! restarts, with every subscription back.

use std::time::Duration;

use std::ops::DerefMut;

use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::{ErrorCode, RpcClient, RpcServer};

use crate::broker::Broker;
use crate::interop::SINGLE;
use crate::rpc_suite::{Ping, Pong, echo, ping};
use crate::{BusFactory, Served};

/// Serves on one connection, calls on another, stops and restarts the
/// broker in between. The broker must have been started here.
///
/// ```no_run
/// # async fn f(served: psrpc_test_support::Served<psrpc_test_support::nats::NatsServer>) {
/// psrpc_test_support::restart::rpcs_fail_unavailable_during_a_restart_and_recover_after(served).await;
/// # }
/// ```
pub async fn rpcs_fail_unavailable_during_a_restart_and_recover_after<S>(mut served: Served<S>)
where
    S: DerefMut<Target = Broker> + Send + Sync + 'static,
{
    let (server_bus, client_bus) = (served.connect().await, served.connect().await);
    let broker = &mut served.server;
    let service = crate::unique_name("Restart");
    let server = RpcServer::new(service.as_str(), server_bus, ServerOptions::default());
    server.register_unary(&SINGLE, vec![], echo, None).await.expect("register");
    let options =
        ClientOptions::default().timeout(Duration::from_secs(1)).selection_timeout(Duration::from_millis(500));
    let client = RpcClient::new(service.as_str(), client_bus, options).await.expect("client");
    let call = |text: &str| {
        let (client, request) = (client.clone(), ping(text));
        async move { client.request_single::<Ping, Pong>(&SINGLE, vec![], &request, RequestOptions::default()).await }
    };
    call("before").await.expect("before");

    broker.stop();
    let err = call("during").await.expect_err("outage");
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");

    broker.restart().expect("restart");
    // Refused calls fail at once, long before the client's reconnect backoff
    // has elapsed: pace the attempts, bounded by time.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut recovered = false;
    while !recovered && tokio::time::Instant::now() < deadline {
        tick.tick().await;
        match call("after").await {
            Ok(reply) => {
                assert_eq!(reply.server_id, server.id(), "the server's subscriptions came back too");
                recovered = true;
            }
            Err(e) => assert!(matches!(e.code(), ErrorCode::Unavailable | ErrorCode::DeadlineExceeded), "{e}"),
        }
    }
    assert!(recovered, "RPCs succeed after the restart");
    for i in 0..20 {
        call(&i.to_string()).await.expect("steady: no subscription was lost");
    }
}
