//! Observers hear every call on both ends, and the server-side points of
//! the claim exchange.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use parking_lot::Mutex;
use psrpc_core::metadata::unix_nanos;
use psrpc_core::observe::{ClaimOutcome, Observer, Role};
use psrpc_core::options::{RequestOptions, SelectionOptions, ServerOptions};
use psrpc_core::transport::channel;
use psrpc_core::{Error, ErrorCode, RequestContext, RpcClient, RpcInfo, RpcServer, SharedBus};
use psrpc_protocol::envelope::Request;
use psrpc_protocol::frame;
use tokio::sync::Notify;

use super::fixtures::*;
use crate::BusFactory;

/// Every report, as one line of text.
#[derive(Debug, Default)]
pub struct Recorder {
    lines: Mutex<Vec<String>>,
    reported: Notify,
}

impl Recorder {
    /// How many reports equal `line`.
    pub(crate) fn count(&self, line: &str) -> usize {
        self.lines.lock().iter().filter(|l| *l == line).count()
    }

    /// Waits until `line` was reported `n` times (a minute at most: after
    /// that it never will).
    pub(crate) async fn until(&self, line: &str, n: usize) {
        let heard = async {
            loop {
                let reported = self.reported.notified();
                tokio::pin!(reported);
                reported.as_mut().enable();
                if self.count(line) >= n {
                    return;
                }
                reported.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(60), heard).await.is_err() {
            panic!("never heard {n} × {line:?}: {:?}", self.lines.lock());
        }
    }

    fn push(&self, line: String) {
        self.lines.lock().push(line);
        self.reported.notify_waiters();
    }
}

fn code(outcome: Result<(), &Error>) -> &'static str {
    outcome.map_or_else(|e| e.code().as_str(), |()| "ok")
}

impl Observer for Recorder {
    fn on_unary(&self, role: Role, info: &RpcInfo, _: Duration, outcome: Result<(), &Error>, req: usize, res: usize) {
        self.push(format!("{} unary {} {} {req}>{res}", role.as_str(), info.method, code(outcome)));
    }

    fn on_multi(&self, role: Role, info: &RpcInfo, _: Duration, ok: usize, failed: usize, _: usize, _: usize) {
        self.push(format!("{} multi {} {ok}/{failed}", role.as_str(), info.method));
    }

    fn on_stream_open(&self, role: Role, info: &RpcInfo) {
        self.push(format!("{} open {}", role.as_str(), info.method));
    }

    fn on_stream_send(&self, role: Role, info: &RpcInfo, _: Duration, outcome: Result<(), &Error>, bytes: usize) {
        self.push(format!("{} send {} {} {bytes}", role.as_str(), info.method, code(outcome)));
    }

    fn on_stream_recv(&self, role: Role, info: &RpcInfo, bytes: usize) {
        self.push(format!("{} recv {} {bytes}", role.as_str(), info.method));
    }

    fn on_stream_close(&self, role: Role, info: &RpcInfo, cause: &Error) {
        self.push(format!("{} close {} {}", role.as_str(), info.method, cause.code().as_str()));
    }

    fn on_request_received(&self, info: &RpcInfo) {
        self.push(format!("received {}", info.method));
    }

    fn on_request_expired(&self, info: &RpcInfo) {
        self.push(format!("expired {}", info.method));
    }

    fn on_claim(&self, info: &RpcInfo, outcome: ClaimOutcome, _: Duration) {
        self.push(format!("claim {} {}", info.method, outcome.as_str()));
    }
}

/// Client and server observers hear unary calls (with their outcome and
/// sizes), multi calls, received and expired requests, and won and lost
/// claims.
pub async fn observers_hear_calls_claims_and_expiries(factory: &dyn BusFactory) {
    let svc = unique_service();
    let heard = Arc::new(Recorder::default());
    let options = || ServerOptions::default().observer(heard.clone());
    let mut servers = Vec::new();
    for affinity in [0.9, 0.1] {
        let s = RpcServer::new(svc.clone(), factory.connect().await, options());
        serve_echo(&s, &AFFINITY, &[], Some(affinity)).await;
        serve_echo(&s, &MULTI, &[], None).await;
        servers.push(s);
    }
    let failing = |_: RequestContext, _: Ping| async { Err::<Pong, _>(Error::new(ErrorCode::NotFound, "nope")) };
    servers[0].register_unary(&SHARD, vec!["t".into()], failing, None).await.expect("register");
    let client_heard = Arc::new(Recorder::default());
    let client = client_on(factory.connect().await, &svc, client_options().observer(client_heard.clone())).await;

    let reply = call(&client, &AFFINITY, "hi").await.expect("reply");
    assert_eq!(reply.server_id, servers[0].id());
    let sizes = format!("{}>{}", prost::Message::encoded_len(&ping("hi")), prost::Message::encoded_len(&reply.message));
    assert_eq!(client_heard.count(&format!("client unary Affine ok {sizes}")), 1);
    heard.until(&format!("server unary Affine ok {sizes}"), 1).await;
    heard.until("received Affine", 2).await;
    heard.until("claim Affine won", 1).await;
    heard.until("claim Affine lost", 1).await;

    let err = client
        .request_single::<Ping, Pong>(&SHARD, vec!["t".into()], &ping("x"), RequestOptions::default())
        .await
        .expect_err("fails");
    assert_eq!(err.code(), ErrorCode::NotFound);
    let request_bytes = prost::Message::encoded_len(&ping("x"));
    assert_eq!(client_heard.count(&format!("client unary Shard not_found {request_bytes}>0")), 1);
    heard.until(&format!("server unary Shard not_found {request_bytes}>0"), 1).await;

    let answers = client
        .request_multi::<Ping, Pong>(&MULTI, vec![], &ping("all"), RequestOptions::default().expected_responses(2))
        .await
        .expect("multi")
        .collect_all()
        .await;
    assert_eq!(answers.len(), 2);
    assert_eq!(client_heard.count("client multi Everyone 2/0"), 1);
    heard.until("server multi Everyone 1/0", 2).await;

    let _publisher = publish_expired_shard_request(factory, &svc, "1").await;
    heard.until("expired Shard", 1).await;
}

/// Both ends of a stream report its open, every message sent and received
/// (with its size) and its close.
pub async fn observers_hear_streams(factory: &dyn BusFactory) {
    let svc = unique_service();
    let heard = Arc::new(Recorder::default());
    let s = RpcServer::new(svc.clone(), factory.connect().await, ServerOptions::default().observer(heard.clone()));
    serve_echo_stream(&s).await;
    let client_heard = Arc::new(Recorder::default());
    let client = client_on(factory.connect().await, &svc, client_options().observer(client_heard.clone())).await;
    let mut stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    assert_eq!(client_heard.count("client open Chat"), 1);
    stream.send(&ping("hey")).await.expect("send");
    let echoed = stream.recv().await.expect("open").expect("a message");
    let (sent, received) = (prost::Message::encoded_len(&ping("hey")), prost::Message::encoded_len(&echoed));
    stream.close(None).await.expect("close");
    assert_eq!(client_heard.count(&format!("client send Chat ok {sent}")), 1);
    assert_eq!(client_heard.count(&format!("client recv Chat {received}")), 1);
    assert_eq!(client_heard.count("client close Chat canceled"), 1);
    heard.until("server open Chat", 1).await;
    heard.until(&format!("server recv Chat {sent}"), 1).await;
    heard.until(&format!("server send Chat ok {received}"), 1).await;
    heard.until("server close Chat canceled", 1).await;
}

/// Publishes a `Shard` request on topic `t` of `svc` that expired 5 s ago
/// (`n` tells its ids apart), as a client whose request sat in a queue
/// would; returns the publishing bus, to be held until the request is seen
/// (a dropped NATS connection may not have flushed it yet).
async fn publish_expired_shard_request(factory: &dyn BusFactory, svc: &str, n: &str) -> SharedBus {
    let stale = Request {
        request_id: format!("REQ_stale000000{n}"),
        client_id: format!("CLI_nobody00000{n}"),
        sent_at: unix_nanos(SystemTime::now() - Duration::from_secs(10)),
        expiry: unix_nanos(SystemTime::now() - Duration::from_secs(5)),
        raw_request: Bytes::from(prost::Message::encode_to_vec(&ping("old"))),
        ..Default::default()
    };
    let bus = factory.connect().await;
    let ch = channel::request_channel(svc, "Shard", &["t"], true);
    let local = if bus.frames_carry_local_channel() { &*ch.local } else { "" };
    bus.publish(&ch, frame::encode_envelope(&stale, local)).await.expect("publish");
    bus
}

/// An observer that panics in every report, after noting which one it was.
#[derive(Debug)]
struct Panicking(tokio::sync::watch::Sender<HashSet<&'static str>>);

impl Default for Panicking {
    fn default() -> Self {
        Panicking(tokio::sync::watch::Sender::new(HashSet::new()))
    }
}

impl Panicking {
    fn hit(&self, report: &'static str) {
        self.0.send_modify(|heard| {
            heard.insert(report);
        });
        panic!("observer bug in {report}");
    }

    /// Waits until every report in `reports` was made (and panicked).
    async fn until(&self, reports: &[&'static str]) {
        let mut heard = self.0.subscribe();
        let _ = heard.wait_for(|heard| reports.iter().all(|r| heard.contains(r))).await;
    }
}

impl Observer for Panicking {
    fn on_unary(&self, _: Role, _: &RpcInfo, _: Duration, _: Result<(), &Error>, _: usize, _: usize) {
        self.hit("on_unary");
    }

    fn on_multi(&self, _: Role, _: &RpcInfo, _: Duration, _: usize, _: usize, _: usize, _: usize) {
        self.hit("on_multi");
    }

    fn on_stream_open(&self, _: Role, _: &RpcInfo) {
        self.hit("on_stream_open");
    }

    fn on_stream_send(&self, _: Role, _: &RpcInfo, _: Duration, _: Result<(), &Error>, _: usize) {
        self.hit("on_stream_send");
    }

    fn on_stream_recv(&self, _: Role, _: &RpcInfo, _: usize) {
        self.hit("on_stream_recv");
    }

    fn on_stream_close(&self, _: Role, _: &RpcInfo, _: &Error) {
        self.hit("on_stream_close");
    }

    fn on_request_received(&self, _: &RpcInfo) {
        self.hit("on_request_received");
    }

    fn on_request_expired(&self, _: &RpcInfo) {
        self.hit("on_request_expired");
    }

    fn on_claim(&self, _: &RpcInfo, _: ClaimOutcome, _: Duration) {
        self.hit("on_claim");
    }
}

/// One call of every kind (queue, affinity, single-server, multi, stream),
/// checked for its result.
async fn one_call_of_each_kind(client: &RpcClient, servers: &[RpcServer], round: &str) {
    let queued = call(client, &SINGLE, round).await;
    assert_eq!(queued.expect("queue call").message.text, round);
    // The higher affinity (0.9) wins however late its claim comes.
    let best = SelectionOptions::default().maximum_affinity(0.9).affinity_timeout(Duration::from_secs(20));
    let options = RequestOptions::default().selection(best).timeout(Duration::from_secs(30));
    let affine = client.request_single::<Ping, Pong>(&AFFINITY, vec![], &ping(round), options).await;
    assert_eq!(affine.expect("affinity call").server_id, servers[0].id(), "the higher affinity wins");
    let request = ping(round);
    let shard = client.request_single::<Ping, Pong>(&SHARD, vec!["t".into()], &request, RequestOptions::default());
    assert_eq!(shard.await.expect("single-server call").message.text, round);
    let everyone = RequestOptions::default().expected_responses(2);
    let answers = client.request_multi::<Ping, Pong>(&MULTI, vec![], &ping(round), everyone).await.expect("multi");
    let answers = answers.collect_all().await;
    assert_eq!(answers.len(), 2);
    assert!(answers.iter().all(|a| a.result.as_ref().is_ok_and(|p| p.text == round)), "{answers:?}");
    let mut stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    stream.send(&ping(round)).await.expect("send");
    assert_eq!(stream.recv().await.expect("open stream").expect("echo").text, round);
    stream.close(None).await.expect("close");
}

/// An observer that panics in every report, on the servers and the client,
/// changes no outcome: calls of every kind complete with their result, an
/// expired request is dropped, and calls and subscriptions keep working
/// afterwards (the panic never reaches the calling task or a bus's
/// delivering task).
pub async fn a_panicking_observer_changes_no_outcome(factory: &dyn BusFactory) {
    let svc = unique_service();
    let server_heard = Arc::new(Panicking::default());
    let mut servers = Vec::new();
    for affinity in [0.9, 0.1] {
        let options = ServerOptions::default().observer(server_heard.clone());
        let s = RpcServer::new(svc.clone(), factory.connect().await, options);
        serve_echo(&s, &SINGLE, &[], None).await;
        serve_echo(&s, &AFFINITY, &[], Some(affinity)).await;
        serve_echo(&s, &MULTI, &[], None).await;
        servers.push(s);
    }
    serve_echo(&servers[0], &SHARD, &["t"], None).await;
    serve_echo_stream(&servers[0]).await;
    let client_heard = Arc::new(Panicking::default());
    let client = client_on(factory.connect().await, &svc, client_options().observer(client_heard.clone())).await;

    one_call_of_each_kind(&client, &servers, "first").await;
    let _publisher = publish_expired_shard_request(factory, &svc, "2").await;
    let every_server_report = [
        "on_unary",
        "on_multi",
        "on_stream_open",
        "on_stream_send",
        "on_stream_recv",
        "on_stream_close",
        "on_request_received",
        "on_request_expired",
        "on_claim",
    ];
    server_heard.until(&every_server_report).await;
    client_heard
        .until(&["on_unary", "on_multi", "on_stream_open", "on_stream_send", "on_stream_recv", "on_stream_close"])
        .await;

    one_call_of_each_kind(&client, &servers, "again").await;
    let mut updates = client.subscribe::<Pong>(&BROADCAST, vec![]).await.expect("subscribe");
    let news = Pong { text: "news".into(), server: String::new() };
    servers[1].publish(&BROADCAST, vec![], &news).await.expect("publish");
    assert_eq!(updates.recv().await, Some(news));
}
