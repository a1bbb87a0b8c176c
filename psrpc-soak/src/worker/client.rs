//! A client worker: one loop per call kind, calling without rest (a short
//! pause between calls), and a receiver per subscription. Every call is
//! timed with the monotonic clock and reported with its outcome and how far
//! past its deadline it ended; every acknowledged stream message and every
//! received subscription message is reported by id.

use std::time::Duration;

use futures_util::future::join_all;
use psrpc::{ClientOptions, Error, ErrorCode, RequestOptions, TypedSubscription};
use tokio::time::Instant;

use super::CALL_TIMEOUT;
use crate::events::{CallKind, Emitter, Event, SubKind};
use crate::service::{PINNED_TOPIC, Published, Request, SHARED_TOPIC, SoakClient, SoakWorkClient, StreamMessage};

/// How many messages each stream exchange sends (each echoed).
const STREAM_MESSAGES: u32 = 5;

/// What a client worker is told on its command line.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ClientArgs {
    /// The bus URL and this worker's id.
    #[command(flatten)]
    pub(crate) worker: super::WorkerArgs,
    /// How many servers run (a multi call waits for this many answers).
    #[arg(long)]
    pub(crate) servers: usize,
    /// The pause between two calls of one loop, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub(crate) pace_ms: u64,
}

/// Runs a client worker until its standard input closes or `SIGTERM`.
pub(crate) async fn run(args: ClientArgs) -> anyhow::Result<()> {
    let events = Emitter::start();
    super::memory::answer_requests(events.clone())?;
    let (client, work) = super::retry(|| async {
        let bus = super::connect(&args.worker.bus).await?;
        let options = ClientOptions::default().timeout(CALL_TIMEOUT).stream_keepalive(super::keepalive());
        anyhow::Ok((SoakClient::new(bus.clone(), options.clone()).await?, SoakWorkClient::new(bus, options).await?))
    })
    .await;
    let subscriber = Subscriber { soak: client.clone(), work };
    let subscriptions = join_all(SubKind::ALL.map(|kind| subscribe(&subscriber, kind, &events))).await;
    let receivers: Vec<_> = SubKind::ALL
        .into_iter()
        .zip(subscriptions)
        .map(|(kind, subscription)| tokio::spawn(receive(subscriber.clone(), kind, subscription, events.clone())))
        .collect();
    events.emit(Event::Ready);
    let loops: Vec<_> = CallKind::ALL
        .iter()
        .map(|&kind| tokio::spawn(call_loop(client.clone(), kind, args.clone(), events.clone())))
        .collect();
    tokio::select! {
        () = super::orphaned() => {}
        signal = super::terminated() => signal?,
    }
    loops.iter().chain(&receivers).for_each(tokio::task::JoinHandle::abort);
    events.flush();
    Ok(())
}

/// The clients of both services that carry subscriptions.
#[derive(Debug, Clone)]
struct Subscriber {
    soak: SoakClient,
    work: SoakWorkClient,
}

/// Subscribes to `kind` (retrying) and reports it.
async fn subscribe(client: &Subscriber, kind: SubKind, events: &Emitter) -> TypedSubscription<Published> {
    let subscription = super::retry(|| async {
        match kind {
            SubKind::Queue => client.work.subscribe_work().await,
            SubKind::Broadcast => client.soak.subscribe_news().await,
        }
    })
    .await;
    events.emit(Event::Subscribed { kind });
    subscription
}

/// Reports every message of `subscription`; subscribes again if it ends.
async fn receive(client: Subscriber, kind: SubKind, mut subscription: TypedSubscription<Published>, events: Emitter) {
    loop {
        match subscription.recv().await {
            Some(message) => events.emit(Event::Received { kind, id: message.id }),
            None => subscription = subscribe(&client, kind, &events).await,
        }
    }
}

/// Calls `kind` again and again, reporting each call.
async fn call_loop(client: SoakClient, kind: CallKind, args: ClientArgs, events: Emitter) {
    for n in 0u64.. {
        let id = format!("{}-{kind:?}-{n}", args.worker.id);
        let started = Instant::now();
        let mut timing = Timing::default();
        let outcome = call(&client, kind, &id, args.servers, &mut timing, &events).await;
        if kind != CallKind::Stream {
            timing.ended(started, CALL_TIMEOUT);
        }
        events.emit(Event::Call {
            kind,
            id,
            elapsed_ms: millis(started.elapsed()),
            over_ms: millis(timing.over),
            code: outcome.as_ref().err().map(|e| e.code().as_str().to_owned()),
            message: outcome.err().map(|e| e.message().to_owned()),
        });
        tokio::time::sleep(Duration::from_millis(args.pace_ms)).await;
    }
}

/// How far past its deadline the latest operation of a call ended.
#[derive(Debug, Default)]
struct Timing {
    over: Duration,
}

impl Timing {
    /// An operation that started at `started` with `deadline` ended now.
    fn ended(&mut self, started: Instant, deadline: Duration) {
        self.over = self.over.max(started.elapsed().saturating_sub(deadline));
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One call of `kind` with request id `id`; a reply for another request
/// is an `internal` error.
async fn call(
    client: &SoakClient,
    kind: CallKind,
    id: &str,
    servers: usize,
    timing: &mut Timing,
    events: &Emitter,
) -> Result<(), Error> {
    let request = Request { id: id.to_owned() };
    let options = RequestOptions::default();
    let reply = match kind {
        CallKind::Single => client.single(&request, options).await?,
        CallKind::Affinity => client.affine(&request, options).await?,
        CallKind::Topic => client.topical(SHARED_TOPIC, &request, options).await?,
        CallKind::SingleServer => client.pinned(PINNED_TOPIC, &request, options).await?,
        CallKind::Multi => {
            let responses = client.everyone(&request, options.expected_responses(servers)).await?;
            let mut first_error = None;
            let mut answered = None;
            for response in responses.collect_all().await {
                match response.result {
                    Ok(reply) => answered = Some(reply),
                    Err(e) => first_error = first_error.or(Some(e)),
                }
            }
            match (answered, first_error) {
                (Some(reply), _) => reply,
                (None, Some(e)) => return Err(e),
                (None, None) => return Err(Error::new(ErrorCode::Unavailable, "no server answered")),
            }
        }
        CallKind::Stream => return exchange(client, id, timing, events).await,
    };
    if reply.id != id {
        return Err(Error::new(ErrorCode::Internal, format!("reply to {} for request {id}", reply.id)));
    }
    Ok(())
}

/// A stream exchange: open, [`STREAM_MESSAGES`] messages each echoed, close;
/// each operation has the call timeout as its deadline.
async fn exchange(client: &SoakClient, id: &str, timing: &mut Timing, events: &Emitter) -> Result<(), Error> {
    let started = Instant::now();
    let opened = client.exchange(RequestOptions::default()).await;
    timing.ended(started, CALL_TIMEOUT);
    let mut stream = opened?;
    let stream_id = stream.stream_id().to_owned();
    events.emit(Event::StreamOpened { stream: stream_id.clone() });
    for seq in 0..STREAM_MESSAGES {
        let message = StreamMessage { id: id.to_owned(), seq };
        let started = Instant::now();
        let sent = stream.send(&message).await;
        timing.ended(started, CALL_TIMEOUT);
        sent?;
        events.emit(Event::StreamSent { stream: stream_id.clone(), seq });
        let started = Instant::now();
        let echo = tokio::time::timeout(CALL_TIMEOUT, stream.recv()).await;
        timing.ended(started, CALL_TIMEOUT);
        match echo {
            Ok(Ok(Some(echo))) if echo == message => {}
            Ok(Ok(Some(other))) => {
                return Err(Error::new(ErrorCode::Internal, format!("echo {other:?} for {message:?}")));
            }
            Ok(Ok(None)) => return Err(Error::new(ErrorCode::Unavailable, "the stream ended before its echo")),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(Error::new(ErrorCode::DeadlineExceeded, "no echo within the call timeout")),
        }
    }
    let started = Instant::now();
    let closed = stream.close(None).await;
    timing.ended(started, CALL_TIMEOUT);
    closed
}
