//! Frames over a bus's size limit: every kind of call refuses them at once
//! with `resource_exhausted` naming both sizes, what sets the limit and
//! the channel, and everything else on the same connections goes on.

use std::error::Error as _;
use std::sync::Arc;

use psrpc_core::options::{RequestOptions, ServerOptions};
use psrpc_core::stream::ServerStream;
use psrpc_core::transport::frame_limit::Grouped;
use psrpc_core::{BusError, BusErrorKind, Error, ErrorCode, RequestContext, RpcServer, SharedBus};
use tokio::sync::Semaphore;

use super::fixtures::*;

/// What the refusal of an oversized frame must say on a bus.
#[derive(Clone, Copy, Debug)]
pub struct Refusal {
    /// The bus's limit, in bytes.
    pub limit: usize,
    /// What sets it, as the message says ("the NATS server's max_payload").
    pub origin: &'static str,
    /// How the broker names a channel ("subject", "channel").
    pub place: &'static str,
}

/// Asserts that `err` refuses a `what` ("request", "response", …) over
/// `refusal`'s limit: `resource_exhausted`, naming the frame's size, the
/// limit, its origin and the channel; returns the frame's size.
///
/// ```no_run
/// # fn f(err: psrpc_core::Error) {
/// use psrpc_test_support::rpc_suite::{Refusal, assert_refused};
/// let refusal = Refusal { limit: 65_536, origin: "the NATS server's max_payload", place: "subject" };
/// let size = assert_refused(&err, "request", &refusal);
/// assert!(size > 65_536);
/// # }
/// ```
pub fn assert_refused(err: &Error, what: &str, refusal: &Refusal) -> usize {
    assert_eq!(err.code(), ErrorCode::ResourceExhausted, "{err}");
    let size = err
        .source()
        .and_then(|source| source.downcast_ref::<BusError>())
        .map(BusError::kind)
        .or_else(|| parse_sizes(err.message()))
        .and_then(|kind| match kind {
            BusErrorKind::FrameTooLarge { size, limit } => Some((size, limit)),
            _ => None,
        });
    let Some((size, limit)) = size else { panic!("no frame size in {err}") };
    assert_eq!(limit, refusal.limit, "{err}");
    assert!(size > limit, "{err}");
    let said = format!(
        "{what} of {} bytes exceeds {} of {} bytes on {} ",
        Grouped(size),
        refusal.origin,
        Grouped(limit),
        refusal.place
    );
    assert!(err.message().contains(&said), "{err:?} does not say {said:?}");
    size
}

/// The sizes a refusal that crossed the wire (a server's error response,
/// which carries only its message) names: "… of N bytes exceeds … of M bytes".
fn parse_sizes(message: &str) -> Option<BusErrorKind> {
    let numbers: Vec<usize> =
        message.split(" bytes").filter_map(|part| part.rsplit(' ').next()?.replace(',', "").parse().ok()).collect();
    match numbers[..] {
        [size, limit, ..] => Some(BusErrorKind::FrameTooLarge { size, limit }),
        _ => None,
    }
}

/// A `Pong` whose text is `len` bytes.
fn pong_of(len: usize) -> Pong {
    Pong { text: "r".repeat(len), server: String::new() }
}

/// A request, a response, stream messages both ways and a subscription
/// message over `refusal`'s limit on `bus` (server and client share it)
/// each fail at once with `resource_exhausted` naming both sizes; a call
/// in flight meanwhile is answered, a subscription keeps receiving, the
/// stream carries smaller messages on, and new calls are served.
///
/// ```no_run
/// # async fn f(bus: psrpc_core::SharedBus) {
/// use psrpc_test_support::rpc_suite::{Refusal, oversized_frames_fail_at_once};
/// let refusal = Refusal { limit: 65_536, origin: "the NATS server's max_payload", place: "subject" };
/// oversized_frames_fail_at_once(bus, refusal).await;
/// # }
/// ```
pub async fn oversized_frames_fail_at_once(bus: SharedBus, refusal: Refusal) {
    let svc = unique_service();
    let server = RpcServer::new(svc.as_str(), Arc::clone(&bus), ServerOptions::default());
    let client = client_on(Arc::clone(&bus), &svc, client_options()).await;
    let big = Ping { text: "q".repeat(refusal.limit), delay_ms: 0 };
    serve_echo(&server, &AFFINITY, &[], Some(0.5)).await;
    serve_echo(&server, &MULTI, &[], None).await;
    serve_echo(&server, &REGIONAL, &["eu"], None).await;
    // `SINGLE` answers with a text as long as its request says, and holds
    // the request "hold" until released.
    let (held, release) = (Arc::new(Semaphore::new(0)), Arc::new(Semaphore::new(0)));
    let hold = (Arc::clone(&held), Arc::clone(&release));
    serve_single(&server, move |ctx: RequestContext, ping: Ping| {
        let (held, release) = hold.clone();
        async move {
            if ping.text == "hold" {
                held.add_permits(1);
                release.acquire().await.expect("open").forget();
            }
            Ok(match ping.text.parse() {
                Ok(len) => pong_of(len),
                Err(_) => Pong { text: ping.text, server: ctx.server_id().to_owned() },
            })
        }
    })
    .await;
    serve_chat(&server, inflating_stream).await;
    let mut updates = client.subscribe::<Pong>(&BROADCAST, vec![]).await.expect("subscribe");

    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { call(&client, &SINGLE, "hold").await })
    };
    held.acquire().await.expect("the held call reached its handler").forget();

    // Requests of every kind.
    let options = RequestOptions::default;
    let err = client.request_single::<Ping, Pong>(&SINGLE, vec![], &big, options()).await.expect_err("request");
    assert_refused(&err, "request", &refusal);
    let err = client.request_single::<Ping, Pong>(&AFFINITY, vec![], &big, options()).await.expect_err("request");
    assert_refused(&err, "request", &refusal);
    let err = client.request_single::<Ping, Pong>(&REGIONAL, &["eu"][..], &big, options()).await.expect_err("topic");
    assert_refused(&err, "request", &refusal);
    let Err(err) = client.request_multi::<Ping, Pong>(&MULTI, vec![], &big, options()).await else {
        panic!("an oversized multi request was sent")
    };
    assert_refused(&err, "request", &refusal);

    // A response: the server sends the error instead.
    let err = call(&client, &SINGLE, &refusal.limit.to_string()).await.expect_err("response");
    assert_refused(&err, "response", &refusal);

    // Stream messages, both ways; the stream carries smaller ones on.
    let mut stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], options()).await.expect("open");
    let err = stream.send(&big).await.expect_err("client message");
    assert_refused(&err, "stream message", &refusal);
    stream.send(&ping(&refusal.limit.to_string())).await.expect("send");
    let answer = stream.recv().await.expect("recv").expect("the server's report");
    let (code, message) = answer.text.split_once(' ').expect("code and message");
    assert_refused(&Error::new(ErrorCode::from_wire(code), message), "stream message", &refusal);
    stream.send(&ping("after")).await.expect("a smaller message");
    assert_eq!(stream.recv().await.expect("recv").expect("echo").text, "after");
    stream.close(None).await.expect("close");

    // A subscription message.
    let err = server.publish(&BROADCAST, vec![], &pong_of(refusal.limit)).await.expect_err("publish");
    assert_refused(&err, "subscription message", &refusal);

    // Nothing else was lost.
    release.add_permits(1);
    assert_eq!(in_flight.await.expect("task").expect("the held call").message.text, "hold");
    server.publish(&BROADCAST, vec![], &pong_of(3)).await.expect("publish");
    let update = tokio::time::timeout(WAIT_LIMIT, updates.recv()).await.expect("in time").expect("open");
    assert_eq!(update.text, "rrr", "the subscription still receives");
    for method in [&SINGLE, &AFFINITY] {
        assert_eq!(call(&client, method, "fine").await.expect("served").message.text, "fine");
    }
    server.shutdown().await;
}

/// Echoes messages; a message whose text is a number asks for an answer
/// that long: the send's error is reported back as "code message".
async fn inflating_stream(mut stream: ServerStream<Pong, Ping>) -> Result<(), Error> {
    while let Some(p) = stream.recv().await? {
        let Ok(len) = p.text.parse() else {
            stream.send(&Pong { text: p.text, server: String::new() }).await?;
            continue;
        };
        let report = match stream.send(&pong_of(len)).await {
            Ok(()) => "ok sent".to_owned(),
            Err(e) => format!("{} {}", e.code().as_str(), e.message()),
        };
        stream.send(&Pong { text: report, server: String::new() }).await?;
    }
    Ok(())
}
