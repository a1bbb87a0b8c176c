//! The server's side of the claim exchange, played against by hand: a
//! chosen claim runs the handler, a claim lost to another server or never
//! answered runs nothing, and neither holds up shutdown past the request's
//! expiry.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use psrpc_core::metadata::unix_nanos;
use psrpc_core::transport::bus::Subscription;
use psrpc_core::transport::channel;
use psrpc_core::{RequestContext, SharedBus};
use psrpc_protocol::envelope::{ClaimRequest, ClaimResponse, Request, Response};
use psrpc_protocol::frame::{self, Envelope};

use super::fixtures::*;
use crate::BusFactory;

/// A client played by hand on a raw bus connection.
struct HandClient {
    bus: SharedBus,
    service: String,
    id: String,
    claims: Subscription,
    responses: Subscription,
}

impl HandClient {
    async fn new(factory: &dyn BusFactory, service: &str) -> Self {
        let bus = factory.connect().await;
        let id = psrpc_protocol::id::new_id("CLI_");
        let claims = bus.subscribe(&channel::claim_request_channel(service, &id), 16).await.expect("subscribe claims");
        let responses = bus.subscribe(&channel::response_channel(service, &id), 16).await.expect("subscribe responses");
        HandClient { bus, service: service.to_owned(), id, claims, responses }
    }

    async fn publish<E: Envelope>(&self, channel: &channel::Channel, message: &E) {
        let local = if self.bus.frames_carry_local_channel() { &*channel.local } else { "" };
        self.bus.publish(channel, frame::encode_envelope(message, local)).await.expect("publish");
    }

    /// Sends a request on the queue method, valid for `valid_for`, and
    /// returns the server's claim for it.
    async fn request(&mut self, n: usize, valid_for: Duration) -> ClaimRequest {
        let now = SystemTime::now();
        let request = Request {
            request_id: format!("REQ_hand{n:08}"),
            client_id: self.id.clone(),
            sent_at: unix_nanos(now),
            expiry: unix_nanos(now + valid_for),
            raw_request: Bytes::from(prost::Message::encode_to_vec(&ping(&n.to_string()))),
            ..Default::default()
        };
        self.publish(&channel::request_channel(&self.service, &SINGLE.name, &[] as &[&str], true), &request).await;
        let claim: ClaimRequest = next(&mut self.claims).await;
        assert_eq!(claim.request_id, request.request_id);
        claim
    }

    async fn decide(&self, request_id: &str, server_id: &str) {
        let decision = ClaimResponse { request_id: request_id.to_owned(), server_id: server_id.to_owned() };
        self.publish(&channel::claim_response_channel(&self.service, &SINGLE.name, &[] as &[&str]), &decision).await;
    }
}

async fn next<E: Envelope>(sub: &mut Subscription) -> E {
    let bytes = tokio::time::timeout(WAIT_LIMIT, sub.recv()).await.expect("in time").expect("open").expect("frame");
    frame::decode_envelope(bytes).expect("an envelope")
}

/// Chosen: the handler runs and answers. Lost to another server: nothing
/// runs. Never answered: the claim is dropped after the request expires, and
/// shutdown, which waits for it, then completes.
pub async fn claims_run_the_handler_only_when_chosen_and_expire_unanswered(factory: &dyn BusFactory) {
    let (svc, server) = own_server(factory).await;
    let handled = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&handled);
    let handler = move |ctx: RequestContext, p: Ping| {
        count.fetch_add(1, Ordering::SeqCst);
        echo(ctx, p)
    };
    serve_single(&server, handler).await;
    let mut client = HandClient::new(factory, &svc).await;

    let claim = client.request(1, Duration::from_secs(5)).await;
    assert_eq!(claim.server_id, server.id());
    client.decide(&claim.request_id, server.id()).await;
    let response: Response = next(&mut client.responses).await;
    assert_eq!((response.request_id.as_str(), response.server_id.as_str()), (claim.request_id.as_str(), server.id()));
    assert_eq!(handled.load(Ordering::SeqCst), 1);

    // Valid for long: if losing did not end it, shutdown would wait for it.
    let lost = client.request(2, Duration::from_secs(30)).await;
    // At least one: the claim counts from the moment it is published, and the
    // work that published it may not have returned yet on a slower bus.
    assert!(server.in_flight() >= 1, "a claim waiting for its decision is in flight");
    client.decide(&lost.request_id, "SRV_someoneelse").await;

    let _unanswered = client.request(3, Duration::from_secs(1)).await;
    let started = tokio::time::Instant::now();
    tokio::time::timeout(WAIT_LIMIT, server.shutdown()).await.expect("shutdown completes");
    assert!(started.elapsed() >= Duration::from_millis(500), "shutdown waited for the unanswered claim");
    assert_eq!(server.in_flight(), 0);
    assert_eq!(handled.load(Ordering::SeqCst), 1, "only the chosen claim ran the handler");
}
