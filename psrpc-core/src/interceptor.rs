//! Interceptors and hooks.
//!
//! Interceptors see calls in their wire form — the encoded payload as
//! [`Bytes`] plus options and metadata — so they are object-safe and work for
//! every message type. They chain in registration order: client-wide
//! interceptors first (outermost), then per-request ones.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::context::RequestContext;
use crate::error::Error;
use crate::info::RpcInfo;
use crate::metadata::Metadata;

/// A single or multi call on its way out: the encoded request, the metadata
/// sent with it and the time it may take. Interceptors may change all
/// three (add trace context to the metadata, shorten the timeout of one
/// attempt); the other request options are fixed for the call.
///
/// ```
/// use std::time::Duration;
/// let mut call = psrpc::UnaryCall::new(bytes::Bytes::from_static(b"\x0a\x02hi"), Duration::from_secs(3));
/// call.metadata.insert("traceparent".into(), "00-…".into());
/// assert_eq!(call.timeout, Duration::from_secs(3));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UnaryCall {
    /// The encoded request.
    pub payload: Bytes,
    /// Metadata sent with the request.
    pub metadata: Metadata,
    /// How long the call may take from here: the request's timeout, already
    /// kept within the caller's deadline.
    pub timeout: Duration,
}

impl UnaryCall {
    /// A call of `payload` with no metadata that may take `timeout`.
    pub fn new(payload: Bytes, timeout: Duration) -> Self {
        UnaryCall { payload, metadata: Metadata::new(), timeout }
    }
}

/// A unary answer: the encoded response and the server that sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply<T> {
    /// The response message.
    pub message: T,
    /// The id of the server that handled the request.
    pub server_id: String,
}

/// Wraps outgoing unary calls (single and affinity RPCs).
pub trait ClientUnaryInterceptor: Send + Sync + 'static {
    /// Handles `call`, usually by passing it on with `next.run(call)`.
    fn intercept<'a>(
        &'a self,
        info: &'a RpcInfo,
        call: UnaryCall,
        next: ClientUnaryNext<'a>,
    ) -> BoxFuture<'a, Result<Reply<Bytes>, Error>>;
}

/// The rest of a client unary chain. It is `Copy`: an interceptor may run
/// the rest of the chain more than once (retries).
#[derive(Clone, Copy)]
pub struct ClientUnaryNext<'a> {
    pub(crate) info: &'a RpcInfo,
    pub(crate) chain: &'a [Arc<dyn ClientUnaryInterceptor>],
    pub(crate) terminal: &'a (dyn Fn(UnaryCall) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> + Send + Sync),
}

impl std::fmt::Debug for ClientUnaryNext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientUnaryNext").field("remaining", &self.chain.len()).finish()
    }
}

impl<'a> ClientUnaryNext<'a> {
    /// Runs the remaining interceptors and then the call itself.
    pub fn run(self, call: UnaryCall) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> {
        match self.chain.split_first() {
            Some((first, rest)) => first.intercept(self.info, call, ClientUnaryNext { chain: rest, ..self }),
            None => (self.terminal)(call),
        }
    }
}

/// Wraps incoming unary requests on the server, around the handler.
pub trait ServerUnaryInterceptor: Send + Sync + 'static {
    /// Handles the encoded `request`, usually with `next.run(request)`.
    fn intercept<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: Bytes,
        next: ServerUnaryNext<'a>,
    ) -> BoxFuture<'a, Result<Bytes, Error>>;
}

/// The rest of a server unary chain.
pub struct ServerUnaryNext<'a> {
    pub(crate) ctx: &'a RequestContext,
    pub(crate) chain: &'a [Arc<dyn ServerUnaryInterceptor>],
    pub(crate) terminal: &'a (dyn Fn(Bytes) -> BoxFuture<'a, Result<Bytes, Error>> + Send + Sync),
}

impl std::fmt::Debug for ServerUnaryNext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerUnaryNext").field("remaining", &self.chain.len()).finish()
    }
}

impl<'a> ServerUnaryNext<'a> {
    /// Runs the remaining interceptors and then the handler.
    pub fn run(self, request: Bytes) -> BoxFuture<'a, Result<Bytes, Error>> {
        match self.chain.split_first() {
            Some((first, rest)) => first.intercept(self.ctx, request, ServerUnaryNext { chain: rest, ..self }),
            None => (self.terminal)(request),
        }
    }
}

/// Observes and may veto the events of a multi-RPC.
pub trait ClientMultiInterceptor: Send + Sync + 'static {
    /// Before the request is published; an error aborts the call.
    fn on_send(&self, info: &RpcInfo, call: &mut UnaryCall) -> Result<(), Error> {
        let _ = (info, call);
        Ok(())
    }

    /// For each response, before the caller sees it (may rewrite it).
    fn on_response(&self, info: &RpcInfo, server_id: &str, response: &mut Result<Bytes, Error>) {
        let _ = (info, server_id, response);
    }

    /// When the multi-RPC ends.
    fn on_close(&self, info: &RpcInfo) {
        let _ = info;
    }
}

/// Observes and may veto the messages of a stream (both ends).
pub trait StreamInterceptor: Send + Sync + 'static {
    /// Client end: before the stream's open is sent, with the metadata it
    /// carries (e.g. to add trace context); an error fails the open.
    fn on_open(&self, info: &RpcInfo, metadata: &mut Metadata) -> Result<(), Error> {
        let _ = (info, metadata);
        Ok(())
    }

    /// Before a message is sent; an error fails the send.
    fn on_send(&self, info: &RpcInfo, message: &Bytes) -> Result<(), Error> {
        let _ = (info, message);
        Ok(())
    }

    /// When a message arrives, before the receiver sees it; an error closes the stream.
    fn on_recv(&self, info: &RpcInfo, message: &Bytes) -> Result<(), Error> {
        let _ = (info, message);
        Ok(())
    }

    /// When the stream closes, with its cause.
    fn on_close(&self, info: &RpcInfo, cause: &Error) {
        let _ = (info, cause);
    }
}

/// Called as each request is made, with the encoded request.
pub type RequestHook = Arc<dyn Fn(&RpcInfo, &Bytes) + Send + Sync>;

/// Called with each response: the encoded request and the outcome.
pub type ResponseHook = Arc<dyn Fn(&RpcInfo, &Bytes, Result<&Bytes, &Error>) + Send + Sync>;
