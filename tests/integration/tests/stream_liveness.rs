//! Every stream ends once its peer vanishes, whether or not the peer ever
//! sent a keepalive; a peer that sends none (a Go psrpc peer) is never
//! expired for its silence; and `shutdown` is bounded by the drain timeout.
//! In paused time on the in-process bus.

use std::sync::Arc;
use std::time::Duration;

use psrpc::local::LocalBus;
use psrpc::{
    ClientOptions, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer,
    Selection, ServerOptions, ServerStream, SharedBus, StreamKeepalive,
};
use psrpc_integration_tests::Note;
use psrpc_test_support::faulty::CuttableBus;
use tokio::sync::mpsc;
use tokio::time::Instant;

static TALK: MethodInfo = MethodInfo::new("Talk", MethodKind::Stream(Selection::Queue { topics: false }));
static ASK: MethodInfo = MethodInfo::new("Ask", MethodKind::Unary(Selection::Queue { topics: false }));

/// The default keepalive expiry, which every test here relies on.
const EXPIRY: Duration = Duration::from_secs(15);
/// The expiry and the tick at which it ends the stream: a timer due at the
/// same instant as the expiry may fire first.
const EXPIRED: Duration = EXPIRY.saturating_add(Duration::from_millis(1));

fn note(text: &str) -> Note {
    Note { text: text.into() }
}

/// Serves `TALK` on `server`: echoes until the stream ends, then reports how
/// `recv` ended.
async fn serve_reporting(server: &RpcServer) -> mpsc::UnboundedReceiver<Result<Option<Note>, Error>> {
    let (report, reports) = mpsc::unbounded_channel();
    let handler = move |mut stream: ServerStream<Note, Note>| {
        let report = report.clone();
        async move {
            let ended = loop {
                match stream.recv().await {
                    Ok(Some(message)) => stream.send(&message).await?,
                    other => break other,
                }
            };
            let _ = report.send(ended);
            Ok(())
        }
    };
    server.register_stream(&TALK, vec![], handler, None).await.expect("register");
    reports
}

/// Resolves once `server` has nothing in flight.
async fn idle(server: &RpcServer) {
    while server.in_flight() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A client that vanishes right after its open is acked, before its first
/// keepalive: the server's handler sees `unavailable` and the stream is no
/// longer in flight, within the keepalive expiry.
#[tokio::test(start_paused = true)]
async fn a_client_that_vanishes_before_its_first_keepalive_is_expired() {
    let local: SharedBus = Arc::new(LocalBus::new());
    let server = RpcServer::new("Live", local.clone(), ServerOptions::default());
    let mut reports = serve_reporting(&server).await;
    let client_bus = CuttableBus::new(local);
    let client = RpcClient::new("Live", client_bus.clone(), ClientOptions::default()).await.expect("client");
    let _stream = client.open_stream::<Note, Note>(&TALK, vec![], RequestOptions::default()).await.expect("open");
    assert_eq!(server.in_flight(), 1);

    client_bus.cut();
    let vanished = Instant::now();
    let ended = tokio::time::timeout(EXPIRED, reports.recv()).await.expect("the handler ended within the expiry");
    let cause = ended.expect("report").expect_err("a vanished client is an error");
    assert_eq!(cause.code(), ErrorCode::Unavailable);
    tokio::time::timeout_at(vanished + EXPIRED, idle(&server)).await.expect("nothing in flight within the expiry");
}

/// Many streams of a client that vanished all end on the server.
#[tokio::test(start_paused = true)]
async fn every_stream_of_a_vanished_client_ends() {
    const STREAMS: usize = 300;
    let local: SharedBus = Arc::new(LocalBus::new());
    let server = RpcServer::new("Live", local.clone(), ServerOptions::default());
    let mut reports = serve_reporting(&server).await;
    let client_bus = CuttableBus::new(local);
    let client = RpcClient::new("Live", client_bus.clone(), ClientOptions::default()).await.expect("client");
    let mut streams = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        streams.push(client.open_stream::<Note, Note>(&TALK, vec![], RequestOptions::default()).await.expect("open"));
    }
    assert_eq!(server.in_flight(), STREAMS);

    client_bus.cut();
    let vanished = Instant::now();
    for _ in 0..STREAMS {
        let ended = tokio::time::timeout_at(vanished + EXPIRED, reports.recv()).await.expect("ended within the expiry");
        assert_eq!(ended.expect("report").expect_err("vanished").code(), ErrorCode::Unavailable);
    }
    tokio::time::timeout_at(vanished + EXPIRED, idle(&server)).await.expect("nothing in flight within the expiry");
}

/// A server that vanishes right after acking the open, before the first
/// keepalive of the stream's pump: the client's `recv` fails with
/// `unavailable` within the expiry and the stream frees its routes.
#[tokio::test(start_paused = true)]
async fn a_server_that_vanishes_before_its_first_keepalive_is_expired() {
    let local: SharedBus = Arc::new(LocalBus::new());
    let server_bus = CuttableBus::new(local.clone());
    let server = RpcServer::new("Live", server_bus.clone(), ServerOptions::default());
    let _reports = serve_reporting(&server).await;
    let client = RpcClient::new("Live", local, ClientOptions::default()).await.expect("client");
    let mut stream = client.open_stream::<Note, Note>(&TALK, vec![], RequestOptions::default()).await.expect("open");

    server_bus.cut();
    let ended = tokio::time::timeout(EXPIRED, stream.recv()).await.expect("noticed within the expiry");
    assert_eq!(ended.expect_err("a vanished server is an error").code(), ErrorCode::Unavailable);
    assert_eq!(client.pending_routes(), 0);
}

/// Ends that send no keepalives (as Go psrpc peers) are never expired for
/// their silence, on either side: an idle stream lives on long past the
/// expiry and still carries messages.
#[tokio::test(start_paused = true)]
async fn peers_that_send_no_keepalives_are_not_expired_while_idle() {
    let quiet = StreamKeepalive::disabled();
    for (server_keepalive, client_keepalive) in
        [(StreamKeepalive::default(), quiet), (quiet, StreamKeepalive::default())]
    {
        let local: SharedBus = Arc::new(LocalBus::new());
        let server = RpcServer::new("Live", local.clone(), ServerOptions::default().stream_keepalive(server_keepalive));
        let mut reports = serve_reporting(&server).await;
        let options = ClientOptions::default().stream_keepalive(client_keepalive);
        let client = RpcClient::new("Live", local, options).await.expect("client");
        let mut stream =
            client.open_stream::<Note, Note>(&TALK, vec![], RequestOptions::default()).await.expect("open");

        tokio::time::sleep(EXPIRY * 10).await;
        assert!(reports.try_recv().is_err(), "the server's handler still runs");
        assert_eq!(server.in_flight(), 1);
        stream.send(&note("still here")).await.expect("acked");
        assert_eq!(stream.recv().await.expect("open"), Some(note("still here")));
    }
}

/// `shutdown` waits for a stream and a call that never end only up to the
/// drain timeout, then cancels them: the stream's client is told
/// (`unavailable`), nothing is left in flight.
#[tokio::test(start_paused = true)]
async fn shutdown_cancels_what_is_left_after_the_drain_timeout() {
    let drain = Duration::from_secs(5);
    let local: SharedBus = Arc::new(LocalBus::new());
    let server = RpcServer::new("Live", local.clone(), ServerOptions::default().drain_timeout(drain));
    let never_stream = |_: ServerStream<Note, Note>| std::future::pending::<Result<(), Error>>();
    server.register_stream(&TALK, vec![], never_stream, None).await.expect("register");
    let never_answer = |_: RequestContext, _: Note| std::future::pending::<Result<Note, Error>>();
    server.register_unary(&ASK, vec![], never_answer, None).await.expect("register");
    let client = RpcClient::new("Live", local, ClientOptions::default()).await.expect("client");
    let mut stream = client.open_stream::<Note, Note>(&TALK, vec![], RequestOptions::default()).await.expect("open");
    let call = tokio::spawn({
        let client = client.clone();
        let options = RequestOptions::default().timeout(Duration::from_secs(60));
        async move { client.request_single::<Note, Note>(&ASK, vec![], &note("stuck"), options).await }
    });
    while server.in_flight() < 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let started = Instant::now();
    tokio::time::timeout(drain * 10, server.shutdown()).await.expect("shutdown is bounded by the drain timeout");
    let took = started.elapsed();
    assert!(took >= drain && took < drain + Duration::from_secs(1), "shutdown took {took:?}");
    assert_eq!(server.in_flight(), 0);
    let told = tokio::time::timeout(Duration::from_secs(1), stream.recv()).await.expect("the client was told");
    assert_eq!(told.expect_err("cancelled").code(), ErrorCode::Unavailable);
    call.abort();
}
