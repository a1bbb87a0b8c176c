//! A server worker: serves every method of the soak's service, reports each
//! request it handles and each stream message it receives, publishes to
//! both subscriptions, and reports its in-flight handler count every
//! 500 ms. On `SIGTERM` it drains (`shutdown`), reports `drained` and exits.

use std::sync::Arc;
use std::time::Duration;

use psrpc::{Error, RequestContext, ServerOptions, ServerStream};

use crate::events::{CallKind, Emitter, Event, SubKind, now_ms};
use crate::service::{
    PINNED_TOPIC, Published, Reply, Request, SHARED_TOPIC, SoakServer, SoakServerImpl, SoakWorkServer,
    SoakWorkServerImpl, StreamMessage,
};

/// What a server worker is told on its command line.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServerArgs {
    /// The bus URL and this worker's id.
    #[command(flatten)]
    pub(crate) worker: super::WorkerArgs,
    /// Also serve the single-server topic (one server of a run does).
    #[arg(long)]
    pub(crate) pinned: bool,
    /// How often to publish to each subscription, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub(crate) publish_every_ms: u64,
}

/// The handlers: each reports what it handled.
#[derive(Debug)]
struct Handlers {
    id: String,
    events: Emitter,
}

impl Handlers {
    fn handled(&self, kind: CallKind, req: Request) -> Result<Reply, Error> {
        self.events.emit(Event::Handled { kind, id: req.id.clone() });
        Ok(Reply { id: req.id, server: self.id.clone() })
    }
}

impl SoakServerImpl for Handlers {
    async fn single(&self, _ctx: RequestContext, req: Request) -> Result<Reply, Error> {
        self.handled(CallKind::Single, req)
    }

    async fn affine(&self, _ctx: RequestContext, req: Request) -> Result<Reply, Error> {
        self.handled(CallKind::Affinity, req)
    }

    fn affine_affinity(&self, _ctx: &RequestContext, _req: &Request) -> f32 {
        1.0
    }

    async fn everyone(&self, _ctx: RequestContext, req: Request) -> Result<Reply, Error> {
        Ok(Reply { id: req.id, server: self.id.clone() })
    }

    async fn topical(&self, _ctx: RequestContext, req: Request) -> Result<Reply, Error> {
        self.handled(CallKind::Topic, req)
    }

    async fn pinned(&self, _ctx: RequestContext, req: Request) -> Result<Reply, Error> {
        self.handled(CallKind::SingleServer, req)
    }

    /// Echoes every message. Once an echo failed (its ack did not come:
    /// the client may have it or not) the handler echoes no more but goes on
    /// receiving until the stream ends, and then fails: every message psrpc
    /// acknowledged is handed to the handler and reported, so a message
    /// counts as lost only if psrpc lost it, not because the handler left
    /// early.
    async fn exchange(&self, mut stream: ServerStream<StreamMessage, StreamMessage>) -> Result<(), Error> {
        let id = stream.stream_id().to_owned();
        self.events.emit(Event::StreamAccepted { stream: id.clone() });
        let mut failed = None;
        while let Some(message) = stream.recv().await? {
            self.events.emit(Event::StreamReceived { stream: id.clone(), seq: message.seq });
            if failed.is_none() {
                failed = stream.send(&message).await.err();
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

/// The queue subscription's service has no method to handle.
#[derive(Debug)]
struct Publisher;

impl SoakWorkServerImpl for Publisher {}

/// The worker's servers: the soak's service and the queue subscription's.
#[derive(Debug)]
struct Servers {
    soak: SoakServer<Handlers>,
    work: SoakWorkServer<Publisher>,
}

/// Runs a server worker until `SIGTERM` (drain, then exit) or until its
/// standard input closes (exit at once).
pub(crate) async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let events = Emitter::start();
    super::memory::answer_requests(events.clone())?;
    let server = Arc::new(super::retry(|| start(&args, &events)).await);
    events.emit(Event::Ready);
    let publishing =
        tokio::spawn(publish(Arc::clone(&server), args.worker.id.clone(), args.publish_every_ms, events.clone()));
    let reporting = tokio::spawn(report_in_flight(Arc::clone(&server), events.clone()));
    tokio::select! {
        () = super::orphaned() => return Ok(()),
        signal = super::terminated() => signal?,
    }
    publishing.abort();
    server.soak.shutdown().await;
    server.work.shutdown().await;
    reporting.abort();
    events.emit(Event::Drained);
    events.flush();
    Ok(())
}

/// Connects and starts serving: every method, the shared topic, and the
/// pinned topic if asked.
async fn start(args: &ServerArgs, events: &Emitter) -> anyhow::Result<Servers> {
    let bus = super::connect(&args.worker.bus).await?;
    let options = ServerOptions::default().stream_keepalive(super::keepalive());
    let handlers = Handlers { id: args.worker.id.clone(), events: events.clone() };
    let soak = SoakServer::new(handlers, bus.clone(), options.clone()).await?;
    let registered = async {
        soak.register_topical_topic(SHARED_TOPIC).await?;
        if args.pinned {
            soak.register_pinned_topic(PINNED_TOPIC).await?;
        }
        SoakWorkServer::new(Publisher, bus, options).await
    };
    match registered.await {
        Ok(work) => Ok(Servers { soak, work }),
        Err(e) => {
            soak.kill().await;
            Err(e.into())
        }
    }
}

/// Publishes a message to each subscription every `every_ms`, reporting
/// each publish that returned `Ok`.
async fn publish(server: Arc<Servers>, id: String, every_ms: u64, events: Emitter) {
    let mut tick = tokio::time::interval(Duration::from_millis(every_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0u64.. {
        tick.tick().await;
        for kind in SubKind::ALL {
            let message = Published { id: format!("{id}-{kind:?}-{n}"), published_ms: now_ms() };
            let sent = match kind {
                SubKind::Queue => server.work.publish_work(&message).await,
                SubKind::Broadcast => server.soak.publish_news(&message).await,
            };
            if sent.is_ok() {
                events.emit(Event::Published { kind, id: message.id, published_ms: message.published_ms });
            }
        }
    }
}

/// Reports the in-flight handler count every 500 ms.
async fn report_in_flight(server: Arc<Servers>, events: Emitter) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        events.emit(Event::InFlight { n: server.soak.engine().in_flight() + server.work.engine().in_flight() });
    }
}
