//! Local-first routing: a single call to a method served in the same
//! process on the same bus handle runs in process, with no broker round trip.

use std::sync::Arc;
use std::time::Duration;

use psrpc::{
    ClientOptions, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer,
    Selection, ServerOptions, SharedBus,
};
use psrpc_integration_tests::Note;
use psrpc_test_support::faulty::CuttableBus;

static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
static SLOW: MethodInfo = MethodInfo::new("Slow", MethodKind::Unary(Selection::Affinity { topics: true }));

async fn echo(ctx: RequestContext, note: Note) -> Result<Note, Error> {
    let trace = ctx.metadata().get("trace").cloned().unwrap_or_default();
    Ok(Note { text: format!("{}:{trace}:{}", note.text, ctx.caller_id()) })
}

async fn slow(_: RequestContext, note: Note) -> Result<Note, Error> {
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(note)
}

async fn serve(bus: SharedBus) -> RpcServer {
    let server = RpcServer::new("Local", bus, ServerOptions::default());
    server.register_unary(&ECHO, vec![], echo, None).await.expect("register");
    server.register_unary(&SLOW, vec!["t".into()], slow, None).await.expect("register");
    server
}

#[tokio::test]
async fn a_local_call_needs_no_bus() {
    let bus = CuttableBus::new(Arc::new(psrpc::local::LocalBus::new()));
    let shared: SharedBus = bus.clone();
    let server = serve(shared.clone()).await;
    let options = ClientOptions::default().timeout(Duration::from_millis(300));
    let local = RpcClient::new("Local", shared.clone(), options.clone().local_first(true)).await.expect("client");
    let remote = RpcClient::new("Local", shared.clone(), options).await.expect("client");
    bus.cut();

    let note = Note { text: "hi".into() };
    let reply = local
        .request_single::<Note, Note>(&ECHO, vec![], &note, RequestOptions::default().metadata("trace", "t1"))
        .await
        .expect("served in process");
    assert_eq!(reply.message.text, format!("hi:t1:{}", local.id()), "metadata and caller id arrive");
    assert_eq!(reply.server_id, server.id());
    let err = remote.request_single::<Note, Note>(&ECHO, vec![], &note, Default::default()).await.expect_err("bus cut");
    // No server claims over the cut bus before the 300 ms timeout: Go psrpc's `unavailable`.
    assert_eq!(err, psrpc::Error::no_response(), "without local-first the call needs the bus: {err}");

    // The handler takes 5 s: only the request's deadline ends the call in process.
    let options = RequestOptions::default().timeout(Duration::from_millis(100));
    let err = local.request_single::<Note, Note>(&SLOW, vec!["t".into()], &note, options).await.expect_err("slow");
    assert_eq!(err.code(), ErrorCode::DeadlineExceeded, "the request's deadline holds in process");
    let err =
        local.request_single::<Note, Note>(&SLOW, vec!["u".into()], &note, Default::default()).await.expect_err("u");
    assert_eq!(err, psrpc::Error::no_response(), "a topic not served here goes over the (cut) bus");
}

#[tokio::test]
async fn other_bus_handles_and_draining_servers_are_not_local() {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let elsewhere: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let server = serve(elsewhere).await;
    let client = RpcClient::new(
        "Local",
        bus.clone(),
        ClientOptions::default().local_first(true).timeout(Duration::from_millis(200)),
    )
    .await
    .expect("client");
    let err = client.request_single::<Note, Note>(&ECHO, vec![], &Note::default(), Default::default()).await;
    assert_eq!(err.expect_err("another bus"), psrpc::Error::no_response(), "no server claims on this bus");

    let here = serve(bus.clone()).await;
    let reply = client.request_single::<Note, Note>(&ECHO, vec![], &Note::default(), Default::default()).await;
    assert_eq!(reply.expect("local").server_id, here.id());
    here.shutdown().await;
    let err = client.request_single::<Note, Note>(&ECHO, vec![], &Note::default(), Default::default()).await;
    assert_eq!(err.expect_err("drained"), psrpc::Error::no_response());
    server.shutdown().await;
}
