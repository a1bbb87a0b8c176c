//! # psrpc-otel: OpenTelemetry traces for psrpc-rs that join Go psrpc's
//!
//! [`Tracing`] is a set of psrpc interceptors that start a span for every
//! call and carry the W3C trace context in the request metadata, exactly as
//! Go psrpc's `otelpsrpc` middleware does. A trace started in a Go service
//! continues in a Rust one and back:
//!
//! - the client span is named `Sent.<Service>.<Method>` (kind client), the
//!   server span `Recv.<Service>.<Method>` (kind server), each with the
//!   events `Outbound message` and `Inbound message`;
//! - the context travels in the request's metadata under the propagator's
//!   keys (`traceparent`, and `tracestate` when set, with the default W3C
//!   propagator), the same map Go psrpc's middleware writes into;
//! - on success the span's status is `Ok` and `rpc.grpc.status_code` is 0;
//!   on failure the status is `Error` with the error's message (no code
//!   prefix), the error is recorded as an `exception` event with
//!   `exception.type` `*psrpc.psrpcError` and `exception.message` the
//!   message, as Go's SDK records a psrpc error, `rpc.psrpc.status_code`
//!   holds the psrpc code (`not_found`) and `rpc.grpc.status_code` its gRPC
//!   number;
//! - the instrumentation scope is Go psrpc's: name
//!   `github.com/livekit/psrpc` ([`SCOPE_NAME`]), version [`SCOPE_VERSION`],
//!   so queries and dashboards that filter on the scope see Rust spans too.
//!
//! What is covered, and what is not (yet):
//! - single and affinity calls: client and server spans;
//! - multi calls: the server spans (one per server) join the caller's
//!   current context, which the client sends in the request metadata (Go
//!   psrpc starts no client span for multi calls either);
//! - streams: the interceptors cannot write into a stream open, so streams
//!   carry context when the caller asks: [`Tracing::inject`] into the open's
//!   metadata on the client, [`Tracing::extract`] from
//!   `ServerStream::context()` on the server.
//!
//! ```
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use psrpc_otel::Tracing;
//!
//! let provider = SdkTracerProvider::builder().build();
//! let tracing = Tracing::with_provider(&provider);
//! let client_options = tracing.client_options(psrpc::ClientOptions::default());
//! let server_options = tracing.server_options(psrpc::ServerOptions::default());
//! # let _ = (client_options, server_options);
//! ```
//!
//! ## Feature flags
//! None. The crate uses `opentelemetry` with only its `trace` feature and
//! `opentelemetry_sdk` with only `trace` (for the W3C propagator).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use psrpc_core::context::RequestContext;
use psrpc_core::error::Error;
use psrpc_core::info::RpcInfo;
use psrpc_core::interceptor::{
    ClientMultiInterceptor, ClientUnaryInterceptor, ClientUnaryNext, Reply, ServerUnaryInterceptor, ServerUnaryNext,
    StreamInterceptor, UnaryCall,
};
use psrpc_core::metadata::Metadata;
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};

/// The attribute holding the psrpc error code of a failed call.
///
/// ```
/// assert_eq!(psrpc_otel::STATUS_CODE_KEY, "rpc.psrpc.status_code");
/// ```
pub const STATUS_CODE_KEY: &str = "rpc.psrpc.status_code";

/// The attribute holding the gRPC status code of a call (OpenTelemetry's
/// semantic convention).
///
/// ```
/// assert_eq!(psrpc_otel::GRPC_STATUS_CODE_KEY, "rpc.grpc.status_code");
/// ```
pub const GRPC_STATUS_CODE_KEY: &str = "rpc.grpc.status_code";

/// The instrumentation scope name of the spans: Go psrpc's (its
/// `otelpsrpc` middleware names its tracer after the module), so a query
/// that filters on the scope finds Go and Rust spans alike.
///
/// ```
/// assert_eq!(psrpc_otel::SCOPE_NAME, "github.com/livekit/psrpc");
/// ```
pub const SCOPE_NAME: &str = "github.com/livekit/psrpc";

/// The instrumentation scope version of the spans: what a Go psrpc service
/// of the release line psrpc-rs speaks reports (Go writes its
/// `version.Version`, `v0.8.0` in every 0.8.x release), not the crate's
/// version. Decision recorded in docs/OBSERVABILITY.md.
///
/// ```
/// assert_eq!(psrpc_otel::SCOPE_VERSION, "v0.8.0");
/// ```
pub const SCOPE_VERSION: &str = "v0.8.0";

/// The `exception.type` of a recorded error: the Go type name Go's SDK
/// writes for every psrpc error (`reflect.TypeOf(err).String()`).
///
/// ```
/// assert_eq!(psrpc_otel::EXCEPTION_TYPE, "*psrpc.psrpcError");
/// ```
pub const EXCEPTION_TYPE: &str = "*psrpc.psrpcError";

type SharedPropagator = Arc<dyn TextMapPropagator + Send + Sync>;

/// OpenTelemetry interceptors for psrpc clients and servers; see the
/// [crate docs](crate). Cheap to clone.
///
/// ```
/// let tracing = psrpc_otel::Tracing::global();
/// let client = tracing.client_options(psrpc::ClientOptions::default());
/// let server = tracing.server_options(psrpc::ServerOptions::default());
/// # let _ = (client, server);
/// ```
#[derive(Clone)]
pub struct Tracing {
    tracer: Arc<opentelemetry::global::BoxedTracer>,
    propagator: SharedPropagator,
}

impl fmt::Debug for Tracing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracing").finish_non_exhaustive()
    }
}

impl Default for Tracing {
    /// Same as [`Tracing::global`].
    fn default() -> Self {
        Tracing::global()
    }
}

impl Tracing {
    /// Spans from the global tracer provider, context in W3C form (Go
    /// psrpc's defaults).
    ///
    /// ```
    /// let tracing = psrpc_otel::Tracing::global();
    /// # let _ = tracing;
    /// ```
    pub fn global() -> Self {
        Tracing::from_tracer(opentelemetry::global::tracer_with_scope(scope()))
    }

    /// Spans from `provider`, context in W3C form.
    ///
    /// ```
    /// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    /// let tracing = psrpc_otel::Tracing::with_provider(&provider);
    /// # let _ = tracing;
    /// ```
    pub fn with_provider<P>(provider: &P) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        let tracer = provider.tracer_with_scope(scope());
        Tracing::from_tracer(opentelemetry::global::BoxedTracer::new(Box::new(tracer)))
    }

    fn from_tracer(tracer: opentelemetry::global::BoxedTracer) -> Self {
        Tracing { tracer: Arc::new(tracer), propagator: Arc::new(TraceContextPropagator::new()) }
    }

    /// Carries context with `propagator` instead of W3C trace context (for
    /// example a composite that adds baggage). Go psrpc services must use the
    /// same one for traces to join.
    ///
    /// ```
    /// use opentelemetry_sdk::propagation::TraceContextPropagator;
    /// let tracing = psrpc_otel::Tracing::global().propagator(TraceContextPropagator::new());
    /// # let _ = tracing;
    /// ```
    #[must_use]
    pub fn propagator(mut self, propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        self.propagator = Arc::new(propagator);
        self
    }

    /// Adds these interceptors to client options (unary, multi, and stream
    /// opens, which carry the caller's context in their metadata).
    ///
    /// ```
    /// let options = psrpc_otel::Tracing::global().client_options(psrpc::ClientOptions::default());
    /// let debug = format!("{options:?}");
    /// assert!(debug.contains("unary_interceptors: 1") && debug.contains("stream_interceptors: 1"), "{debug}");
    /// ```
    #[must_use]
    pub fn client_options(&self, options: ClientOptions) -> ClientOptions {
        options.unary_interceptor(self.clone()).multi_interceptor(self.clone()).stream_interceptor(self.clone())
    }

    /// Adds the server interceptor to server options.
    ///
    /// ```
    /// let options = psrpc_otel::Tracing::global().server_options(psrpc::ServerOptions::default());
    /// assert!(format!("{options:?}").contains("unary_interceptors: 1"));
    /// ```
    #[must_use]
    pub fn server_options(&self, options: ServerOptions) -> ServerOptions {
        options.unary_interceptor(self.clone())
    }

    /// Writes the current context into `metadata` (for a stream open, see
    /// [`traced`](Self::traced), which adds it to `RequestOptions`).
    ///
    /// ```
    /// let tracing = psrpc_otel::Tracing::global();
    /// let mut metadata = psrpc::Metadata::new();
    /// tracing.inject(&mut metadata);
    /// // `metadata` now carries the caller's trace, if there is one.
    /// ```
    pub fn inject(&self, metadata: &mut Metadata) {
        self.propagator.inject_context(&Context::current(), metadata);
    }

    /// The current context in `options`' metadata (see [`inject`](Self::inject)).
    ///
    /// ```
    /// let options = psrpc_otel::Tracing::global().traced(psrpc::RequestOptions::default());
    /// # let _ = options;
    /// ```
    #[must_use]
    pub fn traced(&self, options: RequestOptions) -> RequestOptions {
        let mut metadata = Metadata::new();
        self.inject(&mut metadata);
        metadata.into_iter().fold(options, |options, (key, value)| options.metadata(key, value))
    }

    /// The context a caller sent in `metadata` (for a stream handler:
    /// `stream.context().map(|c| c.metadata())`); an empty context when it
    /// carries none. The task's current context is not the base: only what
    /// the request carries decides the parent, as in Go psrpc.
    ///
    /// ```
    /// use opentelemetry::trace::TraceContextExt as _;
    /// let tracing = psrpc_otel::Tracing::global();
    /// let mut metadata = psrpc::Metadata::new();
    /// metadata.insert("traceparent".into(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
    /// let cx = tracing.extract(&metadata);
    /// assert_eq!(cx.span().span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// ```
    pub fn extract(&self, metadata: &Metadata) -> Context {
        self.propagator.extract_with_context(&Context::new(), metadata)
    }

    /// Starts a span named `<prefix>.<Service>.<Method>` under `parent`.
    fn start(&self, prefix: &str, kind: SpanKind, info: &RpcInfo, parent: &Context) -> Context {
        let name = format!("{prefix}.{}.{}", info.service, info.method);
        let builder = self.tracer.span_builder(Cow::Owned(name)).with_kind(kind);
        let span = self.tracer.build_with_context(builder, parent);
        parent.with_span(span)
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE_NAME).with_version(SCOPE_VERSION).build()
}

/// Runs the call `run` starts inside the span of `cx`, which it ends with
/// the call's outcome.
fn traced<'a, T: Send + 'a>(
    cx: Context,
    run: impl FnOnce() -> BoxFuture<'a, Result<T, Error>> + Send + 'a,
) -> BoxFuture<'a, Result<T, Error>> {
    cx.span().add_event("Outbound message", Vec::new());
    async move {
        let outcome = run().with_context(cx.clone()).await;
        finish(&cx, &outcome);
        outcome
    }
    .boxed()
}

/// Ends the span of `cx` with the call's outcome, as Go psrpc's middleware
/// does.
fn finish<T>(cx: &Context, outcome: &Result<T, Error>) {
    let span = cx.span();
    span.add_event("Inbound message", Vec::new());
    match outcome {
        Ok(_) => {
            span.set_status(Status::Ok);
            span.set_attribute(KeyValue::new(GRPC_STATUS_CODE_KEY, 0_i64));
        }
        Err(error) => {
            // Not `record_error`: it writes the `Display` form (with the code
            // prefix) and no type, where Go writes the message and the type.
            let exception = vec![
                KeyValue::new("exception.type", EXCEPTION_TYPE),
                KeyValue::new("exception.message", error.message().to_owned()),
            ];
            span.add_event("exception", exception);
            span.set_status(Status::error(error.message().to_owned()));
            span.set_attribute(KeyValue::new(STATUS_CODE_KEY, error.code().as_str()));
            span.set_attribute(KeyValue::new(GRPC_STATUS_CODE_KEY, error.to_grpc() as i64));
        }
    }
    span.end();
}

impl ClientUnaryInterceptor for Tracing {
    fn intercept<'a>(
        &'a self,
        info: &'a RpcInfo,
        mut call: UnaryCall,
        next: ClientUnaryNext<'a>,
    ) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> {
        let cx = self.start("Sent", SpanKind::Client, info, &Context::current());
        self.propagator.inject_context(&cx, &mut call.metadata);
        traced(cx, move || next.run(call))
    }
}

/// Stream opens carry the caller's context, as requests do.
impl StreamInterceptor for Tracing {
    fn on_open(&self, _: &RpcInfo, metadata: &mut Metadata) -> Result<(), Error> {
        self.inject(metadata);
        Ok(())
    }
}

impl ClientMultiInterceptor for Tracing {
    fn on_send(&self, _info: &RpcInfo, call: &mut UnaryCall) -> Result<(), Error> {
        self.inject(&mut call.metadata);
        Ok(())
    }
}

impl ServerUnaryInterceptor for Tracing {
    fn intercept<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: Bytes,
        next: ServerUnaryNext<'a>,
    ) -> BoxFuture<'a, Result<Bytes, Error>> {
        let parent = self.extract(ctx.metadata());
        let cx = self.start("Recv", SpanKind::Server, ctx.rpc_info(), &parent);
        traced(cx, move || next.run(request))
    }
}
