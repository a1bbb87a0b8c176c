//! The soak's service: one method of every RPC kind, defined with
//! `#[psrpc::service]`, and the messages they carry. Every request and
//! message carries an id, so the orchestrator can follow each one from the
//! client that sent it to the server that handled it (and back).

/// A request: its id is the calling client's worker id and a sequence
/// number (`c1.2-42`), unique over the whole run.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Request {
    /// The request's id.
    #[prost(string, tag = "1")]
    pub(crate) id: String,
}

impl prost::Name for Request {
    const NAME: &'static str = "Request";
    const PACKAGE: &'static str = "psrpc.soak";
}

/// A reply: the request's id and the server that answered.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Reply {
    /// The id of the request answered.
    #[prost(string, tag = "1")]
    pub(crate) id: String,
    /// The answering server's worker id.
    #[prost(string, tag = "2")]
    pub(crate) server: String,
}

impl prost::Name for Reply {
    const NAME: &'static str = "Reply";
    const PACKAGE: &'static str = "psrpc.soak";
}

/// One message of a stream, either way: the exchange's id and the
/// message's sequence number within the stream.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StreamMessage {
    /// The exchange's id (like a request id).
    #[prost(string, tag = "1")]
    pub(crate) id: String,
    /// The message's place in the stream, from 0.
    #[prost(uint32, tag = "2")]
    pub(crate) seq: u32,
}

impl prost::Name for StreamMessage {
    const NAME: &'static str = "StreamMessage";
    const PACKAGE: &'static str = "psrpc.soak";
}

/// A message servers publish to a subscription: its id (the publishing
/// server's worker id and a sequence number) and when it was published
/// (milliseconds since the Unix epoch).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Published {
    /// The message's id.
    #[prost(string, tag = "1")]
    pub(crate) id: String,
    /// When the publish started, in milliseconds since the Unix epoch.
    #[prost(uint64, tag = "2")]
    pub(crate) published_ms: u64,
}

impl prost::Name for Published {
    const NAME: &'static str = "Published";
    const PACKAGE: &'static str = "psrpc.soak";
}

/// The topic every server serves [`SoakClient::topical`] on.
pub(crate) const SHARED_TOPIC: &str = "shared";

/// The topic the long-lived server alone serves [`SoakClient::pinned`] on.
pub(crate) const PINNED_TOPIC: &str = "pinned";

/// Every RPC kind once.
#[psrpc::service(name = "Soak")]
pub(crate) trait Soak {
    /// A queue method: one server claims and answers each request.
    fn single(&self, req: Request) -> Reply;
    /// An affinity method: the server with the best affinity answers.
    #[psrpc(affinity)]
    fn affine(&self, req: Request) -> Reply;
    /// A multi method: every server answers.
    #[psrpc(multi)]
    fn everyone(&self, req: Request) -> Reply;
    /// A topic method: a queue method served on a topic every server registers.
    #[psrpc(topics(shard))]
    fn topical(&self, req: Request) -> Reply;
    /// A single-server topic method: one server owns the topic, no claim.
    #[psrpc(topics(owner), single_server)]
    fn pinned(&self, req: Request) -> Reply;
    /// A bidirectional stream: the server echoes every message.
    #[psrpc(stream)]
    fn exchange(&self, msg: StreamMessage) -> StreamMessage;
    /// A broadcast subscription: each message reaches every subscriber.
    #[psrpc(subscription, multi)]
    fn news(&self, msg: Published);
}

/// The queue subscription, in a service of its own: in the Go-compatible
/// wire mode every queue method and queue subscription of one service share
/// one NATS subject and queue group (`docs/WIRE.md`, section 5), so a queue
/// subscription beside [`SoakClient`]'s queue methods would take their requests
/// (and they its messages).
#[psrpc::service(name = "SoakWork")]
pub(crate) trait SoakWork {
    /// A queue subscription: each message reaches one subscriber.
    #[psrpc(subscription)]
    fn work(&self, msg: Published);
}
