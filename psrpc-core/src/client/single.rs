//! Single RPCs: queue and affinity methods (with the claim exchange) and
//! single-server topic methods (without it).

use std::time::SystemTime;

use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use tokio::time::{Instant, timeout_at};
use tracing::Instrument as _;

use super::engine::ClientInner;
use super::first_claim::{DecisionTo, FirstClaim, from_chosen};
use super::handle::RpcClient;
use super::routes::RouteGuard;
use super::sampling::Sampled;
use super::select::first_qualifying_wins;
use super::targets::CallTarget;
use crate::deadline;
use crate::discovery::calls::{self, Sticky};
use crate::error::{Error, ErrorCode};
use crate::info::{Describes, MethodInfo, Topics};
use crate::interceptor::{ClientUnaryNext, Reply, UnaryCall};
use crate::metadata::unix_nanos;
use crate::observe::Role;
use crate::options::{Call, RequestOptions};
use crate::payload::Payload;
use crate::spans;
use crate::transport::envelope::{ClaimResponse, Request};
use crate::transport::id;
use crate::user_code;
use crate::wire_mode::WireMode;

impl RpcClient {
    /// Calls a single-response method: one server handles the request.
    ///
    /// Queue and affinity methods select the server through the claim
    /// exchange; single-server topic methods skip it. Without any server the
    /// call fails with `unavailable` after the selection timeout.
    ///
    /// Server-id routing ([`SelectionOptions::only_servers`]) needs an
    /// affinity method, where every server sees the request; on a queue
    /// method the bus hands the request to one server of its choosing, so
    /// the call fails `invalid_argument` at once.
    ///
    /// `method` must be a unary method, and `options` may set only the
    /// fields single calls use (see [`RequestOptions`]); otherwise the call
    /// fails `invalid_argument` before anything is published.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Method, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Hello { #[prost(string, tag = "1")] name: String }
    /// static GREET: Method<Hello, Hello> = Method::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Greeter", bus.clone(), ServerOptions::default());
    /// let greet = |_: RequestContext, req: Hello| async move { Ok(Hello { name: format!("hi {}", req.name) }) };
    /// server.register_unary(&GREET, (), greet, None).await?;
    ///
    /// let client = RpcClient::new("Greeter", bus, ClientOptions::default()).await?;
    /// let hello = Hello { name: "ada".into() };
    /// let reply = client.request_single(&GREET, (), &hello, RequestOptions::default()).await?;
    /// assert_eq!(reply.message.name, "hi ada");
    /// assert_eq!(reply.server_id, server.id());
    /// # Ok(()) }
    /// ```
    ///
    /// [`SelectionOptions::only_servers`]: crate::options::SelectionOptions::only_servers
    pub async fn request_single<Req: Payload, Resp: Payload>(
        &self,
        method: &impl Describes<Req, Resp>,
        topics: impl Into<Topics>,
        request: &Req,
        mut options: RequestOptions,
    ) -> Result<Reply<Resp>, Error> {
        let (method, topics) = (method.method_info(), topics.into().into_vec());
        let client = self.inner();
        client.ensure_open()?;
        Call::Single.admit(method, client.options.wire_mode, Some(&options))?;
        let sticky = calls::before_call(&client.options, &client.service, method, &topics, Some(&options))?;
        let started = client.options.observer.is_some().then(Instant::now);
        let target = client.targets.get(&client.service, method, topics);
        let info = &target.info;
        let payload = request.encode_payload();
        for hook in &client.options.request_hooks {
            user_code::watched(info, "request hook", || hook(info, &payload));
        }

        let interceptors = client.options.unary_interceptors.iter().chain(options.unary_interceptors.iter());
        let chain: Vec<_> = interceptors.cloned().collect();
        let mut call = UnaryCall::new(payload.clone(), client.timeout(&options));
        call.metadata = std::mem::take(&mut options.metadata);
        let options = &options;
        let local = match client.options.local_first && sticky.is_none() {
            true => crate::local_first::find(&client.bus, &client.service, &method.name, &info.topics),
            false => None,
        };
        let run = |call: UnaryCall| async {
            match &local {
                Some((handler, server_id)) => local_call(client, handler, server_id, call).await,
                None => unary_call(client, method, &target, options, sticky.as_ref(), call).await,
            }
        };
        let terminal = |call: UnaryCall| -> BoxFuture<'_, Result<Reply<Bytes>, Error>> { run(call).boxed() };
        let span = spans::call(info, "single");
        let outcome = match chain.is_empty() {
            // Not boxed: without interceptors nothing needs the call as a trait object.
            true => run(call).instrument(span.clone()).await,
            false => {
                let next = ClientUnaryNext { info, chain: &chain, terminal: &terminal };
                // Built inside the boundary: an interceptor may panic before its future exists.
                let intercepted = async move { next.run(call).await };
                user_code::guarded(info, "client interceptor", intercepted).instrument(span.clone()).await
            }
        };
        spans::outcome(&span, &outcome);
        if let Ok(reply) = &outcome {
            span.record("server_id", reply.server_id.as_str());
        }

        for hook in &client.options.response_hooks {
            user_code::watched(info, "response hook", || hook(info, &payload, outcome.as_ref().map(|r| &r.message)));
        }
        if let Some(observer) = &client.options.observer {
            let response_bytes = outcome.as_ref().map_or(0, |r| r.message.len());
            let result = outcome.as_ref().map(|_| ());
            let elapsed = started.map_or_else(Default::default, |s| s.elapsed());
            observer.on_unary(Role::Client, info, elapsed, result, payload.len(), response_bytes);
        }
        let reply = outcome?;
        let message =
            Resp::decode_payload(reply.message).map_err(|e| Error::new(ErrorCode::MalformedResponse, e.to_string()))?;
        Ok(Reply { message, server_id: reply.server_id })
    }
}

/// The call run in process by a local server's handler (local-first).
async fn local_call(
    client: &ClientInner,
    handler: &crate::server::local::LocalHandler,
    server_id: &str,
    call: UnaryCall,
) -> Result<Reply<Bytes>, Error> {
    client.ensure_open()?;
    let request = crate::server::local::LocalRequest {
        client_id: client.id.clone(),
        payload: call.payload,
        metadata: call.metadata,
        timeout: call.timeout,
    };
    let message = handler.call(request).await?;
    Ok(Reply { message, server_id: server_id.to_owned() })
}

/// The call itself, after the interceptors.
async fn unary_call(
    client: &ClientInner,
    method: &MethodInfo,
    target: &CallTarget,
    options: &RequestOptions,
    sticky: Option<&Sticky>,
    call: UnaryCall,
) -> Result<Reply<Bytes>, Error> {
    client.ensure_open()?;
    let timeout = call.timeout;
    let deadline = deadline::after(timeout);
    let now = SystemTime::now();
    // The ids are written into the frame from the call's own (see `frame::encode_with_ids`).
    let request_id = id::new_shared_request_id();
    let request = Request {
        sent_at: unix_nanos(now),
        expiry: deadline::expiry(now, timeout),
        multi: false,
        raw_request: call.payload,
        metadata: call.metadata,
        // As Go psrpc 0.7.6 and later: a server of a queue method may then
        // skip the claim exchange (`ServerOptions::skip_claim`).
        skip_claim: method.queue(),
        ..Default::default()
    };
    tracing::Span::current().record("request_id", &*request_id);

    let mut guard = RouteGuard::new(client.routes.clone());
    let require_claim = client.options.wire_mode.require_claim(method);
    // The server the call chose, once it did (calls that take claims): the
    // response route drops responses from any other where they arrive.
    let chosen_lock = require_claim.then(|| std::sync::Arc::new(std::sync::OnceLock::new()));
    let mut responses = match require_claim {
        true => guard.response_from(&request_id, 2, chosen_lock.clone()),
        false => guard.one_response(&request_id),
    };
    // Selection: decided on the dispatcher when the first qualifying claim
    // wins (see `first_claim`), otherwise by this call among its claims.
    let selection =
        require_claim.then(|| sticky.map_or_else(|| client.selection(method, options), |s| s.selection.clone()));
    // Native AFFINITY calls ask a sample of the servers (see `sampling`).
    let sampled = match &selection {
        Some(selection) if client.options.wire_mode.samples_claims(method) => {
            let whole = Request { request_id: request_id.to_string(), client_id: client.id.clone(), ..request.clone() };
            Sampled::plan(client, target, selection, whole, deadline)
        }
        _ => None,
    };
    let decision_to = DecisionTo {
        bus: std::sync::Arc::clone(&client.bus),
        claim_response: target.claim_response.clone(),
        sampled: sampled.clone(),
    };
    let (first, selection) = match selection {
        Some(selection) if first_qualifying_wins(&selection) => {
            let first = FirstClaim::new(
                &request_id,
                decision_to.clone(),
                selection,
                method.queue(),
                &client.routes,
                chosen_lock.clone().unwrap_or_default(),
            );
            guard.decided_claims(&request_id, std::sync::Arc::clone(&first) as _);
            (Some(first), None)
        }
        other => (None, other),
    };
    let mut claims = selection.as_ref().map(|_| guard.claim(&request_id, client.options.channel_capacity));

    let request_channel = sticky.and_then(|s| s.channel.as_ref()).unwrap_or(&target.request);
    match &sampled {
        Some(sampled) => within(deadline, sampled.publish_request()).await?,
        None => client.publish_request(request_channel, &request_id, &request, deadline).await?,
    }

    let mut chosen_server = None;
    if let (Some(claims), Some(selection)) = (claims.as_mut(), &selection) {
        let select = super::select::select_among(
            &target.info,
            claims,
            Some(&mut responses),
            selection,
            method.queue(),
            deadline,
            sampled.as_deref(),
        );
        let chosen = select.await?;
        guard.release_claims();
        chosen_server = Some(chosen.server_id.clone());
        if let Some(lock) = &chosen_lock {
            let _ = lock.set(chosen.server_id.clone());
        }
        // A server that announced it handles the request awaits no decision.
        if !chosen.handling {
            let claim = ClaimResponse { request_id: request_id.to_string(), server_id: chosen.server_id };
            within(deadline, decision_to.publish(&claim)).await?;
        }
    }

    // With a registry, the call fails as soon as its server stops heartbeating.
    let chosen = async {
        match &first {
            Some(first) => first.winner().await,
            None => chosen_server.clone(),
        }
    };
    let response = calls::unless_gone(&client.options, chosen, async {
        match &first {
            Some(first) => first.response(&mut responses, deadline).await,
            None => {
                let from_chosen = async {
                    loop {
                        let response = responses.recv().await?;
                        if from_chosen(chosen_server.as_deref(), &response) {
                            return Some(response);
                        }
                    }
                };
                timeout_at(deadline, from_chosen).await.map_err(|_| timed_out(client, method))
            }
        }
    })
    .await?;
    match response {
        None => Err(Error::client_closed()),
        Some(res) if !res.error.is_empty() => Err(Error::from_wire(&res.code, res.error, res.error_details)),
        Some(res) => Ok(Reply { message: res.raw_response, server_id: res.server_id }),
    }
}

/// Runs a publish, giving up with `deadline_exceeded` at the call's `deadline`.
async fn within(deadline: Instant, publish: impl Future<Output = Result<(), Error>>) -> Result<(), Error> {
    timeout_at(deadline, publish).await.map_err(|_| Error::request_timed_out())?
}

/// The error of a call no response reached in time. In the native wire mode
/// it also says where to look when no server answers at all.
fn timed_out(client: &ClientInner, method: &MethodInfo) -> Error {
    match client.options.wire_mode {
        WireMode::Native if method.queue() => crate::wire_mode::native_timeout_error(),
        _ => Error::request_timed_out(),
    }
}
