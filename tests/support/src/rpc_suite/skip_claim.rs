//! Claim skipping (Go psrpc 0.7.6 and later): a client allows it on queue
//! requests, a server built with `ServerOptions::skip_claim` answers with a
//! claim marked `handling` and runs the request at once; every other server
//! bids as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use psrpc_core::discovery::DiscoveryOptions;
use psrpc_core::observe::ClaimOutcome;
use psrpc_core::options::ServerOptions;
use psrpc_core::{RpcServer, SharedBus};

use super::fixtures::*;
use super::hand_client::HandClient;
use crate::BusFactory;
use crate::faulty::CuttableBus;

async fn server_with(bus: SharedBus, service: &str, options: ServerOptions) -> RpcServer {
    // No discovery: its heartbeats would count as frames.
    RpcServer::new(service.to_owned(), bus, options.discovery(DiscoveryOptions::disabled()))
}

/// Frames the client and the server publish for `calls` calls of [`SINGLE`]
/// when the server is built with `options`.
async fn frames_per_call(factory: &dyn BusFactory, options: ServerOptions, calls: usize) -> (usize, usize) {
    let svc = unique_service();
    let server_bus = CuttableBus::new(factory.connect().await);
    let s = server_with(Arc::clone(&server_bus) as SharedBus, &svc, options).await;
    serve_echo(&s, &SINGLE, &[], None).await;
    let client_bus = CuttableBus::new(factory.connect().await);
    let client = client_on(Arc::clone(&client_bus) as SharedBus, &svc, client_options()).await;
    for i in 0..calls {
        let reply = call(&client, &SINGLE, &i.to_string()).await.expect("reply");
        assert_eq!((reply.message.text.as_str(), reply.server_id.as_str()), (i.to_string().as_str(), s.id()));
    }
    (client_bus.published(), server_bus.published())
}

/// With the option a queue call is three frames (request; handling claim
/// and response); without it, four.
pub async fn skip_claim_takes_three_frames_per_queue_call(factory: &dyn BusFactory) {
    const CALLS: usize = 10;
    let skipping = frames_per_call(factory, ServerOptions::default().skip_claim(true), CALLS).await;
    assert_eq!(skipping, (CALLS, 2 * CALLS), "request; handling claim and response");
    let bidding = frames_per_call(factory, ServerOptions::default(), CALLS).await;
    assert_eq!(bidding, (2 * CALLS, 2 * CALLS), "request and claim response; claim and response");
    let off = frames_per_call(factory, ServerOptions::default().skip_claim(false), CALLS).await;
    assert_eq!(off, (2 * CALLS, 2 * CALLS), "skip_claim(false) bids");
}

/// A skipping server announces only queue requests whose caller allows it,
/// and only while its switch is on; the affinity method, a caller that does
/// not set `skip_claim`, and the switched-off server all get a bid, answered
/// only after the decision. The observer hears `skipped` for announcements.
pub async fn skip_claim_only_where_caller_method_and_server_allow(factory: &dyn BusFactory) {
    let svc = unique_service();
    let switch = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&switch);
    let heard = Arc::new(super::observe::Recorder::default());
    let options = ServerOptions::default()
        .skip_claim_when(move || flag.load(Ordering::SeqCst))
        .observer(Arc::clone(&heard) as psrpc_core::observe::SharedObserver);
    let s = server_with(factory.connect().await, &svc, options).await;
    serve_echo(&s, &SINGLE, &[], None).await;
    serve_echo(&s, &AFFINITY, &[], Some(0.5)).await;
    let mut hand = HandClient::new(factory, &svc).await;

    let announced = hand.request(&SINGLE, Duration::from_secs(30), true).await;
    assert!(announced.handling, "the queue request is announced");
    assert_eq!((announced.server_id.as_str(), announced.affinity), (s.id(), 1.0));
    hand.response(&announced).await; // with no claim response
    heard.until(&format!("claim Single {}", ClaimOutcome::Skipped.as_str()), 1).await;

    for (method, skip) in [(&SINGLE, false), (&AFFINITY, true)] {
        let bid = hand.request(method, Duration::from_secs(30), skip).await;
        assert!(!bid.handling, "{} skip_claim={skip}: a bid", method.name);
        hand.decide(method, &bid.request_id, &bid.server_id).await;
        hand.response(&bid).await;
    }

    switch.store(false, Ordering::SeqCst);
    let bid = hand.request(&SINGLE, Duration::from_secs(30), true).await;
    assert!(!bid.handling, "switched off: a bid");
    hand.decide(&SINGLE, &bid.request_id, &bid.server_id).await;
    hand.response(&bid).await;
    assert_eq!(heard.count("claim Single skipped"), 1);
    assert_eq!(heard.count("claim Single won"), 2);
}

/// A server without the option bids for a request that allows skipping,
/// and the handler runs only once the client chose it.
pub async fn servers_without_the_option_keep_bidding(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    serve_echo(&s, &SINGLE, &[], None).await;
    let mut hand = HandClient::new(factory, &svc).await;
    let bid = hand.request(&SINGLE, Duration::from_secs(30), true).await;
    assert!(!bid.handling);
    hand.decide(&SINGLE, &bid.request_id, &bid.server_id).await;
    hand.response(&bid).await;
}
