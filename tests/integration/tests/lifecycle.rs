//! Nothing outlives what owns it: after clients and servers are dropped,
//! every subscription is gone from the bus and every task they started has
//! ended; and every call ends by its deadline, even when the transport never
//! answers a publish.

use std::sync::Arc;
use std::time::Duration;

use psrpc::local::LocalBus;
use psrpc::{
    ClientOptions, Delivery, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient,
    RpcServer, Selection, ServerOptions, ServerStream, SharedBus,
};
use psrpc_integration_tests::Note;
use psrpc_test_support::faulty::CuttableBus;
use tokio::time::Instant;

static ASK: MethodInfo = MethodInfo::new("Ask", MethodKind::Unary(Selection::Queue { topics: false }));
static POLL: MethodInfo = MethodInfo::new("Poll", MethodKind::Multi { topics: false });
static TALK: MethodInfo = MethodInfo::new("Talk", MethodKind::Stream(Selection::Queue { topics: false }));
static NEWS: MethodInfo =
    MethodInfo::new("News", MethodKind::Subscription { delivery: Delivery::Every, topics: false });

async fn answer(_: RequestContext, note: Note) -> Result<Note, Error> {
    Ok(note)
}

async fn talk(mut stream: ServerStream<Note, Note>) -> Result<(), Error> {
    while let Some(note) = stream.recv().await? {
        stream.send(&note).await?;
    }
    Ok(())
}

/// Serves and calls every kind, then drops client and server: the bus is
/// left with no subscription and the runtime with no task of theirs.
#[tokio::test]
async fn dropped_clients_and_servers_leave_no_subscription_or_task() {
    let local = LocalBus::new();
    let bus: SharedBus = Arc::new(local.clone());
    let runtime = tokio::runtime::Handle::current().metrics();
    let tasks_before = runtime.num_alive_tasks();

    let server = RpcServer::new("Life", bus.clone(), ServerOptions::default());
    server.register_unary(&ASK, vec![], answer, None).await.expect("register");
    server.register_unary(&POLL, vec![], answer, None).await.expect("register");
    server.register_stream(&TALK, vec![], talk, None).await.expect("register");
    let client = RpcClient::new("Life", bus.clone(), ClientOptions::default()).await.expect("client");
    let note = Note { text: "hi".into() };
    client.request_single::<Note, Note>(&ASK, vec![], &note, RequestOptions::default()).await.expect("single");
    let answers = client
        .request_multi::<Note, Note>(&POLL, vec![], &note, RequestOptions::default().expected_responses(1))
        .await
        .expect("multi")
        .collect_all()
        .await;
    assert_eq!(answers.len(), 1);
    let mut stream = client.open_stream::<Note, Note>(&TALK, vec![], RequestOptions::default()).await.expect("open");
    stream.send(&note).await.expect("send");
    assert_eq!(stream.recv().await.expect("open"), Some(note.clone()));
    let mut news = client.subscribe::<Note>(&NEWS, vec![]).await.expect("subscribe");
    server.publish(&NEWS, vec![], &note).await.expect("publish");
    assert_eq!(news.recv().await, Some(note));
    assert!(local.subscription_count() > 0);
    assert!(runtime.num_alive_tasks() > tasks_before);

    drop((stream, news, client, server));
    // A minute tells a hang from a slow machine; it bounds no timing.
    let deadline = Instant::now() + Duration::from_secs(60);
    while local.subscription_count() > 0 || runtime.num_alive_tasks() > tasks_before {
        assert!(
            Instant::now() < deadline,
            "left behind: {} subscription(s), {} task(s)",
            local.subscription_count(),
            runtime.num_alive_tasks() - tasks_before
        );
        tokio::task::yield_now().await;
    }
}

/// A server whose handle is dropped while a call is in flight finishes that
/// call (the drop drains), then unsubscribes.
#[tokio::test]
async fn a_dropped_server_drains_in_flight_calls() {
    let local = LocalBus::new();
    let bus: SharedBus = Arc::new(local.clone());
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let (finish_tx, finish) = tokio::sync::oneshot::channel::<()>();
    let finish = Arc::new(tokio::sync::Mutex::new(Some(finish)));
    let server = RpcServer::new("Drain", bus.clone(), ServerOptions::default());
    server
        .register_unary(
            &ASK,
            vec![],
            move |_: RequestContext, note: Note| {
                let (started_tx, finish) = (started_tx.clone(), Arc::clone(&finish));
                async move {
                    let _ = started_tx.send(());
                    if let Some(finish) = finish.lock().await.take() {
                        let _ = finish.await;
                    }
                    Ok::<_, Error>(note)
                }
            },
            None,
        )
        .await
        .expect("register");
    let client = RpcClient::new("Drain", bus, ClientOptions::default()).await.expect("client");
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            let note = Note { text: "held".into() };
            client.request_single::<Note, Note>(&ASK, vec![], &note, RequestOptions::default()).await
        }
    });
    started.recv().await.expect("the handler runs");
    drop(server);
    let _ = finish_tx.send(());
    assert_eq!(call.await.expect("task").expect("answered during the drain").message.text, "held");
    // Only the client's three channels remain once the server is gone (a
    // minute tells a hang from a slow machine).
    let deadline = Instant::now() + Duration::from_secs(60);
    while local.subscription_count() > 3 {
        assert!(Instant::now() < deadline, "the dropped server kept its subscriptions");
        tokio::task::yield_now().await;
    }
}

/// Every kind of call ends by its deadline with `deadline_exceeded` when the
/// transport takes its publish and never answers.
#[tokio::test(start_paused = true)]
async fn calls_end_by_their_deadline_when_publishes_hang() {
    let local: SharedBus = Arc::new(LocalBus::new());
    let stalled = CuttableBus::new(local.clone());
    let server = RpcServer::new("Stuck", local, ServerOptions::default());
    server.register_unary(&ASK, vec![], answer, None).await.expect("register");
    server.register_unary(&POLL, vec![], answer, None).await.expect("register");
    server.register_stream(&TALK, vec![], talk, None).await.expect("register");
    let client = RpcClient::new("Stuck", stalled.clone(), ClientOptions::default()).await.expect("client");
    stalled.stall();
    let timeout = Duration::from_secs(3);
    let options = || RequestOptions::default().timeout(timeout);
    let note = Note { text: "lost".into() };

    let started = Instant::now();
    let err = client.request_single::<Note, Note>(&ASK, vec![], &note, options()).await.expect_err("stalled");
    assert_eq!((err.code(), started.elapsed()), (ErrorCode::DeadlineExceeded, timeout));

    let started = Instant::now();
    let err = client.request_multi::<Note, Note>(&POLL, vec![], &note, options()).await.expect_err("stalled");
    assert_eq!((err.code(), started.elapsed()), (ErrorCode::DeadlineExceeded, timeout));

    let started = Instant::now();
    let err = client.open_stream::<Note, Note>(&TALK, vec![], options()).await.expect_err("stalled");
    assert_eq!((err.code(), started.elapsed()), (ErrorCode::DeadlineExceeded, timeout));
}
