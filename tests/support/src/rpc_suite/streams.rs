//! Bidirectional streams: exchange, how each end learns how the stream
//! ended, split halves, dropping.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use psrpc_core::options::{RequestOptions, ServerOptions, StreamKeepalive};
use psrpc_core::stream::ServerStream;
use psrpc_core::{Error, ErrorCode, Payload, RawPayload, RpcServer};
use tokio::sync::mpsc;

use super::fixtures::*;
use crate::BusFactory;
use crate::faulty::CuttableBus;

/// Bytes that do not decode as any message: field 1 announces five bytes
/// that never come.
fn garbage() -> RawPayload {
    RawPayload(Bytes::from_static(&[0x0a, 0x05, b'a']))
}

/// Echoes every message back, prefixed, after a greeting naming the caller;
/// `fail` ends the stream with `not_found`, `bye` ends it in order.
async fn echo_stream(mut stream: ServerStream<Pong, Ping>) -> Result<(), Error> {
    let ctx = stream.context().cloned().expect("server end has a context");
    let user = ctx.metadata().get("user").cloned().unwrap_or_default();
    stream
        .send(&Pong { text: format!("hello {user} from {}", ctx.caller_id()), server: ctx.server_id().into() })
        .await?;
    while let Some(ping) = stream.recv().await? {
        match ping.text.as_str() {
            "fail" => return Err(Error::new(ErrorCode::NotFound, "no such thing")),
            "bye" => return Ok(()),
            text => stream.send(&Pong { text: format!("echo {text}"), server: ctx.server_id().into() }).await?,
        }
    }
    Ok(())
}

/// Serves `CHAT` on `s` with `handler`, which gets a sender for its reports
/// besides the stream; returns the reports.
async fn serve_reporting<Out, In, T, H, F>(s: &RpcServer, handler: H) -> mpsc::UnboundedReceiver<T>
where
    Out: Payload,
    In: Payload,
    T: Send + 'static,
    H: Fn(ServerStream<Out, In>, mpsc::UnboundedSender<T>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), Error>> + Send + 'static,
{
    let (report, reports) = mpsc::unbounded_channel();
    serve_chat(s, move |stream| handler(stream, report.clone())).await;
    reports
}

/// Echoes until the stream ends, then reports how its `recv` ended
/// (`Ok(())` for `Ok(None)`) and its `err()` at that moment.
async fn echo_and_report(
    mut stream: ServerStream<Pong, Ping>,
    report: mpsc::UnboundedSender<(Result<(), Error>, Option<Error>)>,
) -> Result<(), Error> {
    let ended = loop {
        match stream.recv().await {
            // A send the client no longer acknowledges fails once the
            // stream ends; `recv` then tells how.
            Ok(Some(p)) => {
                let _ = stream.send(&Pong { text: p.text, server: String::new() }).await;
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    let _ = report.send((ended, stream.err()));
    Ok(())
}

async fn next_report<T>(reports: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT_LIMIT, reports.recv()).await.expect("the server reported in time").expect("report")
}

fn code_and_message(e: &Error) -> (ErrorCode, &str) {
    (e.code(), e.message())
}

/// Messages flow both ways; sends complete on the peer's ack; the server
/// sees the caller's id and metadata; closing ends `recv` in order.
pub async fn streams_exchange_both_ways(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    serve_chat(&s, echo_stream).await;
    let client = client(factory, &svc).await;
    let mut stream = client
        .open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default().metadata("user", "ada"))
        .await
        .expect("open");
    let greeting = stream.recv().await.expect("open stream").expect("greeting");
    assert_eq!(greeting.text, format!("hello ada from {}", client.id()));
    assert_eq!(greeting.server, s.id());
    for i in 0..5 {
        stream.send(&ping(&i.to_string())).await.expect("acked");
        let got = stream.recv().await.expect("open stream").expect("echo");
        assert_eq!(got.text, format!("echo {i}"));
    }
    stream.close(None).await.expect("close");
    assert_eq!(stream.err(), Some(Error::stream_closed()));
    assert_eq!(stream.recv().await, Ok(None), "we closed: an orderly end");
    assert!(stream.close(None).await.is_err(), "closing twice reports the first cause");
    // The client's routes for the stream are gone.
    assert_eq!(client.pending_routes(), 0);
}

/// A handler's error reaches the client's `recv` (every time, and through
/// `err()` and `send`); a handler that returns `Ok` ends the client's
/// `recv` in order.
pub async fn stream_handler_result_reaches_the_client(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    serve_chat(&s, echo_stream).await;
    let client = client(factory, &svc).await;

    let mut failing = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    failing.recv().await.expect("open stream").expect("greeting");
    failing.send(&ping("fail")).await.expect("acked");
    let ended = failing.recv().await.expect_err("the handler failed");
    assert_eq!(code_and_message(&ended), (ErrorCode::NotFound, "no such thing"));
    assert_eq!(failing.err(), Some(ended.clone()));
    assert_eq!(failing.recv().await, Err(ended.clone()), "recv repeats how the stream ended");
    assert_eq!(failing.send(&ping("late")).await, Err(ended));

    let mut done = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    done.recv().await.expect("open stream").expect("greeting");
    done.send(&ping("bye")).await.expect("acked");
    assert_eq!(done.recv().await, Ok(None), "the handler returned Ok: an orderly end");
    assert_eq!(done.err(), Some(Error::stream_closed()));
    assert_eq!(client.pending_routes(), 0);
}

/// The client's close cause reaches the server's `recv` as an error; a
/// close without cause is an orderly end there; closing the client is
/// `canceled` at both ends; a killed server is `unavailable` at the client.
pub async fn stream_client_close_reaches_the_server(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    let mut reports = serve_reporting(&s, echo_and_report).await;
    let client = client(factory, &svc).await;

    let closing = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    closing.send(&ping("hi")).await.expect("acked");
    closing.close(Some(Error::new(ErrorCode::Aborted, "user left"))).await.expect("close");
    let (ended, err) = next_report(&mut reports).await;
    let cause = ended.expect_err("a close with a cause is an error at the server");
    assert_eq!(code_and_message(&cause), (ErrorCode::Aborted, "user left"));
    assert_eq!(err, Some(cause));

    let orderly = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    orderly.close(None).await.expect("close");
    assert_eq!(next_report(&mut reports).await, (Ok(()), Some(Error::stream_closed())));

    let mut cut_off = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    cut_off.send(&ping("hi")).await.expect("acked");
    assert_eq!(cut_off.recv().await.expect("open stream").expect("echo").text, "hi");
    client.close().await;
    let at_client = cut_off.recv().await.expect_err("the client was closed");
    assert_eq!(at_client, Error::client_closed());
    let (ended, err) = next_report(&mut reports).await;
    assert_eq!(ended, Err(Error::client_closed()));
    assert_eq!(err, Some(Error::client_closed()));

    let other = client_on(factory.connect().await, &svc, client_options()).await;
    let mut killed = other.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    killed.send(&ping("hi")).await.expect("acked");
    assert_eq!(killed.recv().await.expect("open stream").expect("echo").text, "hi");
    s.kill().await;
    let ended = tokio::time::timeout(WAIT_LIMIT, killed.recv()).await.expect("told in time").expect_err("killed");
    assert_eq!(ended.code(), ErrorCode::Unavailable);
    assert_eq!(killed.err(), Some(ended));
}

/// A message that does not decode ends the stream at the receiving end
/// with `malformed_request` at either end (as in Go psrpc), and the sender
/// is told the same cause.
pub async fn stream_malformed_messages_fail_both_ends(factory: &dyn BusFactory) {
    // Client → server.
    let (svc, s) = own_server(factory).await;
    let mut reports = serve_reporting(&s, echo_and_report).await;
    let raw_client = client(factory, &svc).await;
    let mut raw =
        raw_client.open_stream::<RawPayload, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    raw.send(&garbage()).await.expect("acked before decoding");
    let (ended, err) = next_report(&mut reports).await;
    let at_server = ended.expect_err("the server could not decode");
    assert_eq!(at_server.code(), ErrorCode::MalformedRequest);
    assert_eq!(err, Some(at_server.clone()));
    let told = tokio::time::timeout(WAIT_LIMIT, raw.recv()).await.expect("told in time").expect_err("told");
    assert_eq!(told, at_server);

    // Server → client.
    let (svc, s) = own_server(factory).await;
    let mut reports = serve_reporting(&s, |mut stream: ServerStream<RawPayload, Ping>, report| async move {
        stream.send(&garbage()).await?;
        let _ = report.send(stream.recv().await.map(|p| p.is_some()));
        Ok(())
    })
    .await;
    let client = client(factory, &svc).await;
    let mut stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    let item = tokio::time::timeout(WAIT_LIMIT, stream.next()).await.expect("in time").expect("an item");
    let at_client = item.expect_err("the client could not decode");
    assert_eq!(at_client.code(), ErrorCode::MalformedRequest, "Go's code at the client end too");
    assert!(stream.next().await.is_none(), "the error is the stream's last item");
    assert_eq!(stream.err(), Some(at_client.clone()));
    assert_eq!(next_report(&mut reports).await, Err(at_client));
}

/// A message that does not decode, still queued when the peer's orderly
/// close arrives, turns that end into the decode failure once it is read.
pub async fn stream_decode_failure_replaces_an_orderly_end(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    serve_chat(&s, |stream: ServerStream<RawPayload, Ping>| async move { stream.send(&garbage()).await }).await;
    let client = client(factory, &svc).await;
    let mut stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    tokio::time::timeout(WAIT_LIMIT, async {
        while !stream.is_closed() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the server closed in time");
    assert_eq!(stream.err(), Some(Error::stream_closed()), "an orderly end, until the queue is read");
    let at_client = stream.recv().await.expect_err("the queued message does not decode");
    assert_eq!(at_client.code(), ErrorCode::MalformedRequest, "Go's code at the client end too");
    assert_eq!(stream.err(), Some(at_client));
}

/// Split halves work from two tasks at once: 100 messages each way, sent
/// while the other direction flows, arrive in order; closing the client's
/// sender ends the server's `recv` in order.
pub async fn stream_split_halves_run_concurrently(factory: &dyn BusFactory) {
    const EACH_WAY: usize = 100;
    let (svc, s) = own_server(factory).await;
    let mut reports = serve_reporting(&s, |stream: ServerStream<Pong, Ping>, report| async move {
        let (sender, mut receiver) = stream.split();
        let sending = tokio::spawn(async move {
            for i in 0..EACH_WAY {
                sender.send(&Pong { text: format!("s{i}"), server: String::new() }).await?;
            }
            Ok::<_, Error>(())
        });
        let mut got = Vec::new();
        while let Some(p) = receiver.recv().await? {
            got.push(p.text);
        }
        let _ = report.send(got);
        sending.await.expect("sender task")
    })
    .await;
    let client = client(factory, &svc).await;
    let stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    let (sender, mut receiver) = stream.split();
    let receiving = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..EACH_WAY {
            got.push(receiver.recv().await.expect("open stream").expect("a message").text);
        }
        (got, receiver)
    });
    for i in 0..EACH_WAY {
        sender.send(&ping(&format!("c{i}"))).await.expect("acked");
    }
    let (got, mut receiver) = tokio::time::timeout(WAIT_LIMIT, receiving).await.expect("in time").expect("task");
    let expected: Vec<String> = (0..EACH_WAY).map(|i| format!("s{i}")).collect();
    assert_eq!(got, expected);
    sender.close(None).await.expect("close");
    let expected: Vec<String> = (0..EACH_WAY).map(|i| format!("c{i}")).collect();
    assert_eq!(next_report(&mut reports).await, expected);
    assert_eq!(receiver.recv().await, Ok(None), "closed from the other half: an orderly end");
    assert_eq!(receiver.err(), sender.err());
}

/// Reports when dropped: the handler that owns it has returned.
struct ReportOnDrop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for ReportOnDrop {
    fn drop(&mut self) {
        if let Some(returned) = self.0.take() {
            let _ = returned.send(());
        }
    }
}

/// A handler that hijacks its stream and returns, even with an error, leaves
/// the stream open: messages still flow both ways, the handler's result is
/// never sent, the stream stays the server's work (`shutdown` waits for it),
/// and it ends when a handle closes it.
pub async fn stream_hijacked_outlives_its_handler(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    let (returned_tx, returned) = tokio::sync::oneshot::channel();
    let returned_tx = std::sync::Mutex::new(Some(returned_tx));
    let mut handed = serve_reporting(&s, move |stream: ServerStream<Pong, Ping>, report| {
        let guard = ReportOnDrop(returned_tx.lock().expect("lock").take());
        async move {
            let _guard = guard;
            let _ = report.send(stream.hijack());
            Err(Error::new(ErrorCode::NotFound, "the handler's result"))
        }
    })
    .await;
    let client = client(factory, &svc).await;
    let mut stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    let mut owned = next_report(&mut handed).await;
    tokio::time::timeout(WAIT_LIMIT, returned).await.expect("the handler returned in time").expect("report");

    stream.send(&ping("still open")).await.expect("acked after the handler returned");
    assert_eq!(owned.recv().await.expect("open").expect("message").text, "still open");
    owned.send(&Pong { text: "from the new owner".into(), server: String::new() }).await.expect("acked");
    assert_eq!(stream.recv().await.expect("open").expect("reply").text, "from the new owner");
    assert_eq!(owned.err(), None);
    assert_eq!(s.in_flight(), 1, "the hijacked stream is still the server's work");

    let s2 = s.clone();
    let shutdown = tokio::spawn(async move { s2.shutdown().await });
    owned.close(None).await.expect("close");
    assert_eq!(stream.recv().await, Ok(None), "closed in order by the new owner, not with the handler's error");
    tokio::time::timeout(WAIT_LIMIT, shutdown).await.expect("shutdown once the stream ended").expect("shutdown task");
}

/// The client end closes when its last handle is dropped: a sender alone
/// or a receiver alone keeps the stream open (the receiver keeps
/// receiving); dropping the rest ends the server's `recv` in order.
pub async fn stream_closes_when_every_client_handle_is_dropped(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    let mut reports = serve_reporting(&s, echo_and_report).await;
    let client = client(factory, &svc).await;

    let stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    let (sender, mut receiver) = stream.split();
    sender.send(&ping("before")).await.expect("acked");
    drop(sender);
    assert!(!receiver.is_closed(), "the receiver keeps the stream open");
    assert_eq!(receiver.recv().await.expect("open stream").expect("echo").text, "before");
    drop(receiver);
    assert_eq!(client.pending_routes(), 0, "the last handle closed the stream");
    assert_eq!(next_report(&mut reports).await, (Ok(()), Some(Error::stream_closed())));

    let stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    let sender = stream.sender();
    drop(stream);
    assert!(!sender.is_closed(), "a sender keeps the stream open");
    sender.send(&ping("still open")).await.expect("acked");
    drop(sender);
    assert_eq!(client.pending_routes(), 0, "the last handle closed the stream");
    assert_eq!(next_report(&mut reports).await, (Ok(()), Some(Error::stream_closed())));
}

/// A server that vanishes without a word is noticed by keepalive expiry: the
/// client's `recv` fails with `unavailable` and the stream frees its routes.
pub async fn stream_notices_a_vanished_peer(factory: &dyn BusFactory) {
    let svc = unique_service();
    let keepalive = StreamKeepalive::new(Duration::from_millis(100), Duration::from_millis(500));
    let cuttable = CuttableBus::new(factory.connect().await);
    let s = RpcServer::new(svc.clone(), cuttable.clone(), ServerOptions::default().stream_keepalive(keepalive));
    serve_chat(&s, echo_stream).await;
    let client = client_on(factory.connect().await, &svc, client_options().stream_keepalive(keepalive)).await;
    let mut stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    stream.recv().await.expect("open stream").expect("greeting");
    stream.send(&ping("a")).await.expect("acked");
    stream.recv().await.expect("open stream").expect("echo");
    // The server goes silent: the client expires it whether or not a
    // keepalive of its own arrived yet (the server announced them).
    cuttable.cut();
    let ended = tokio::time::timeout(WAIT_LIMIT, stream.recv()).await.expect("noticed within the expiry");
    let cause = ended.expect_err("a vanished peer is an error");
    assert_eq!(cause.code(), ErrorCode::Unavailable);
    assert_eq!(stream.err(), Some(cause));
    assert_eq!(client.pending_routes(), 0);
}

/// A client that vanishes before its first keepalive is still expired by
/// the server (the client announced keepalives in its open): the handler's
/// `recv` fails with `unavailable` and the stream leaves the server's work.
pub async fn stream_expires_a_client_that_vanished_before_its_first_keepalive(factory: &dyn BusFactory) {
    let svc = unique_service();
    let expiry = StreamKeepalive::new(Duration::from_millis(100), Duration::from_millis(500));
    let s = RpcServer::new(svc.clone(), factory.connect().await, ServerOptions::default().stream_keepalive(expiry));
    let mut reports = serve_reporting(&s, echo_and_report).await;
    // The client's first keepalive would come long after the server's expiry.
    let rare = StreamKeepalive::new(Duration::from_secs(600), Duration::from_secs(1800));
    let cuttable = CuttableBus::new(factory.connect().await);
    let client = client_on(cuttable.clone(), &svc, client_options().stream_keepalive(rare)).await;
    let _stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    cuttable.cut();
    let (ended, _) = next_report(&mut reports).await;
    assert_eq!(ended.expect_err("a vanished client is an error").code(), ErrorCode::Unavailable);
    tokio::time::timeout(WAIT_LIMIT, async {
        while s.in_flight() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the stream left the server's work");
}

/// A stream and a multi-RPC keep working after the last client handle is dropped.
pub async fn calls_keep_their_client_alive(factory: &dyn BusFactory) {
    let (svc, s) = own_server(factory).await;
    serve_chat(&s, echo_stream).await;
    serve_echo(&s, &MULTI, &[], None).await;
    let client = client(factory, &svc).await;
    let mut stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    let multi = client
        .request_multi::<Ping, Pong>(&MULTI, vec![], &ping("m"), RequestOptions::default().expected_responses(1))
        .await
        .expect("sent");
    drop(client);
    stream.recv().await.expect("open stream").expect("greeting");
    stream.send(&ping("still here")).await.expect("acked");
    assert_eq!(stream.recv().await.expect("open stream").expect("echo").text, "echo still here");
    assert_eq!(multi.collect_all().await.len(), 1);
}
