//! Typed registration: adapts user handlers over [`Payload`] types to the
//! byte-level handler loops.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use super::stream::StreamMethod;
use super::unary::{Decoded, UnaryMethod};
use super::{RpcServer, Serve};
use crate::context::RequestContext;
use crate::error::{Error, ErrorCode};
use crate::info::MethodInfo;
use crate::payload::Payload;
use crate::stream::{RpcStream, ServerStream, StreamCore};
use crate::user_code;

/// Computes a server's affinity for a request; negative means "do not claim".
///
/// It runs on the request's own task, behind the panic boundary (a panic
/// counts as "do not claim").
///
/// ```
/// use std::sync::Arc;
/// use psrpc::{AffinityFn, RequestContext};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Job { #[prost(uint32, tag = "1")] size: u32 }
/// // Claim small jobs eagerly, refuse huge ones.
/// let affinity: AffinityFn<Job> = Arc::new(|_: &RequestContext, job: &Job| if job.size > 1000 { -1.0 } else { 1.0 / (1.0 + job.size as f32) });
/// # let _ = affinity;
/// ```
pub type AffinityFn<Req> = Arc<dyn Fn(&RequestContext, &Req) -> f32 + Send + Sync>;

/// Computes a server's affinity for a stream; negative means "do not claim".
///
/// ```
/// use std::sync::Arc;
/// use psrpc::{RequestContext, StreamAffinityFn};
/// // Only take streams from callers that say which region they are in.
/// let affinity: StreamAffinityFn = Arc::new(|ctx: &RequestContext| if ctx.metadata().contains_key("region") { 1.0 } else { -1.0 });
/// # let _ = affinity;
/// ```
pub type StreamAffinityFn = Arc<dyn Fn(&RequestContext) -> f32 + Send + Sync>;

struct TypedUnary<Req, Resp, H> {
    handler: H,
    affinity: Option<AffinityFn<Req>>,
    _types: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp, H, F> UnaryMethod for TypedUnary<Req, Resp, H>
where
    Req: Payload,
    Resp: Payload,
    H: Fn(RequestContext, Req) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Resp, Error>> + Send + 'static,
{
    fn decode(&self, payload: Bytes) -> Result<Decoded, Error> {
        Req::decode_payload(payload)
            .map(|r| Box::new(r) as Decoded)
            .map_err(|e| Error::new(ErrorCode::MalformedRequest, e.to_string()))
    }

    fn has_affinity_fn(&self) -> bool {
        self.affinity.is_some()
    }

    fn affinity(&self, ctx: &RequestContext, request: &Decoded) -> f32 {
        match (&self.affinity, request.downcast_ref::<Req>()) {
            (Some(f), Some(req)) => user_code::guarded_affinity(ctx.rpc_info(), || f(ctx, req)),
            _ => 1.0,
        }
    }

    fn call(&self, ctx: RequestContext, request: Decoded) -> BoxFuture<'static, Result<Bytes, Error>> {
        let Ok(request) = request.downcast::<Req>() else {
            return Box::pin(async { Err(Error::new(ErrorCode::Internal, "request of the wrong type")) });
        };
        let response = (self.handler)(ctx, *request);
        Box::pin(async move { Ok(response.await?.encode_payload()) })
    }
}

struct TypedStream<In, Out, H> {
    handler: H,
    affinity: Option<StreamAffinityFn>,
    _types: PhantomData<fn(In) -> Out>,
}

impl<In, Out, H, F> StreamMethod for TypedStream<In, Out, H>
where
    In: Payload,
    Out: Payload,
    H: Fn(ServerStream<Out, In>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), Error>> + Send + 'static,
{
    fn affinity(&self, ctx: &RequestContext) -> f32 {
        self.affinity.as_ref().map_or(1.0, |f| user_code::guarded_affinity(ctx.rpc_info(), || f(ctx)))
    }

    fn run(
        &self,
        core: Arc<StreamCore>,
        incoming: mpsc::Receiver<Bytes>,
        ctx: RequestContext,
    ) -> BoxFuture<'static, Result<(), Error>> {
        let stream = RpcStream::<Out, In>::new(core, incoming, Some(ctx));
        Box::pin((self.handler)(stream))
    }
}

impl RpcServer {
    /// Serves a unary method (single, affinity, multi or single-server topic)
    /// on `topics` with `handler`.
    ///
    /// The handler runs on a task of its own per request, inside the
    /// request's deadline ([`deadline`](crate::deadline)); `affinity`
    /// scores each request before the claim (a method without the claim
    /// exchange takes none: registering one fails with `invalid_argument`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{AffinityFn, ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Job { #[prost(uint32, tag = "1")] size: u32 }
    /// static RUN: MethodInfo = MethodInfo::new("Run", MethodKind::Unary(Selection::Affinity { topics: true }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Jobs", bus.clone(), ServerOptions::default());
    /// let run = |ctx: RequestContext, job: Job| async move {
    ///     assert_eq!(ctx.rpc_info().topics, ["gpu"]);
    ///     Ok(Job { size: job.size * 2 })
    /// };
    /// let affinity: AffinityFn<Job> = Arc::new(|_, job| if job.size > 100 { -1.0 } else { 1.0 });
    /// server.register_unary(&RUN, vec!["gpu".into()], run, Some(affinity)).await?;
    ///
    /// let client = RpcClient::new("Jobs", bus, ClientOptions::default()).await?;
    /// let reply = client.request_single::<Job, Job>(&RUN, vec!["gpu".into()], &Job { size: 21 }, RequestOptions::default()).await?;
    /// assert_eq!(reply.message.size, 42);
    /// # Ok(()) }
    /// ```
    pub async fn register_unary<Req, Resp, H, F>(
        &self,
        method: &MethodInfo,
        topics: Vec<String>,
        handler: H,
        affinity: Option<AffinityFn<Req>>,
    ) -> Result<(), Error>
    where
        Req: Payload,
        Resp: Payload,
        H: Fn(RequestContext, Req) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Resp, Error>> + Send + 'static,
    {
        Serve::Unary.admit(method)?;
        if affinity.is_some() && !self.inner().options.wire_mode.require_claim(method) {
            let message = format!(
                "an affinity function scores claims, and `{}` has no claim exchange (a single-server method, or a \
                 queue method in the native wire mode)",
                method.name
            );
            return Err(Error::new(crate::error::ErrorCode::InvalidArgument, message));
        }
        let typed = TypedUnary { handler, affinity, _types: PhantomData };
        super::unary::register(self.inner(), method, topics, Arc::new(typed)).await
    }

    /// Serves a stream method on `topics` with `handler`, which runs once per
    /// accepted stream; its result closes the stream.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, ServerStream, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Num { #[prost(int64, tag = "1")] n: i64 }
    /// static SUM: MethodInfo = MethodInfo::new("Sum", MethodKind::Stream(Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Math", bus.clone(), ServerOptions::default());
    /// // Answers each number with the running total.
    /// let sum = |mut stream: ServerStream<Num, Num>| async move {
    ///     let mut total = 0;
    ///     while let Some(Num { n }) = stream.recv().await? {
    ///         total += n;
    ///         stream.send(&Num { n: total }).await?;
    ///     }
    ///     Ok(())
    /// };
    /// server.register_stream(&SUM, vec![], sum, None).await?;
    ///
    /// let client = RpcClient::new("Math", bus, ClientOptions::default()).await?;
    /// let mut stream = client.open_stream::<Num, Num>(&SUM, vec![], RequestOptions::default()).await?;
    /// for n in [1, 2, 3] {
    ///     stream.send(&Num { n }).await?;
    /// }
    /// let totals = [stream.recv().await?, stream.recv().await?, stream.recv().await?];
    /// assert_eq!(totals.map(|t| t.unwrap().n), [1, 3, 6]);
    /// # Ok(()) }
    /// ```
    pub async fn register_stream<In, Out, H, F>(
        &self,
        method: &MethodInfo,
        topics: Vec<String>,
        handler: H,
        affinity: Option<StreamAffinityFn>,
    ) -> Result<(), Error>
    where
        In: Payload,
        Out: Payload,
        H: Fn(ServerStream<Out, In>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<(), Error>> + Send + 'static,
    {
        Serve::Stream.admit(method)?;
        let typed = TypedStream { handler, affinity, _types: PhantomData };
        super::stream::register(self.inner(), method, topics, Arc::new(typed)).await
    }
}
