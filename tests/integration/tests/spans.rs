//! Every client call and every server handling runs in a `tracing` span
//! that names the service, method, kind, request and outcome; the client's
//! and the server's spans of one call share its request id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use psrpc::local::LocalBus;
use psrpc::{
    ClientOptions, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer,
    Selection, ServerOptions, SharedBus,
};
use psrpc_integration_tests::Note;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt as _};

static ASK: MethodInfo = MethodInfo::new("Ask", MethodKind::Unary(Selection::Queue { topics: false }));

/// A span's fields, as text.
type SpanFields = HashMap<String, String>;

/// Spans by id: name and fields.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<HashMap<u64, (String, SpanFields)>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().insert(id.into_u64(), (attrs.metadata().name().to_owned(), fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some((_, fields)) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
}

impl Spans {
    /// The fields of every span named `name`.
    fn named(&self, name: &str) -> Vec<SpanFields> {
        self.0.lock().unwrap().values().filter(|(n, _)| n == name).map(|(_, f)| f.clone()).collect()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn calls_and_handling_run_in_spans_that_share_the_request_id() {
    let spans = Spans::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));

    let bus: SharedBus = Arc::new(LocalBus::new());
    let server = RpcServer::new("Traced", bus.clone(), ServerOptions::default());
    let answer = |_: RequestContext, note: Note| async move {
        if note.text.is_empty() { Err(Error::new(ErrorCode::InvalidArgument, "empty")) } else { Ok(note) }
    };
    server.register_unary(&ASK, vec![], answer, None).await.expect("register");
    let client = RpcClient::new("Traced", bus, ClientOptions::default()).await.expect("client");
    let note = Note { text: "hi".into() };
    client.request_single::<Note, Note>(&ASK, vec![], &note, RequestOptions::default()).await.expect("ok");
    let empty = Note::default();
    let err = client.request_single::<Note, Note>(&ASK, vec![], &empty, RequestOptions::default()).await;
    assert_eq!(err.expect_err("refused").code(), ErrorCode::InvalidArgument);

    let calls = spans.named("psrpc.call");
    let handled = spans.named("psrpc.handle");
    assert_eq!((calls.len(), handled.len()), (2, 2));
    for call in &calls {
        assert_eq!(
            (call["service"].as_str(), call["method"].as_str(), call["kind"].as_str()),
            ("Traced", "Ask", "single")
        );
        let request_id = &call["request_id"];
        assert!(request_id.starts_with("REQ_"), "{call:?}");
        let handle = handled.iter().find(|h| &h["request_id"] == request_id).expect("the server's span of this call");
        assert_eq!(handle["caller"], client.id());
        assert_eq!(handle["server_id"], server.id());
        assert_eq!(handle["outcome"], call["outcome"]);
    }
    let mut outcomes: Vec<&str> = calls.iter().map(|c| c["outcome"].as_str()).collect();
    outcomes.sort();
    assert_eq!(outcomes, ["invalid_argument", "ok"]);
    let ok = calls.iter().find(|c| c["outcome"] == "ok").expect("the successful call");
    assert_eq!(ok["server_id"], server.id());
}
