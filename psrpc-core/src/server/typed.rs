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
use crate::context::RequestContext;
use crate::error::{Error, ErrorCode};
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

/// A unary handler over payload types, as the handler loop takes it.
pub(super) struct TypedUnary<Req, Resp, H> {
    handler: H,
    affinity: Option<AffinityFn<Req>>,
    _types: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp, H> TypedUnary<Req, Resp, H> {
    pub(super) fn new(handler: H, affinity: Option<AffinityFn<Req>>) -> Self {
        TypedUnary { handler, affinity, _types: PhantomData }
    }
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

/// A stream handler over payload types, as the stream loop takes it.
pub(super) struct TypedStream<In, Out, H> {
    handler: H,
    affinity: Option<StreamAffinityFn>,
    _types: PhantomData<fn(In) -> Out>,
}

impl<In, Out, H> TypedStream<In, Out, H> {
    pub(super) fn new(handler: H, affinity: Option<StreamAffinityFn>) -> Self {
        TypedStream { handler, affinity, _types: PhantomData }
    }
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
