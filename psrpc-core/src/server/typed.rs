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
pub type AffinityFn<Req> = Arc<dyn Fn(&RequestContext, &Req) -> f32 + Send + Sync>;

/// Computes a server's affinity for a stream; negative means "do not claim".
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
        let typed = TypedUnary { handler, affinity, _types: PhantomData };
        super::unary::register(self.inner(), method, topics, Arc::new(typed)).await
    }

    /// Serves a stream method on `topics` with `handler`, which runs once per
    /// accepted stream; its result closes the stream.
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
