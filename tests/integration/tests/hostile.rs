//! Hostile peers: a process on the same bus and namespace that publishes
//! hand-made frames (forged claims, forged responses, stream frames for
//! streams it does not own, malformed and oversized frames) on a victim's
//! channels. Run on the in-process bus, NATS and Redis.
//!
//! After each attack the victim client and server keep working (a normal
//! call and a stream afterwards succeed), nothing panicked, and no forged
//! payload reached application code — except where the protocol cannot tell
//! a forgery from the real thing, which the tests record precisely (see
//! docs/WIRE.md, "Security model").

use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use psrpc::{
    ClientOptions, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer,
    Selection, SelectionOptions, ServerOptions, ServerStream, SharedBus,
};
use psrpc_integration_tests::Note;
use psrpc_protocol::channel::{self, Channel};
use psrpc_protocol::envelope::{
    ClaimRequest, ClaimResponse, Request, Response, Stream, StreamAck, StreamClose, StreamMessage, stream::Body,
};
use psrpc_protocol::frame::{self, Envelope};
use psrpc_test_support::handmade;
use psrpc_test_support::{BusFactory, unique_name};
use tokio::sync::Semaphore;

static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
static GATED: MethodInfo = MethodInfo::new("Gated", MethodKind::Unary(Selection::Queue { topics: false }));
static PICK: MethodInfo = MethodInfo::new("Pick", MethodKind::Unary(Selection::Affinity { topics: false }));
static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));

/// Generous: only a broken victim takes this long.
const TIMEOUT: Duration = Duration::from_secs(5);
const FORGED_SERVER: &str = "SRV_forged000000";

// --- a panic in any psrpc task fails the tests ----------------------------

/// Panics outside the test threads (whose names are the tests' paths): in
/// the runtimes' worker threads, where the victims' tasks run.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn watch_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !std::thread::current().name().is_some_and(|name| name.contains("::")) {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

// --- the victim -----------------------------------------------------------

struct Victim {
    service: String,
    server: RpcServer,
    server_bus: SharedBus,
    client: RpcClient,
    client_bus: SharedBus,
    /// Handlers of `Gated` and `Pick` wait for a permit: the test decides
    /// when the real response may go.
    gate: Arc<Semaphore>,
}

async fn echo(_: RequestContext, note: Note) -> Result<Note, Error> {
    Ok(Note { text: format!("real:{}", note.text) })
}

async fn chat(mut stream: ServerStream<Note, Note>) -> Result<(), Error> {
    while let Some(note) = stream.recv().await? {
        stream.send(&Note { text: format!("real:{}", note.text) }).await?;
    }
    Ok(())
}

async fn victim(factory: &dyn BusFactory) -> Victim {
    watch_panics();
    let service = unique_name("Victim");
    let server_bus = factory.connect().await;
    let server = RpcServer::new(service.as_str(), server_bus.clone(), ServerOptions::default());
    let gate = Arc::new(Semaphore::new(0));
    let gated = {
        let gate = gate.clone();
        move |ctx: RequestContext, note: Note| {
            let gate = gate.clone();
            async move {
                gate.acquire().await.expect("gate open").forget();
                echo(ctx, note).await
            }
        }
    };
    server.register_unary(&ECHO, (), echo, None).await.expect("register");
    server.register_unary(&GATED, (), gated.clone(), None).await.expect("register");
    let half: psrpc::AffinityFn<Note> = Arc::new(|_: &RequestContext, _: &Note| 0.5);
    server.register_unary(&PICK, (), gated, Some(half)).await.expect("register");
    server.register_stream(&CHAT, (), chat, None).await.expect("register");
    let client_bus = factory.connect().await;
    let client = RpcClient::new(service.as_str(), client_bus.clone(), ClientOptions::default().timeout(TIMEOUT))
        .await
        .expect("client");
    Victim { service, server, server_bus, client, client_bus, gate }
}

impl Victim {
    fn responses(&self) -> Channel {
        channel::response_channel(&self.service, self.client.id())
    }

    fn claims(&self) -> Channel {
        channel::claim_request_channel(&self.service, self.client.id())
    }

    fn client_stream(&self) -> Channel {
        channel::stream_client_channel(&self.service, self.client.id())
    }

    fn requests(&self, method: &MethodInfo) -> Channel {
        let queue = matches!(method.kind, MethodKind::Unary(Selection::Queue { .. }));
        channel::request_channel(&self.service, &method.name, &[] as &[&str], queue)
    }

    fn claim_responses(&self, method: &MethodInfo) -> Channel {
        channel::claim_response_channel(&self.service, &method.name, &[] as &[&str])
    }

    fn server_stream(&self) -> Channel {
        channel::stream_server_channel(&self.service, &CHAT.name, &[] as &[&str])
    }

    async fn call(
        &self,
        method: &MethodInfo,
        text: &str,
        options: RequestOptions,
    ) -> Result<psrpc::Reply<Note>, Error> {
        let note = Note { text: text.into() };
        self.client.request_single::<Note, Note>(method, (), &note, options).await
    }

    /// A normal call and a stream succeed, answered by the real server, and
    /// nothing in the process panicked.
    async fn still_works(&self) {
        let reply = self.call(&ECHO, "after", RequestOptions::default()).await.expect("a normal call afterwards");
        assert_eq!(reply.message.text, "real:after");
        assert_eq!(reply.server_id, self.server.id());
        let mut stream =
            self.client.open_stream::<Note, Note>(&CHAT, (), RequestOptions::default()).await.expect("a stream");
        stream.send(&Note { text: "s".into() }).await.expect("stream send");
        assert_eq!(stream.recv().await.expect("stream recv"), Some(Note { text: "real:s".into() }));
        stream.close(None).await.expect("close");
        assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
    }
}

// --- the hostile peer -----------------------------------------------------

/// A raw connection to the victim's bus, publishing frames made by hand.
struct Hostile {
    bus: SharedBus,
}

impl Hostile {
    async fn new(factory: &dyn BusFactory) -> Self {
        Hostile { bus: factory.connect().await }
    }

    fn local<'a>(&self, channel: &'a Channel) -> &'a str {
        if self.bus.frames_carry_local_channel() { &channel.local } else { "" }
    }

    async fn send<E: Envelope>(&self, channel: &Channel, message: &E) {
        let frame = frame::encode_envelope(message, self.local(channel));
        self.bus.publish(channel, frame).await.expect("publish");
    }

    /// Publishes raw bytes; a bus may refuse them (too large), which is fine.
    async fn raw(&self, channel: &Channel, frame: Vec<u8>) {
        let _ = self.bus.publish(channel, Bytes::from(frame)).await;
    }

    async fn listen(&self, channel: &Channel) -> psrpc::transport::bus::Subscription {
        self.bus.subscribe(channel, 64).await.expect("subscribe")
    }
}

async fn next<E: Envelope>(sub: &mut psrpc::transport::bus::Subscription) -> E {
    loop {
        let bytes = tokio::time::timeout(TIMEOUT, sub.recv()).await.expect("in time").expect("open").expect("frame");
        if let Ok(envelope) = frame::decode_envelope(bytes) {
            return envelope;
        }
    }
}

/// Waits until `sub` (a spy on the victim's own connection) saw `count`
/// responses carrying `payload`: the victim's subscription on the same
/// connection has received them too.
async fn seen(sub: &mut psrpc::transport::bus::Subscription, payload: &Bytes, count: usize) {
    let mut left = count;
    while left > 0 {
        let response: Response = next(sub).await;
        if response.raw_response == *payload {
            left -= 1;
        }
    }
}

fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

fn encoded(text: &str) -> Bytes {
    Bytes::from(prost::Message::encode_to_vec(&Note { text: text.into() }))
}

fn forged_response(request_id: &str, server_id: &str) -> Response {
    Response {
        request_id: request_id.into(),
        server_id: server_id.into(),
        sent_at: now_nanos(),
        raw_response: encoded("forged"),
        ..Default::default()
    }
}

// --- the attacks ----------------------------------------------------------

/// Claims for requests the hostile peer never saw, from a made-up server,
/// before and during a call: no route takes them; the real server answers.
async fn forged_claims_for_unknown_requests(factory: &dyn BusFactory) {
    let victim = victim(factory).await;
    let hostile = Hostile::new(factory).await;
    let flood = |n: usize| {
        (0..n).map(move |i| ClaimRequest {
            request_id: format!("REQ_guess{i:07}"),
            server_id: FORGED_SERVER.into(),
            affinity: 1000.0,
            handling: i % 2 == 0,
        })
    };
    for claim in flood(50) {
        hostile.send(&victim.claims(), &claim).await;
    }
    let flooding = async {
        for claim in flood(200) {
            hostile.send(&victim.claims(), &claim).await;
        }
    };
    let (reply, ()) = tokio::join!(victim.call(&ECHO, "during", RequestOptions::default()), flooding);
    let reply = reply.expect("answered by the real server");
    assert_eq!((reply.message.text.as_str(), reply.server_id.as_str()), ("real:during", victim.server.id()));
    victim.still_works().await;
}

/// A peer that reads the request channel learns the request id and can bid
/// for it. What the protocol allows, recorded: on an affinity method its
/// bid (affinity 1000) beats the real server's (0.5); the client grants the
/// made-up server, the real server drops the request, and the peer's
/// response, named after the server it made up, is the call's answer.
/// `SelectionOptions::only_servers` keeps the forged bid from qualifying.
async fn a_sniffed_request_can_be_claimed_by_a_forged_server(factory: &dyn BusFactory) {
    let victim = victim(factory).await;
    let hostile = Hostile::new(factory).await;
    let mut requests = hostile.listen(&victim.requests(&PICK)).await;
    let mut decisions = hostile.listen(&victim.claim_responses(&PICK)).await;
    // No short circuit: every bid of the 2 s selection counts.
    let selection = SelectionOptions::default().affinity_timeout(Duration::from_secs(2));
    let impersonate = async {
        let request: Request = next(&mut requests).await;
        let bid = ClaimRequest {
            request_id: request.request_id.clone(),
            server_id: FORGED_SERVER.into(),
            affinity: 1000.0,
            handling: false,
        };
        hostile.send(&victim.claims(), &bid).await;
        let decision: ClaimResponse = next(&mut decisions).await;
        assert_eq!((decision.request_id.as_str(), decision.server_id.as_str()), (&*request.request_id, FORGED_SERVER));
        hostile.send(&victim.responses(), &forged_response(&request.request_id, FORGED_SERVER)).await;
    };
    let options = RequestOptions::default().selection(selection.clone());
    let (reply, ()) = tokio::join!(victim.call(&PICK, "x", options), impersonate);
    let reply = reply.expect("the forged server's answer");
    assert_eq!(
        (reply.message.text.as_str(), reply.server_id.as_str()),
        ("forged", FORGED_SERVER),
        "recorded: a peer that reads the request channel can impersonate a server"
    );

    // The defence within the protocol: only the servers the caller knows.
    victim.gate.add_permits(1);
    let bid_anyway = async {
        let request: Request = next(&mut requests).await;
        let bid = ClaimRequest {
            request_id: request.request_id.clone(),
            server_id: FORGED_SERVER.into(),
            affinity: 1000.0,
            handling: true,
        };
        hostile.send(&victim.claims(), &bid).await;
    };
    let options = RequestOptions::default().selection(selection.only_servers([victim.server.id()]));
    let (reply, ()) = tokio::join!(victim.call(&PICK, "y", options), bid_anyway);
    let reply = reply.expect("the real server's answer");
    assert_eq!((reply.message.text.as_str(), reply.server_id.as_str()), ("real:y", victim.server.id()));
    victim.still_works().await;
}

/// Claim decisions (`ClaimResponse`) on a method's claim-response channel,
/// which every server of the method reads: for unknown request ids they
/// are ignored. For a sniffed request id — recorded — the first decision a
/// server sees is the one it follows: a forged decision naming another
/// server, sent while the client still collects bids, makes the real
/// server drop the request, and the call (granted to that server later)
/// ends `deadline_exceeded`.
async fn forged_decisions(factory: &dyn BusFactory) {
    let victim = victim(factory).await;
    let hostile = Hostile::new(factory).await;
    for method in [&ECHO, &PICK] {
        for i in 0..50 {
            let decision = ClaimResponse {
                request_id: format!("REQ_guess{i:07}"),
                server_id: if i % 2 == 0 { victim.server.id().to_owned() } else { FORGED_SERVER.to_owned() },
            };
            hostile.send(&victim.claim_responses(method), &decision).await;
        }
    }
    victim.still_works().await;

    let mut requests = hostile.listen(&victim.requests(&PICK)).await;
    let mut claims = hostile.listen(&victim.claims()).await;
    let overrule = async {
        let request: Request = next(&mut requests).await;
        // The real server claimed: it now waits for a decision.
        let claim: ClaimRequest = next(&mut claims).await;
        assert_eq!((&*claim.request_id, &*claim.server_id), (&*request.request_id, victim.server.id()));
        let decision = ClaimResponse { request_id: request.request_id, server_id: FORGED_SERVER.into() };
        hostile.send(&victim.claim_responses(&PICK), &decision).await;
    };
    // The client decides after 1 s (no short circuit), long after the forged decision.
    let selection = SelectionOptions::default().affinity_timeout(Duration::from_secs(1));
    let options = RequestOptions::default().selection(selection).timeout(Duration::from_secs(3));
    victim.gate.add_permits(1);
    let (outcome, ()) = tokio::join!(victim.call(&PICK, "x", options), overrule);
    let err = outcome.expect_err("recorded: the real server followed the forged decision");
    assert_eq!(err, Error::request_timed_out());
    victim.still_works().await;
}

/// Responses to a call that is waiting for its server: with guessed or wrong
/// request ids (also naming the real server), and with the right request id
/// but from a server the client did not choose, sent after the choice. The
/// client ignores all of them and takes the real server's response.
async fn forged_responses_are_ignored(factory: &dyn BusFactory, method: &'static MethodInfo) {
    let victim = victim(factory).await;
    let hostile = Hostile::new(factory).await;
    let mut requests = hostile.listen(&victim.requests(method)).await;
    let mut decisions = hostile.listen(&victim.claim_responses(method)).await;
    // On the client's own connection: what it sees, the client has received.
    let mut spy = victim.client_bus.subscribe(&victim.responses(), 64).await.expect("spy");
    let forge = async {
        let request: Request = next(&mut requests).await;
        let id = request.request_id;
        let decision: ClaimResponse = next(&mut decisions).await;
        assert_eq!(decision.server_id, victim.server.id());
        let wrong_ids = [format!("{id}x"), "REQ_guessed00000".to_owned(), String::new(), id[..id.len() - 1].to_owned()];
        for wrong in &wrong_ids {
            hostile.send(&victim.responses(), &forged_response(wrong, victim.server.id())).await;
        }
        hostile.send(&victim.responses(), &forged_response(&id, FORGED_SERVER)).await;
        hostile.send(&victim.responses(), &forged_response(&id, "")).await;
        seen(&mut spy, &encoded("forged"), wrong_ids.len() + 2).await;
        // Only now may the real server answer.
        victim.gate.add_permits(1);
    };
    let options = match method.kind {
        MethodKind::Unary(Selection::Affinity { .. }) => {
            RequestOptions::default().selection(SelectionOptions::best_affinity(Duration::from_secs(2)))
        }
        _ => RequestOptions::default(),
    };
    let (reply, ()) = tokio::join!(victim.call(method, "x", options), forge);
    let reply = reply.expect("the real answer");
    assert_eq!((reply.message.text.as_str(), reply.server_id.as_str()), ("real:x", victim.server.id()));
    victim.still_works().await;
}

async fn forged_responses_to_a_queue_call_are_ignored(factory: &dyn BusFactory) {
    forged_responses_are_ignored(factory, &GATED).await;
}

async fn forged_responses_to_an_affinity_call_are_ignored(factory: &dyn BusFactory) {
    forged_responses_are_ignored(factory, &PICK).await;
}

fn stream_frame(stream_id: &str, request_id: &str, body: Body) -> Stream {
    let now = now_nanos();
    Stream {
        stream_id: stream_id.into(),
        request_id: request_id.into(),
        sent_at: now,
        expiry: now + 5_000_000_000,
        body: Some(body),
    }
}

/// Stream frames for a stream the peer does not own: with a wrong stream id
/// (to both ends) they are dropped. With the right one — stream frames name
/// no sender, so a peer that learnt the id (it travels in the open) is
/// indistinguishable from the other end — recorded: a forged message is
/// delivered and a forged close ends the stream with the close's error.
async fn forged_stream_frames(factory: &dyn BusFactory) {
    let victim = victim(factory).await;
    let hostile = Hostile::new(factory).await;
    let mut stream = victim.client.open_stream::<Note, Note>(&CHAT, (), RequestOptions::default()).await.expect("open");
    let mut spy = victim.client_bus.subscribe(&victim.client_stream(), 64).await.expect("spy");
    let forged = || Body::Message(StreamMessage { message: None, raw_message: encoded("forged") });
    let close = || Body::Close(StreamClose { error: "forged close".into(), code: "permission_denied".into() });
    for target in [victim.client_stream(), victim.server_stream()] {
        for wrong in ["STR_guessed00000", "", &stream.stream_id()[..stream.stream_id().len() - 1]] {
            hostile.send(&target, &stream_frame(wrong, "REQ_forged000001", forged())).await;
            hostile.send(&target, &stream_frame(wrong, "REQ_forged000002", Body::Ack(StreamAck {}))).await;
            hostile.send(&target, &stream_frame(wrong, "REQ_forged000003", close())).await;
        }
    }
    // The client's connection has received the nine frames sent to its side.
    for _ in 0..9 {
        let _: Stream = next(&mut spy).await;
    }
    stream.send(&Note { text: "one".into() }).await.expect("send");
    assert_eq!(stream.recv().await.expect("recv"), Some(Note { text: "real:one".into() }), "no forged message");

    let id = stream.stream_id().to_owned();
    hostile.send(&victim.client_stream(), &stream_frame(&id, "REQ_forged000004", forged())).await;
    assert_eq!(
        stream.recv().await.expect("recv"),
        Some(Note { text: "forged".into() }),
        "recorded: a peer that knows the stream id can send on it"
    );
    hostile.send(&victim.client_stream(), &stream_frame(&id, "REQ_forged000005", close())).await;
    let err = stream.recv().await.expect_err("closed by the forged close");
    assert_eq!(
        (err.code(), err.message()),
        (ErrorCode::PermissionDenied, "forged close"),
        "recorded: a peer that knows the stream id can close it"
    );
    victim.still_works().await;
}

/// Malformed and oversized frames on every channel of the victim: skipped.
async fn malformed_and_oversized_frames(factory: &dyn BusFactory) {
    let victim = victim(factory).await;
    let hostile = Hostile::new(factory).await;
    let targets = [
        // NATS allows no plain subscription beside the server's queue one on
        // its connection: the hostile peer's own connection watches this one.
        (victim.requests(&ECHO), &hostile.bus),
        (victim.requests(&PICK), &victim.server_bus),
        (victim.claim_responses(&ECHO), &victim.server_bus),
        (victim.claim_responses(&PICK), &victim.server_bus),
        (victim.server_stream(), &victim.server_bus),
        (victim.responses(), &victim.client_bus),
        (victim.claims(), &victim.client_bus),
        (victim.client_stream(), &victim.client_bus),
    ];
    let request = |client_id: &str, payload: &[u8]| {
        let valid = handmade::request("REQ_hostile00001", client_id, false, payload);
        handmade::frame("type.googleapis.com/internal.Request", &valid, "")
    };
    // The largest frame the bus carries, up to 4 MiB.
    let big = victim.client_bus.max_frame_size().min(4 << 20);
    for (target, victims_connection) in &targets {
        let local = hostile.local(target).to_owned();
        let mut frames: Vec<Vec<u8>> = handmade::garbage(40);
        let valid = request("CLI_hostile00001", b"\x0a\x02hi");
        frames.extend([1, 2, valid.len() / 2, valid.len() - 1].map(|n| valid[..n].to_vec()));
        // Wrong type URLs: unknown, and an envelope other than the channel's.
        frames.push(handmade::frame("type.googleapis.com/evil.Thing", &valid, &local));
        let response = handmade::frame("type.googleapis.com/internal.Response", b"\x0a\x01x", &local);
        frames.push(response);
        frames.push(handmade::frame("type.googleapis.com/internal.ClaimRequest", b"\x0a\x01x\x1d", &local));
        frames.push(handmade::frame("", b"", &local));
        // Huge declared lengths: of the frame's value, and of a field inside a Request.
        let mut huge = Vec::new();
        handmade::bytes(1, b"type.googleapis.com/internal.Request", &mut huge);
        handmade::varint(2 << 3 | 2, &mut huge);
        handmade::varint(1 << 62, &mut huge);
        huge.extend_from_slice(b"abc");
        frames.push(huge);
        let mut inner = Vec::new();
        handmade::bytes(1, b"REQ_hostile00002", &mut inner);
        handmade::varint(8 << 3 | 2, &mut inner);
        handmade::varint(u64::MAX, &mut inner);
        frames.push(handmade::frame("type.googleapis.com/internal.Request", &inner, &local));
        frames.push(vec![0xff; 11]);
        // Requests from odd clients: an id that is no channel name, an empty one.
        frames.push(request("a.b *>|\u{0}", b"\x0a\x02hi"));
        frames.push(request("", b"not a Note \xff\xff\xff"));
        frames.push(request(&"C".repeat(64 << 10), b"\x0a\x02hi"));
        // Oversized: a frame as large as the bus carries, and one beyond.
        frames.push(request("CLI_hostile00001", &vec![0x0a; big.saturating_sub(200)]));
        frames.push(vec![0x0a; big.saturating_add(1).min(8 << 20)]);
        // A compressed frame claiming a codec nobody knows.
        let mut compressed = handmade::frame("type.googleapis.com/internal.Request", b"\x01\x02\x03", &local);
        handmade::uint(4, 99, &mut compressed);
        frames.push(compressed);

        let mut spy = victims_connection.subscribe(target, 256).await.expect("spy");
        for frame in frames {
            hostile.raw(target, frame).await;
        }
        // A last frame the spy recognises: the victim's connection has
        // received everything before it.
        // (A well-formed frame with the channel's Local name: NATS routes
        // frames within a process by it.)
        let end = handmade::frame("type.googleapis.com/hostile.EndOfAttack", b"", &local);
        hostile.raw(target, end.clone()).await;
        loop {
            let bytes =
                tokio::time::timeout(TIMEOUT, spy.recv()).await.expect("in time").expect("open").expect("frame");
            if bytes[..] == end[..] {
                break;
            }
        }
        victim.still_works().await;
    }
}

macro_rules! on_every_bus {
    ($($attack:ident),* $(,)?) => {
        mod local_bus {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $attack() {
                    let bus: psrpc::SharedBus = std::sync::Arc::new(psrpc::local::LocalBus::new());
                    super::$attack(&psrpc_test_support::SameBus(bus)).await;
                }
            )*
        }
        mod nats {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $attack() {
                    let Some(server) = psrpc_test_support::nats::server() else { return };
                    super::$attack(&psrpc_test_support::factory::BrokerBus(server.url().to_owned())).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $attack() {
                    let Some(server) = psrpc_test_support::redis::server() else { return };
                    super::$attack(&psrpc_test_support::factory::BrokerBus(server.url().to_owned())).await;
                }
            )*
        }
    };
}

on_every_bus!(
    forged_claims_for_unknown_requests,
    a_sniffed_request_can_be_claimed_by_a_forged_server,
    forged_responses_to_a_queue_call_are_ignored,
    forged_responses_to_an_affinity_call_are_ignored,
    forged_decisions,
    forged_stream_frames,
    malformed_and_oversized_frames,
);
