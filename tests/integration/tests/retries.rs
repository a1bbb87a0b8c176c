//! Retries on a real engine: a call no server took is retried even when the
//! method is not idempotent; a call a handler failed is retried only when it
//! is.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use psrpc::retry::RetryPolicy;
use psrpc::{
    AffinityFn, ClientOptions, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient,
    RpcServer, Selection, ServerOptions, SharedBus,
};

#[derive(Clone, PartialEq, prost::Message)]
struct Msg {
    #[prost(string, tag = "1")]
    text: String,
}

static CREATE: MethodInfo = MethodInfo::new("Create", MethodKind::Unary(Selection::Affinity { topics: false }));
static GET: MethodInfo = MethodInfo::new("Get", MethodKind::Unary(Selection::Queue { topics: false }));

fn client_options(policy: RetryPolicy) -> ClientOptions {
    ClientOptions::default().selection_timeout(Duration::from_millis(100)).unary_interceptor(policy)
}

/// The server declines the first request (negative affinity: no claim), so
/// the first attempt ends with no server chosen and the retry runs it once.
#[tokio::test]
async fn a_call_no_server_took_is_retried_and_runs_once() {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let server = RpcServer::new("Rooms", bus.clone(), ServerOptions::default());
    let asked = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let affinity: AffinityFn<Msg> = {
        let asked = asked.clone();
        Arc::new(move |_, _| if asked.fetch_add(1, Ordering::SeqCst) == 0 { -1.0 } else { 1.0 })
    };
    let handler = {
        let ran = ran.clone();
        move |_: RequestContext, m: Msg| {
            ran.fetch_add(1, Ordering::SeqCst);
            async move { Ok(m) }
        }
    };
    server.register_unary(&CREATE, vec![], handler, Some(affinity)).await.expect("register");
    let client = RpcClient::new("Rooms", bus, client_options(RetryPolicy::default())).await.expect("client");

    let reply = client
        .request_single::<Msg, Msg>(&CREATE, vec![], &Msg { text: "room".into() }, RequestOptions::default())
        .await
        .expect("the retry succeeds");
    assert_eq!(reply.message.text, "room");
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

async fn flaky_get(policy: RetryPolicy) -> (Result<Msg, Error>, usize) {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let server = RpcServer::new("Rooms", bus.clone(), ServerOptions::default());
    let ran = Arc::new(AtomicUsize::new(0));
    let handler = {
        let ran = ran.clone();
        move |_: RequestContext, m: Msg| {
            let first = ran.fetch_add(1, Ordering::SeqCst) == 0;
            async move { if first { Err(Error::new(ErrorCode::Unavailable, "warming up")) } else { Ok(m) } }
        }
    };
    server.register_unary(&GET, vec![], handler, None).await.expect("register");
    let client = RpcClient::new("Rooms", bus, client_options(policy)).await.expect("client");
    let outcome = client
        .request_single::<Msg, Msg>(&GET, vec![], &Msg { text: "r1".into() }, RequestOptions::default())
        .await
        .map(|r| r.message);
    (outcome, ran.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_call_a_handler_failed_is_retried_only_when_idempotent() {
    let (outcome, ran) = flaky_get(RetryPolicy::default()).await;
    assert_eq!(outcome.unwrap_err().code(), ErrorCode::Unavailable);
    assert_eq!(ran, 1, "the handler ran: no second run without idempotency");

    let (outcome, ran) = flaky_get(RetryPolicy::default().idempotent_methods(["Rooms.Get"])).await;
    assert_eq!(outcome.expect("retried").text, "r1");
    assert_eq!(ran, 2);
}
