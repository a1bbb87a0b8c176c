//! Unary handlers: the request loop and the life of one request.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::claim::{Claim, PendingClaims};
use super::engine::Prepared;
use super::engine::ServerInner;
use super::registry::{Handler, Phase, next_phase};
use crate::context::RequestContext;
use crate::error::{Error, ErrorCode};
use crate::info::{MethodInfo, RpcInfo};
use crate::interceptor::ServerUnaryNext;
use crate::metadata::unix_nanos;
use crate::observe::Role;
use crate::transport::bus::Subscription;
use crate::transport::channel;
use crate::transport::envelope::{Request, Response};
use crate::transport::frame::{self, Ids};
use crate::user_code;
use crate::{deadline, spans};

/// A decoded request, typed by the method that decoded it.
pub(crate) type Decoded = Box<dyn std::any::Any + Send>;

/// A unary method as the handler loop sees it.
pub(crate) trait UnaryMethod: Send + Sync + 'static {
    /// Decodes a request; failure is a `malformed_request`.
    fn decode(&self, payload: Bytes) -> Result<Decoded, Error>;
    /// Whether an affinity function (user code) scores requests.
    fn has_affinity_fn(&self) -> bool;
    /// This server's affinity for the request (1 without an affinity function).
    fn affinity(&self, ctx: &RequestContext, request: &Decoded) -> f32;
    /// Runs the handler and encodes its response.
    fn call(&self, ctx: RequestContext, request: Decoded) -> BoxFuture<'static, Result<Bytes, Error>>;
}

/// Subscribes the request (and claim) channels of `method` on `topics` and
/// starts its handler loop.
pub(super) async fn register(
    server: &Arc<ServerInner>,
    method: &MethodInfo,
    topics: Vec<String>,
    method_impl: Arc<dyn UnaryMethod>,
) -> Result<(), Error> {
    let Prepared { key, info, claims } = server.prepare(method, topics).await?;
    let (capacity, mode) = (server.options.channel_capacity, server.options.wire_mode);
    let require_claim = mode.require_claim(method);
    let request_channel = mode.request_channel(&info, method);
    let requests = if method.queue() && require_claim {
        server.bus.subscribe_queue_claimed(&request_channel, capacity).await?
    } else if method.queue() {
        server.bus.subscribe_queue(&request_channel, capacity).await?
    } else {
        server.bus.subscribe(&request_channel, capacity).await?
    };
    // Go-compatible callers of a native server are told of the mismatch.
    let mismatched = match mode.mismatch_channel(&info, method) {
        Some(channel) => Some(server.bus.subscribe_queue(&channel, capacity).await?),
        None => None,
    };
    // Sticky calls of a queue method come on a channel of their own (discovery).
    let sticky = match method.queue() && require_claim {
        true => match server.hook.direct_channel(&info) {
            Some(channel) => Some(server.bus.subscribe(&channel, capacity).await?),
            None => None,
        },
        false => None,
    };
    // Native AFFINITY methods also take requests sent to this server alone
    // (sampled claims), and the decisions on them.
    let direct = match mode.samples_claims(method) {
        true => {
            let (requests, claims) =
                channel::native_server_channels(&info.service, &info.method, &info.topics, &server.id);
            let requests = server.bus.subscribe(&requests, capacity).await?;
            Some((requests, server.bus.subscribe(&claims, capacity).await?))
        }
        false => None,
    };
    let (handler, phase) = Handler::new();
    server.registry.insert(key, Arc::clone(&handler))?;
    let method = Arc::new(UnaryLoop {
        server: Arc::clone(server),
        info: Arc::new(info),
        require_claim,
        queue: method.queue(),
        claims_queued_frames: method.queue() && require_claim,
        method_impl,
        handler,
        pending: Arc::default(),
    });
    let local = Arc::downgrade(&method);
    method.handler.set_local(super::local::LocalHandler::new(move |request| match local.upgrade() {
        Some(method) => Box::pin(async move { method.call_here(request).await }),
        None => Box::pin(async { Err(Error::server_closed()) }),
    }));
    let handler_ref = Arc::clone(&method.handler);
    let requests = Requests { requests, sticky, mismatched, direct };
    handler_ref.set_task(tokio::spawn(method.run(requests, claims, phase)));
    Ok(())
}

/// The subscriptions a unary method takes requests from.
struct Requests {
    /// The method's request channel.
    requests: Subscription,
    /// Sticky calls of a queue method (discovery).
    sticky: Option<Subscription>,
    /// Requests of callers in the other wire mode, answered with the mismatch.
    mismatched: Option<Subscription>,
    /// Requests sent to this server alone, and the decisions on them
    /// (native AFFINITY methods).
    direct: Option<(Subscription, Subscription)>,
}

/// How often claims whose decision can no longer come are dropped.
const CLAIM_SWEEP: std::time::Duration = std::time::Duration::from_secs(1);

struct UnaryLoop {
    server: Arc<ServerInner>,
    /// Shared with every request's context.
    info: Arc<RpcInfo>,
    require_claim: bool,
    /// A queue method: the only kind whose claim a server may skip.
    queue: bool,
    /// Requests come from a claimed queue subscription: the claim is
    /// published with `publish_claim` for the request's frame.
    claims_queued_frames: bool,
    method_impl: Arc<dyn UnaryMethod>,
    handler: Arc<Handler>,
    pending: Arc<PendingClaims>,
}

impl UnaryLoop {
    /// Takes requests and claim decisions inline on the delivering task (a
    /// request is decoded and its work spawned there), and follows the
    /// handler's phase: draining unsubscribes the requests, stopping ends all.
    async fn run(self: Arc<Self>, requests: Requests, claims: Option<Subscription>, mut phase: watch::Receiver<Phase>) {
        let this = self;
        let Requests { requests, sticky, mismatched, direct } = requests;
        let accept = {
            let this = Arc::clone(&this);
            move |bytes| this.accept(bytes, this.claims_queued_frames)
        };
        // Sticky and direct requests come on plain subscriptions.
        let accept_plain = || {
            let this = Arc::clone(&this);
            move |bytes| this.accept(bytes, false)
        };
        let mut sticky = sticky.map(|sub| Box::pin(sub.run_inline(accept_plain())));
        let refuse = {
            let this = Arc::clone(&this);
            move |bytes| this.refuse(bytes)
        };
        let mut mismatched = mismatched.map(|sub| Box::pin(sub.run_inline(refuse)));
        let decide = || {
            let pending = Arc::clone(&this.pending);
            move |bytes| pending.on_claim_frame(bytes)
        };
        let (direct, direct_claims) = direct.unzip();
        let mut direct = direct.map(|sub| Box::pin(sub.run_inline(accept_plain())));
        let mut direct_claims = direct_claims.map(|sub| Box::pin(sub.run_inline(decide())));
        let mut requests = Some(Box::pin(requests.run_inline(accept)));
        let mut claims = claims.map(|sub| Box::pin(sub.run_inline(decide())));
        let mut expiry = tokio::time::interval(CLAIM_SWEEP);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                next = next_phase(&mut phase) => match next {
                    Phase::Stopped => return this.pending.clear(),
                    Phase::Draining => (requests, sticky, mismatched, direct) = (None, None, None, None),
                    Phase::Running => {}
                },
                () = until_ended(&mut requests) => {
                    tracing::debug!(method = %this.info.method, "psrpc server: request subscription ended");
                    requests = None;
                }
                () = until_ended(&mut sticky) => sticky = None,
                () = until_ended(&mut mismatched) => mismatched = None,
                () = until_ended(&mut claims) => claims = None,
                () = until_ended(&mut direct) => direct = None,
                () = until_ended(&mut direct_claims) => direct_claims = None,
                now = expiry.tick(), if this.require_claim => this.pending.expire(now),
            }
        }
    }

    /// Starts handling one request frame, on the task that delivered it:
    /// decodes and routes it; user code runs on a task of its own (only the
    /// observer may hear of the request here: an expired request, or one
    /// claimed from here). `queued`: the frame came from a claimed queue
    /// subscription.
    fn accept(self: &Arc<Self>, bytes: Bytes, queued: bool) {
        let queued = queued.then(|| bytes.clone());
        let (ids, request) = match frame::decode_with_ids::<Request>(bytes) {
            Ok(decoded) => decoded,
            Err(e) => return tracing::debug!(error = %e, "psrpc server: skipping request frame"),
        };
        if request.expiry <= unix_nanos(SystemTime::now()) {
            if let Some(observer) = &self.server.options.observer {
                observer.on_request_expired(&self.info);
            }
            return tracing::debug!(request = %ids.request_id, "psrpc server: dropping expired request");
        }
        let Some(tracked) = self.handler.admit() else {
            return tracing::debug!(request = %ids.request_id, "psrpc server: draining, request dropped");
        };
        let this = Arc::clone(self);
        let work = async move { this.handle(ids, request, queued).await };
        if self.require_claim && !self.method_impl.has_affinity_fn() {
            // No user code runs before the client's decision: claim from here.
            self.server.start_here(tracked, work);
        } else {
            self.server.spawn_work(tracked, work);
        }
    }

    /// Answers a request of a caller in the other wire mode with the
    /// mismatch error (no user code runs).
    fn refuse(self: &Arc<Self>, bytes: Bytes) {
        let ids = match frame::decode_with_ids::<Request>(bytes) {
            Ok((ids, request)) if request.expiry > unix_nanos(SystemTime::now()) => ids,
            _ => return,
        };
        let Some(tracked) = self.handler.admit() else { return };
        tracing::warn!(service = %self.info.service, method = %self.info.method, client = %ids.sender_id,
            "psrpc server: a Go-compatible caller reached this native-mode server");
        let this = Arc::clone(self);
        let refusal = crate::wire_mode::mismatch_error(&self.info);
        self.server.start_here(tracked, async move { this.respond(&ids, Err(refusal)).await });
    }

    /// Handles one request; `queued` is its frame when the claim must be
    /// published with `publish_claim`. A claimed request's handler starts on
    /// a task of its own once the client's decision arrives.
    async fn handle(self: Arc<Self>, ids: Ids, mut request: Request, queued: Option<Bytes>) {
        if let Some(observer) = &self.server.options.observer {
            observer.on_request_received(&self.info);
        }
        let ctx = RequestContext::new(
            Arc::clone(&self.info),
            ids.sender_id.clone(),
            request.sent_at,
            request.expiry,
            std::mem::take(&mut request.metadata),
            Arc::clone(&self.server.id),
        );
        let payload = std::mem::take(&mut request.raw_request);
        let decoded = match self.method_impl.decode(payload.clone()) {
            Ok(d) => d,
            Err(e) => return self.respond(&ids, Err(e)).await,
        };
        if !self.require_claim {
            return self.serve(ctx, ids, payload, decoded).await;
        }
        let affinity = self.method_impl.affinity(&ctx, &decoded);
        if affinity < 0.0 {
            return;
        }
        let deadline = ctx.deadline();
        let (client_id, request_id) = (ids.sender_id.clone(), ids.request_id.clone());
        let claim = Claim { client_id: &client_id, request_id: &request_id, affinity };
        // Claim skipping (Go psrpc >= 0.7.6): the caller allows it, this
        // server is configured for it, and the bus handed the request to this
        // server alone (a queue method, never a broadcast one).
        let skip = request.skip_claim && self.queue && self.server.options.skips_claim();
        if skip && !super::claim::announce(&self.server, &self.info, claim, queued.as_ref()).await {
            return;
        }
        // Waiting for the decision counts as in flight: shutdown waits for it.
        let waiting = self.handler.in_flight.start();
        let this = Arc::clone(&self);
        if skip {
            let work = async move { this.serve(ctx, ids, payload, decoded).await };
            return self.server.spawn_work(waiting, work);
        }
        let chosen = move || {
            let server = Arc::clone(&this.server);
            server.spawn_work(waiting, async move { this.serve(ctx, ids, payload, decoded).await });
        };
        self.pending.claim_then(&self.server, &self.info, claim, queued.as_ref(), deadline, chosen).await;
    }

    /// Runs the interceptors and the handler (within the request's deadline,
    /// behind the panic boundary) and sends the outcome.
    async fn serve(&self, ctx: RequestContext, ids: Ids, payload: Bytes, decoded: Decoded) {
        let deadline = ctx.deadline();
        let started = Instant::now();
        let request_bytes = payload.len();
        let kind = if self.info.multi { "multi" } else { "single" };
        let span = spans::handle(&self.info, kind, &ids.request_id, &ids.sender_id, &self.server.id);
        // Calls the handler makes inherit what is left of the request's time.
        let call =
            user_code::guarded(&self.info, "handler", deadline::scope(deadline, self.call(ctx, payload, decoded)));
        let outcome = tokio::time::timeout_at(deadline, call).instrument(span.clone()).await;
        let passed_deadline = outcome.is_err();
        let outcome = outcome.unwrap_or_else(|_| Err(Error::request_timed_out()));
        spans::outcome(&span, &outcome);
        self.report(started, &outcome, request_bytes);
        if passed_deadline {
            return tracing::debug!(request = %ids.request_id, "psrpc server: handler passed the deadline");
        }
        self.respond(&ids, outcome).await;
    }

    /// Tells the observer how a request ended.
    fn report(&self, started: Instant, outcome: &Result<Bytes, Error>, request_bytes: usize) {
        let Some(observer) = &self.server.options.observer else { return };
        let (elapsed, response_bytes) = (started.elapsed(), outcome.as_ref().map_or(0, Bytes::len));
        if self.info.multi {
            let (ok, failed) = if outcome.is_ok() { (1, 0) } else { (0, 1) };
            observer.on_multi(Role::Server, &self.info, elapsed, ok, failed, request_bytes, response_bytes);
        } else {
            let result = outcome.as_ref().map(|_| ());
            observer.on_unary(Role::Server, &self.info, elapsed, result, request_bytes, response_bytes);
        }
    }

    /// Runs one request in process, on the caller's task (a local-first
    /// call): no claim, the handler behind the same interceptors, deadline,
    /// panic boundary and in-flight count as a request from the bus.
    async fn call_here(&self, request: super::local::LocalRequest) -> Result<Bytes, Error> {
        self.server.ensure_running()?;
        let Some(_tracked) = self.handler.admit() else { return Err(Error::server_closed()) };
        if let Some(observer) = &self.server.options.observer {
            observer.on_request_received(&self.info);
        }
        let now = SystemTime::now();
        let expiry = deadline::expiry(now, request.timeout);
        let (info, server_id) = (Arc::clone(&self.info), Arc::clone(&self.server.id));
        let client_id = request.client_id.into();
        let ctx = RequestContext::new(info, client_id, unix_nanos(now), expiry, request.metadata, server_id);
        let started = Instant::now();
        let deadline = ctx.deadline();
        let decoded = self.method_impl.decode(request.payload.clone())?;
        let call = user_code::guarded(
            &self.info,
            "handler",
            deadline::scope(deadline, self.call(ctx, request.payload.clone(), decoded)),
        );
        let outcome = tokio::time::timeout_at(deadline, call).await.unwrap_or_else(|_| Err(Error::request_timed_out()));
        self.report(started, &outcome, request.payload.len());
        outcome
    }

    /// Runs the interceptor chain around the handler.
    async fn call(&self, ctx: RequestContext, payload: Bytes, decoded: Decoded) -> Result<Bytes, Error> {
        let chain = &self.server.options.unary_interceptors;
        if chain.is_empty() {
            return self.method_impl.call(ctx, decoded).await;
        }
        let method_impl = &self.method_impl;
        let handler_ctx = ctx.clone();
        let terminal = move |bytes: Bytes| -> BoxFuture<'_, Result<Bytes, Error>> {
            let ctx = handler_ctx.clone();
            async move { method_impl.call(ctx, method_impl.decode(bytes)?).await }.boxed()
        };
        ServerUnaryNext { ctx: &ctx, chain, terminal: &terminal }.run(payload).await
    }

    /// Sends the outcome of the request `ids` to its client.
    async fn respond(&self, ids: &Ids, outcome: Result<Bytes, Error>) {
        let channels = self.server.reply_channels.get(&self.server.service, &ids.sender_id);
        let mut response = Response { sent_at: unix_nanos(SystemTime::now()), ..Default::default() };
        match outcome {
            Ok(bytes) => response.raw_response = bytes,
            Err(e) => set_error(&mut response, &e),
        }
        let Err(e) = self.server.publish_response(&channels.response, &ids.request_id, &response).await else { return };
        // Decision: a response over the bus's frame limit is replaced by
        // that error (`resource_exhausted`, naming both sizes), so the
        // caller learns why at once instead of timing out. The error
        // carries no details: it is small, so it is sent unless the
        // connection itself failed.
        let e = match e.code() {
            ErrorCode::ResourceExhausted => {
                response.raw_response = Bytes::new();
                set_error(&mut response, &Error::new(e.code(), e.message()));
                let Err(again) = self.server.publish_response(&channels.response, &ids.request_id, &response).await
                else {
                    return;
                };
                again
            }
            _ => e,
        };
        tracing::warn!(error = %e, request = %ids.request_id, "psrpc server: response not sent");
    }
}

/// Makes `response` carry `error`.
fn set_error(response: &mut Response, error: &Error) {
    response.error = error.message().to_owned();
    response.code = error.code().as_str().to_owned();
    response.error_details = error.details().to_vec();
}

/// Resolves when an inline subscription ends (pending forever when absent).
async fn until_ended<F: Future<Output = ()>>(inline: &mut Option<std::pin::Pin<Box<F>>>) {
    match inline {
        Some(f) => f.as_mut().await,
        None => std::future::pending().await,
    }
}
