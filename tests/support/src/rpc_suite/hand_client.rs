//! A client played by hand on a raw bus connection, for the suites that
//! check the claim exchange frame by frame.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use psrpc_core::SharedBus;
use psrpc_core::info::{MethodInfo, MethodKind, Selection};
use psrpc_core::metadata::unix_nanos;
use psrpc_core::transport::bus::Subscription;
use psrpc_core::transport::channel;
use psrpc_protocol::envelope::{ClaimRequest, ClaimResponse, Request, Response};
use psrpc_protocol::frame::{self, Envelope};

use super::fixtures::*;
use crate::BusFactory;

/// Sends requests as a client would and reads the claims and responses
/// addressed to it.
pub(super) struct HandClient {
    bus: SharedBus,
    service: String,
    id: String,
    claims: Subscription,
    responses: Subscription,
    /// Requests sent so far (their ids count up from 1).
    sent: usize,
}

impl HandClient {
    pub(super) async fn new(factory: &dyn BusFactory, service: &str) -> Self {
        let bus = factory.connect().await;
        let id = psrpc_protocol::id::new_id("CLI_");
        let claims = bus.subscribe(&channel::claim_request_channel(service, &id), 16).await.expect("subscribe claims");
        let responses = bus.subscribe(&channel::response_channel(service, &id), 16).await.expect("subscribe responses");
        HandClient { bus, service: service.to_owned(), id, claims, responses, sent: 0 }
    }

    async fn publish<E: Envelope>(&self, channel: &channel::Channel, message: &E) {
        let local = if self.bus.frames_carry_local_channel() { &*channel.local } else { "" };
        self.bus.publish(channel, frame::encode_envelope(message, local)).await.expect("publish");
    }

    /// Sends a request of `method`, valid for `valid_for`, allowing claim
    /// skipping or not, and returns the server's claim for it.
    pub(super) async fn request(&mut self, method: &MethodInfo, valid_for: Duration, skip_claim: bool) -> ClaimRequest {
        self.sent += 1;
        let now = SystemTime::now();
        let request = Request {
            request_id: format!("REQ_hand{:08}", self.sent),
            client_id: self.id.clone(),
            sent_at: unix_nanos(now),
            expiry: unix_nanos(now + valid_for),
            raw_request: Bytes::from(prost::Message::encode_to_vec(&ping(&self.sent.to_string()))),
            skip_claim,
            ..Default::default()
        };
        let queue = matches!(method.kind, MethodKind::Unary(Selection::Queue { .. }));
        self.publish(&channel::request_channel(&self.service, &method.name, &[] as &[&str], queue), &request).await;
        let claim: ClaimRequest = next(&mut self.claims).await;
        assert_eq!(claim.request_id, request.request_id);
        claim
    }

    /// Tells the servers of `method` that `server_id` won `request_id`.
    pub(super) async fn decide(&self, method: &MethodInfo, request_id: &str, server_id: &str) {
        let decision = ClaimResponse { request_id: request_id.to_owned(), server_id: server_id.to_owned() };
        self.publish(&channel::claim_response_channel(&self.service, &method.name, &[] as &[&str]), &decision).await;
    }

    /// Waits for the successful response to the request `claim` is for,
    /// from the server that claimed it.
    pub(super) async fn response(&mut self, claim: &ClaimRequest) {
        let response: Response = next(&mut self.responses).await;
        assert_eq!((&response.request_id, &response.server_id), (&claim.request_id, &claim.server_id));
        assert_eq!(response.error, "");
    }
}

/// The next envelope on `sub`.
async fn next<E: Envelope>(sub: &mut Subscription) -> E {
    let bytes = tokio::time::timeout(WAIT_LIMIT, sub.recv()).await.expect("in time").expect("open").expect("frame");
    frame::decode_envelope(bytes).expect("an envelope")
}
