//! Spans and context propagation over the in-process bus, NATS and Redis,
//! checked with the SDK's in-memory exporter.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{
    Span as _, SpanId, SpanKind, Status, TraceContextExt as _, TraceId, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use psrpc::{
    ClientOptions, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer,
    Selection, ServerOptions, SharedBus,
};
use psrpc_otel::{GRPC_STATUS_CODE_KEY, STATUS_CODE_KEY, Tracing};
use psrpc_protocol::envelope::Request;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::BrokerBus;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;
use psrpc_test_support::{BusFactory, SameBus};
use tokio::time::Instant;

#[derive(Clone, PartialEq, prost::Message)]
struct Msg {
    #[prost(string, tag = "1")]
    text: String,
}

static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
static FAIL: MethodInfo = MethodInfo::new("Fail", MethodKind::Unary(Selection::Queue { topics: false }));
static EVERYONE: MethodInfo = MethodInfo::new("Everyone", MethodKind::Multi { topics: false });
static SHARD: MethodInfo = MethodInfo::new("Shard", MethodKind::Unary(Selection::SingleServer));

struct Traced {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    tracing: Tracing,
}

fn traced() -> Traced {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let tracing = Tracing::with_provider(&provider);
    Traced { exporter, provider, tracing }
}

impl Traced {
    /// Waits (at most 5 s) for `count` finished spans named `name`: a server
    /// span may end just after the client has its answer.
    async fn spans(&self, name: &str, count: usize) -> Vec<SpanData> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let spans: Vec<_> =
                self.exporter.get_finished_spans().expect("spans").into_iter().filter(|s| s.name == name).collect();
            if spans.len() >= count {
                assert_eq!(spans.len(), count, "{name}: {spans:#?}");
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "{count} × {name} never ended: {:#?}",
                self.exporter.get_finished_spans()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone())
}

fn event_names(span: &SpanData) -> Vec<&str> {
    span.events.iter().map(|e| e.name.as_ref()).collect()
}

async fn echo(_: RequestContext, m: Msg) -> Result<Msg, Error> {
    Ok(m)
}

/// A caller's span is the parent of the client span, which is the parent of
/// the server span; outcomes land in status and attributes on both ends.
async fn client_span_parents_server_span(factory: &dyn BusFactory) {
    let t = traced();
    let svc = format!("Traced{}", psrpc_protocol::id::new_id(""));
    let server =
        RpcServer::new(svc.clone(), factory.connect().await, t.tracing.server_options(ServerOptions::default()));
    server.register_unary(&ECHO, vec![], echo, None).await.expect("register");
    let fail = |_: RequestContext, _: Msg| async { Err::<Msg, _>(Error::new(ErrorCode::NotFound, "no such room")) };
    server.register_unary(&FAIL, vec![], fail, None).await.expect("register");
    server.register_unary(&EVERYONE, vec![], echo, None).await.expect("register");
    let client_options = t.tracing.client_options(ClientOptions::default().timeout(Duration::from_secs(2)));
    let client = RpcClient::new(svc.clone(), factory.connect().await, client_options).await.expect("client");

    let root = t.provider.tracer("test").start("caller");
    let root_context = root.span_context().clone();
    let cx = Context::current_with_span(root);
    let m = Msg { text: "hi".into() };
    async {
        client.request_single::<Msg, Msg>(&ECHO, vec![], &m, RequestOptions::default()).await.expect("echo");
        let err = client.request_single::<Msg, Msg>(&FAIL, vec![], &m, RequestOptions::default()).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound);
        let multi = client
            .request_multi::<Msg, Msg>(&EVERYONE, vec![], &m, RequestOptions::default().expected_responses(1))
            .await
            .expect("multi");
        assert_eq!(multi.collect_all().await.len(), 1);
    }
    .with_context(cx)
    .await;

    let sent = &t.spans(&format!("Sent.{svc}.Echo"), 1).await[0];
    let recv = &t.spans(&format!("Recv.{svc}.Echo"), 1).await[0];
    assert_eq!(sent.span_kind, SpanKind::Client);
    assert_eq!(recv.span_kind, SpanKind::Server);
    assert_eq!(sent.span_context.trace_id(), root_context.trace_id());
    assert_eq!(sent.parent_span_id, root_context.span_id());
    assert_eq!(recv.span_context.trace_id(), root_context.trace_id());
    assert_eq!(recv.parent_span_id, sent.span_context.span_id());
    assert!(recv.parent_span_is_remote);
    for span in [sent, recv] {
        assert_eq!(span.status, Status::Ok);
        assert_eq!(attribute(span, GRPC_STATUS_CODE_KEY), Some(Value::I64(0)));
        assert_eq!(attribute(span, STATUS_CODE_KEY), None);
        assert_eq!(event_names(span), ["Outbound message", "Inbound message"]);
    }

    let sent = &t.spans(&format!("Sent.{svc}.Fail"), 1).await[0];
    let recv = &t.spans(&format!("Recv.{svc}.Fail"), 1).await[0];
    assert_eq!(recv.parent_span_id, sent.span_context.span_id());
    for span in [sent, recv] {
        assert_eq!(span.status, Status::error("no such room"));
        assert_eq!(attribute(span, STATUS_CODE_KEY), Some(Value::from("not_found")));
        assert_eq!(attribute(span, GRPC_STATUS_CODE_KEY), Some(Value::I64(5)));
        assert_eq!(event_names(span), ["Outbound message", "Inbound message", "exception"]);
        let exception = span.events.iter().find(|e| e.name == "exception").expect("the error is recorded");
        let attributes: Vec<(&str, String)> =
            exception.attributes.iter().map(|kv| (kv.key.as_str(), kv.value.to_string())).collect();
        assert_eq!(
            attributes,
            [("exception.type", "*psrpc.psrpcError".to_owned()), ("exception.message", "no such room".to_owned())],
            "as Go's SDK records a psrpc error: its type, and the message without the code"
        );
    }
    for span in t.exporter.get_finished_spans().expect("spans") {
        if span.name.starts_with("Sent.") || span.name.starts_with("Recv.") {
            assert_eq!(span.instrumentation_scope.name(), "github.com/livekit/psrpc", "{}", span.name);
            assert_eq!(span.instrumentation_scope.version(), Some("v0.8.0"), "{}", span.name);
            assert_eq!(span.instrumentation_scope.attributes().count(), 0, "Go's scope has no attributes");
        }
    }

    // Multi: no client span; the server span joins the caller's.
    let recv = &t.spans(&format!("Recv.{svc}.Everyone"), 1).await[0];
    assert_eq!(recv.span_context.trace_id(), root_context.trace_id());
    assert_eq!(recv.parent_span_id, root_context.span_id());
    assert!(t.exporter.get_finished_spans().expect("spans").iter().all(|s| s.name != format!("Sent.{svc}.Everyone")));
}

/// A request frame carrying `traceparent` as Go's W3C propagator writes it
/// is handled under that context.
async fn go_trace_context_is_picked_up(factory: &dyn BusFactory) {
    let t = traced();
    let svc = format!("Traced{}", psrpc_protocol::id::new_id(""));
    let server =
        RpcServer::new(svc.clone(), factory.connect().await, t.tracing.server_options(ServerOptions::default()));
    server.register_unary(&SHARD, vec!["t".into()], echo, None).await.expect("register");

    let now = SystemTime::now();
    let nanos = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
    let request = Request {
        request_id: "REQ_gotrace00001".into(),
        client_id: "CLI_gocaller0001".into(),
        sent_at: nanos(now),
        expiry: nanos(now + Duration::from_secs(5)),
        raw_request: Bytes::from(prost::Message::encode_to_vec(&Msg { text: "from go".into() })),
        metadata: [
            ("traceparent".to_owned(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
            ("tracestate".to_owned(), "congo=t61rcWkgMzE".to_owned()),
        ]
        .into(),
        ..Default::default()
    };
    let bus = factory.connect().await;
    let ch = psrpc::transport::channel::request_channel(&svc, "Shard", &["t"], true);
    let local = if bus.frames_carry_local_channel() { &*ch.local } else { "" };
    bus.publish(&ch, psrpc_protocol::frame::encode_envelope(&request, local)).await.expect("publish");

    let recv = &t.spans(&format!("Recv.{svc}.Shard"), 1).await[0];
    assert_eq!(recv.span_context.trace_id(), TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap());
    assert_eq!(recv.parent_span_id, SpanId::from_hex("00f067aa0ba902b7").unwrap());
    assert_eq!(recv.span_context.trace_state().header(), "congo=t61rcWkgMzE");
    assert!(recv.span_context.is_sampled());
}

/// The client writes the context in Go's form: `traceparent` is
/// `00-<trace id>-<span id of the client span>-01`.
#[tokio::test]
async fn client_writes_traceparent_as_go_reads_it() {
    let t = traced();
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let server = RpcServer::new("Peek", bus.clone(), ServerOptions::default());
    let peek = |ctx: RequestContext, _: Msg| async move {
        Ok(Msg { text: ctx.metadata().get("traceparent").cloned().unwrap_or_default() })
    };
    server.register_unary(&ECHO, vec![], peek, None).await.expect("register");
    let client = RpcClient::new("Peek", bus, t.tracing.client_options(ClientOptions::default())).await.expect("client");
    let reply = client
        .request_single::<Msg, Msg>(&ECHO, vec![], &Msg::default(), RequestOptions::default())
        .await
        .expect("peek");
    let sent = &t.spans("Sent.Peek.Echo", 1).await[0];
    let expected = format!("00-{}-{}-01", sent.span_context.trace_id(), sent.span_context.span_id());
    assert_eq!(reply.message.text, expected);
}

/// Both span checks on the buses of `factory`.
async fn spans_join(factory: &dyn BusFactory) {
    client_span_parents_server_span(factory).await;
    go_trace_context_is_picked_up(factory).await;
}

#[tokio::test]
async fn spans_join_on_the_in_process_bus() {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    spans_join(&SameBus(bus)).await;
}

#[tokio::test]
async fn spans_join_over_nats() {
    let Some(server) = skip_or_fail(NatsServer::start()) else { return };
    spans_join(&BrokerBus(server.url().to_owned())).await;
}

#[tokio::test]
async fn spans_join_over_redis() {
    let Some(server) = skip_or_fail(RedisServer::start()) else { return };
    spans_join(&BrokerBus(server.url().to_owned())).await;
}

static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));

/// A `Streamer` server on the in-process bus whose `Chat` handler answers
/// every stream with the trace id it extracted from the open's metadata.
async fn serve_trace_echo(t: &Traced) -> (SharedBus, RpcServer) {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let server = RpcServer::new("Streamer", bus.clone(), ServerOptions::default());
    let tracing = t.tracing.clone();
    let handler = move |stream: psrpc::ServerStream<Msg, Msg>| {
        let tracing = tracing.clone();
        async move {
            let metadata = stream.context().map(|c| c.metadata().clone()).unwrap_or_default();
            let trace_id = tracing.extract(&metadata).span().span_context().trace_id();
            stream.send(&Msg { text: trace_id.to_string() }).await
        }
    };
    server.register_stream(&CHAT, vec![], handler, None).await.expect("register");
    (bus, server)
}

/// Stream opens carry the caller's context in their metadata (through the
/// client options' stream interceptor); the handler extracts it from the
/// stream's context.
#[tokio::test]
async fn streams_carry_context_on_request() {
    let t = traced();
    let (bus, _server) = serve_trace_echo(&t).await;
    let options = t.tracing.client_options(ClientOptions::default());
    let client = RpcClient::new("Streamer", bus, options).await.expect("client");

    let root = t.provider.tracer("test").start("caller");
    let trace_id = root.span_context().trace_id();
    let cx = Context::current_with_span(root);
    let open = client.open_stream::<Msg, Msg>(&CHAT, vec![], RequestOptions::default());
    let mut stream = open.with_context(cx).await.expect("open");
    let seen = stream.recv().await.expect("no error").expect("the server's answer");
    assert_eq!(seen.text, trace_id.to_string());
}

/// A failure made by the client itself (no server claimed before the call's
/// timeout) is recorded as Go records it: status and exception message
/// without the code, Go's exception type, Go's codes as attributes.
#[tokio::test]
async fn a_client_side_failure_is_recorded_as_go_records_it() {
    let t = traced();
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let client =
        RpcClient::new("Nobody", bus, t.tracing.client_options(ClientOptions::default())).await.expect("client");
    let options = RequestOptions::default().timeout(Duration::from_millis(100));
    let err = client.request_single::<Msg, Msg>(&ECHO, vec![], &Msg::default(), options).await.expect_err("no server");
    assert_eq!(err, Error::no_response());
    let sent = &t.spans("Sent.Nobody.Echo", 1).await[0];
    assert_eq!(sent.status, Status::error("no response from servers"));
    assert_eq!(attribute(sent, STATUS_CODE_KEY), Some(Value::from("unavailable")));
    assert_eq!(attribute(sent, GRPC_STATUS_CODE_KEY), Some(Value::I64(14)));
    let exception = sent.events.iter().find(|e| e.name == "exception").expect("recorded");
    let attributes: Vec<(&str, String)> =
        exception.attributes.iter().map(|kv| (kv.key.as_str(), kv.value.to_string())).collect();
    assert_eq!(
        attributes,
        [
            ("exception.type", "*psrpc.psrpcError".to_owned()),
            ("exception.message", "no response from servers".to_owned())
        ]
    );
    assert_eq!(sent.instrumentation_scope.name(), psrpc_otel::SCOPE_NAME);
}

/// `Tracing::traced` puts the caller's current context into a call's
/// metadata, for clients without the tracing interceptors.
#[tokio::test]
async fn traced_request_options_carry_the_current_context() {
    let t = traced();
    let (bus, _server) = serve_trace_echo(&t).await;
    let client = RpcClient::new("Streamer", bus, ClientOptions::default()).await.expect("client");

    let root = t.provider.tracer("test").start("caller");
    let trace_id = root.span_context().trace_id();
    let options = {
        let _attached = Context::current_with_span(root).attach();
        t.tracing.traced(RequestOptions::default().metadata("tenant", "acme"))
    };
    let mut stream = client.open_stream::<Msg, Msg>(&CHAT, vec![], options).await.expect("open");
    let seen = stream.recv().await.expect("no error").expect("the server's answer");
    assert_eq!(seen.text, trace_id.to_string());
}

/// A request without context starts a new trace on the server.
#[tokio::test]
async fn a_request_without_context_starts_a_new_trace() {
    let t = traced();
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let server = RpcServer::new("Fresh", bus.clone(), t.tracing.server_options(ServerOptions::default()));
    server.register_unary(&ECHO, vec![], echo, None).await.expect("register");
    let client = RpcClient::new("Fresh", bus, ClientOptions::default()).await.expect("client");
    let root = t.provider.tracer("test").start("caller");
    let caller_trace = root.span_context().trace_id();
    client
        .request_single::<Msg, Msg>(&ECHO, vec![], &Msg::default(), RequestOptions::default())
        .with_context(Context::current_with_span(root))
        .await
        .expect("echo");
    let recv = &t.spans("Recv.Fresh.Echo", 1).await[0];
    assert_ne!(recv.span_context.trace_id(), caller_trace);
    assert_eq!(recv.parent_span_id, SpanId::INVALID);
}
