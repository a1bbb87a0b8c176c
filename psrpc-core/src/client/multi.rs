//! Multi RPCs: every server answers; the caller reads a stream of responses.

use std::collections::HashSet;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep, sleep_until};
use tracing::Instrument as _;

use super::engine::ClientInner;
use super::routes::RouteGuard;
use crate::deadline;
use crate::error::{Error, ErrorCode};
use crate::info::{MethodInfo, RpcInfo};
use crate::interceptor::{ClientMultiInterceptor, ResponseHook, UnaryCall};
use crate::metadata::unix_nanos;
use crate::observe::{Role, SharedObserver};
use crate::options::{Call, RequestOptions};
use crate::payload::Payload;
use crate::spans;
use crate::transport::envelope::{self, Request};
use crate::transport::id;
use crate::user_code;

/// One server's answer to a multi-RPC.
///
/// ```
/// use psrpc::{Error, ErrorCode, Response};
/// let answer: Response<u32> = Response { server_id: "SRV_a".into(), result: Err(Error::new(ErrorCode::NotFound, "no such room")) };
/// assert_eq!(answer.result.unwrap_err().code(), ErrorCode::NotFound);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Response<T> {
    /// The server that answered.
    pub server_id: String,
    /// Its result.
    pub result: Result<T, Error>,
}

/// Publishes a multi call for `client` and returns its responses (the body
/// of [`RpcClient::request_multi`](crate::client::RpcClient::request_multi)).
pub(crate) async fn request<Req: Payload, Resp: Payload>(
    client: &Arc<ClientInner>,
    method: &MethodInfo,
    topics: Vec<String>,
    request: &Req,
    options: RequestOptions,
) -> Result<MultiResponses<Resp>, Error> {
    client.ensure_open()?;
    Call::Multi.admit(method, client.options.wire_mode, Some(&options))?;
    crate::discovery::calls::before_call(&client.options, &client.service, method, &topics, None)?;
    let started = Instant::now();
    let target = client.targets.get(&client.service, method, topics);
    let mut call = UnaryCall::new(request.encode_payload(), client.timeout(&options));
    call.metadata = options.metadata;
    let info = &target.info;
    for hook in &client.options.request_hooks {
        user_code::watched(info, "request hook", || hook(info, &call.payload));
    }
    for interceptor in &client.options.multi_interceptors {
        user_code::catch(info, "multi interceptor", || interceptor.on_send(info, &mut call))?;
    }

    let timeout = call.timeout;
    // The call's time starts before its publish: waiting on the transport counts.
    let deadline = deadline::after(timeout);
    let now = SystemTime::now();
    let request_id = id::new_shared_request_id();
    let request = Request {
        sent_at: unix_nanos(now),
        expiry: deadline::expiry(now, timeout),
        multi: true,
        raw_request: call.payload.clone(),
        metadata: call.metadata,
        ..Default::default()
    };
    let mut guard = RouteGuard::new(client.routes.clone());
    let rx = guard.response(&request_id, client.options.channel_capacity);
    let span = spans::call(&target.info, "multi");
    span.record("request_id", &*request_id);
    let published =
        client.publish_request(&target.request, &request_id, &request, deadline).instrument(span.clone()).await;
    spans::outcome(&span, &published);
    published?;

    Ok(MultiResponses {
        rx,
        _guard: guard,
        _client: Arc::clone(client),
        deadline: Box::pin(sleep_until(deadline)),
        expected_count: options.expected_responses,
        expected_servers: options.expected_servers,
        answered: HashSet::new(),
        done: false,
        observers: Observers {
            info: target.info.clone(),
            request: call.payload,
            interceptors: client.options.multi_interceptors.clone(),
            hooks: client.options.response_hooks.clone(),
            report: client.options.observer.clone().map(|observer| MultiReport {
                observer,
                started,
                responses: 0,
                errors: 0,
                response_bytes: 0,
            }),
        },
        _message: std::marker::PhantomData,
    })
}

/// The responses of a multi-RPC, as a [`Stream`] of [`Response`]s.
///
/// Dropping it cancels the call and frees its routes.
///
/// ```
/// # use std::sync::Arc;
/// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, ServerOptions, SharedBus};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Load { #[prost(uint32, tag = "1")] percent: u32 }
/// static LOAD: MethodInfo = MethodInfo::new("Load", MethodKind::Multi { topics: false });
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let mut servers = Vec::new();
/// for percent in [10, 70] {
///     let server = RpcServer::new("Nodes", bus.clone(), ServerOptions::default());
///     let load = move |_: RequestContext, _: Load| async move { Ok(Load { percent }) };
///     server.register_unary(&LOAD, vec![], load, None).await?;
///     servers.push(server);
/// }
/// let client = RpcClient::new("Nodes", bus, ClientOptions::default()).await?;
/// use futures_util::StreamExt as _;
/// let options = RequestOptions::default().expected_responses(2);
/// let mut responses = client.request_multi::<Load, Load>(&LOAD, vec![], &Load::default(), options).await?;
/// let mut count = 0;
/// while let Some(response) = responses.next().await {
///     assert!(response.result.is_ok(), "{} failed", response.server_id);
///     count += 1;
/// }
/// assert_eq!(count, 2);
/// # Ok(()) }
/// ```
pub struct MultiResponses<T> {
    rx: mpsc::Receiver<envelope::Response>,
    _guard: RouteGuard,
    /// Keeps the client's dispatcher alive while responses may arrive.
    _client: Arc<ClientInner>,
    deadline: Pin<Box<Sleep>>,
    expected_count: Option<usize>,
    expected_servers: Option<HashSet<String>>,
    answered: HashSet<String>,
    done: bool,
    observers: Observers,
    _message: std::marker::PhantomData<fn() -> T>,
}

struct Observers {
    info: RpcInfo,
    request: Bytes,
    interceptors: Vec<Arc<dyn ClientMultiInterceptor>>,
    hooks: Vec<ResponseHook>,
    report: Option<MultiReport>,
}

/// What the observer hears when the call ends.
struct MultiReport {
    observer: SharedObserver,
    started: Instant,
    responses: usize,
    errors: usize,
    response_bytes: usize,
}

impl<T> std::fmt::Debug for MultiResponses<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiResponses")
            .field("answered", &self.answered)
            .field("expected_count", &self.expected_count)
            .field("expected_servers", &self.expected_servers)
            .field("done", &self.done)
            .finish()
    }
}

impl<T: Payload> MultiResponses<T> {
    /// Waits for every response and returns them.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Load { #[prost(uint32, tag = "1")] percent: u32 }
    /// static LOAD: MethodInfo = MethodInfo::new("Load", MethodKind::Multi { topics: false });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let mut servers = Vec::new();
    /// for percent in [10, 70] {
    ///     let server = RpcServer::new("Nodes", bus.clone(), ServerOptions::default());
    ///     let load = move |_: RequestContext, _: Load| async move { Ok(Load { percent }) };
    ///     server.register_unary(&LOAD, vec![], load, None).await?;
    ///     servers.push(server);
    /// }
    /// let client = RpcClient::new("Nodes", bus, ClientOptions::default()).await?;
    /// let options = RequestOptions::default().expected_responses(2);
    /// let responses = client.request_multi::<Load, Load>(&LOAD, vec![], &Load::default(), options).await?;
    /// assert_eq!(responses.collect_all().await.len(), 2);
    /// # Ok(()) }
    /// ```
    pub async fn collect_all(mut self) -> Vec<Response<T>> {
        let mut out = Vec::new();
        while let Some(r) = std::future::poll_fn(|cx| Pin::new(&mut self).poll_next(cx)).await {
            out.push(r);
        }
        out
    }

    /// Servers that answered so far.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Load { #[prost(uint32, tag = "1")] percent: u32 }
    /// static LOAD: MethodInfo = MethodInfo::new("Load", MethodKind::Multi { topics: false });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let mut servers = Vec::new();
    /// for percent in [10, 70] {
    ///     let server = RpcServer::new("Nodes", bus.clone(), ServerOptions::default());
    ///     let load = move |_: RequestContext, _: Load| async move { Ok(Load { percent }) };
    ///     server.register_unary(&LOAD, vec![], load, None).await?;
    ///     servers.push(server);
    /// }
    /// let client = RpcClient::new("Nodes", bus, ClientOptions::default()).await?;
    /// use futures_util::StreamExt as _;
    /// let options = RequestOptions::default().expected_responses(2);
    /// let mut responses = client.request_multi::<Load, Load>(&LOAD, vec![], &Load::default(), options).await?;
    /// let first = responses.next().await.expect("a response");
    /// assert!(responses.answered().contains(&first.server_id));
    /// # Ok(()) }
    /// ```
    pub fn answered(&self) -> &HashSet<String> {
        &self.answered
    }

    /// Expected servers (see [`RequestOptions::expected_servers`]) that have not answered.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Load { #[prost(uint32, tag = "1")] percent: u32 }
    /// static LOAD: MethodInfo = MethodInfo::new("Load", MethodKind::Multi { topics: false });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let mut servers = Vec::new();
    /// for percent in [10, 70] {
    ///     let server = RpcServer::new("Nodes", bus.clone(), ServerOptions::default());
    ///     let load = move |_: RequestContext, _: Load| async move { Ok(Load { percent }) };
    ///     server.register_unary(&LOAD, vec![], load, None).await?;
    ///     servers.push(server);
    /// }
    /// let client = RpcClient::new("Nodes", bus, ClientOptions::default()).await?;
    /// use std::time::Duration;
    /// use futures_util::StreamExt as _;
    /// let expected = [servers[0].id(), servers[1].id(), "SRV_gone"];
    /// let options = RequestOptions::default().expected_servers(expected).timeout(Duration::from_millis(200));
    /// let mut responses = client.request_multi::<Load, Load>(&LOAD, vec![], &Load::default(), options).await?;
    /// while responses.next().await.is_some() {} // ends at the timeout: one server never answers
    /// assert_eq!(responses.missing(), ["SRV_gone"]);
    /// # Ok(()) }
    /// ```
    pub fn missing(&self) -> Vec<String> {
        let mut missing: Vec<String> =
            self.expected_servers.iter().flatten().filter(|s| !self.answered.contains(*s)).cloned().collect();
        missing.sort();
        missing
    }

    fn complete(&self) -> bool {
        let by_count = self.expected_count.is_some_and(|n| self.answered.len() >= n);
        let by_set = self.expected_servers.as_ref().is_some_and(|set| set.iter().all(|s| self.answered.contains(s)));
        by_count || by_set
    }

    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            let observers = &self.observers;
            for interceptor in &observers.interceptors {
                user_code::watched(&observers.info, "multi interceptor", || interceptor.on_close(&observers.info));
            }
            if let Some(r) = &observers.report {
                let (elapsed, request_bytes) = (r.started.elapsed(), observers.request.len());
                let (info, responses, errors) = (&observers.info, r.responses, r.errors);
                r.observer.on_multi(Role::Client, info, elapsed, responses, errors, request_bytes, r.response_bytes);
            }
        }
    }

    fn convert(&mut self, res: envelope::Response) -> Response<T> {
        let mut result = if res.error.is_empty() {
            Ok(res.raw_response)
        } else {
            Err(Error::from_wire(&res.code, res.error, res.error_details))
        };
        let (info, request) = (&self.observers.info, &self.observers.request);
        for interceptor in &self.observers.interceptors {
            let on_response = || {
                interceptor.on_response(info, &res.server_id, &mut result);
                Ok(())
            };
            if let Err(panicked) = user_code::catch(info, "multi interceptor", on_response) {
                result = Err(panicked);
            }
        }
        for hook in &self.observers.hooks {
            user_code::watched(info, "response hook", || hook(info, request, result.as_ref()));
        }
        if let Some(report) = &mut self.observers.report {
            match &result {
                Ok(bytes) => {
                    (report.responses, report.response_bytes) =
                        (report.responses + 1, report.response_bytes + bytes.len())
                }
                Err(_) => report.errors += 1,
            }
        }
        let result = result.and_then(|bytes| {
            T::decode_payload(bytes).map_err(|e| Error::new(ErrorCode::MalformedResponse, e.to_string()))
        });
        Response { server_id: res.server_id, result }
    }
}

impl<T: Payload> Stream for MultiResponses<T> {
    type Item = Response<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.complete() {
            this.finish();
            return Poll::Ready(None);
        }
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(res)) => {
                this.answered.insert(res.server_id.clone());
                Poll::Ready(Some(this.convert(res)))
            }
            Poll::Ready(None) => {
                // The client was closed while the call was pending.
                this.finish();
                Poll::Ready(Some(Response { server_id: String::new(), result: Err(Error::client_closed()) }))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.finish();
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
