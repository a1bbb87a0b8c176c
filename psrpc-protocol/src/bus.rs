//! The `MessageBus` trait: frames published on channels, delivered to
//! subscribers through bounded per-subscriber buffers.
//!
//! Every bus (in-process, NATS, Redis) implements [`MessageBus`]; the client
//! and server engines use nothing else. A bus is shared as
//! `Arc<dyn MessageBus>` ([`SharedBus`]).
//!
//! # Delivery contract
//! - `publish` resolves once the frame is handed to the transport (for the
//!   in-process bus: delivered to every subscriber buffer). It fails with a
//!   [`BusError`]; it never panics on any input.
//! - `subscribe` resolves once the subscription is active: a frame published
//!   after it returns, from any connection, is delivered.
//! - `subscribe_queue` joins the queue group of the channel: each frame is
//!   delivered to exactly one member of the group (across processes on the
//!   broker buses).
//! - `subscribe_queue_claimed` joins a queue group whose frames are requests
//!   settled by the claim exchange, and `publish_claim` publishes the claim
//!   for such a frame only if no other process claimed it first. A bus whose
//!   cross-process queue costs a broker round trip per frame (Redis) moves
//!   that check from delivery into the claim publish, so it costs no extra
//!   round trip; every other bus delivers as `subscribe_queue` does and
//!   publishes claims as they are.
//! - Each subscription has its own bounded buffer (`capacity` frames). A
//!   subscriber that does not keep up loses frames, never other subscribers'
//!   frames: the loss is reported in order on its stream as
//!   a [`BusError`] of kind [`BusErrorKind::SlowConsumer`] before the next
//!   delivered frame.
//! - Dropping a [`Subscription`] unsubscribes. [`MessageBus::close`] ends every
//!   subscription (their streams return `None`) and makes later calls fail
//!   with [`BusErrorKind::Closed`].

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use crate::channel::Channel;
use crate::error::code::ErrorCode;
use crate::frame_limit::FrameLimit;
use crate::tap::TapSubscription;

/// A bus shared by clients and servers.
///
/// ```
/// use std::sync::Arc;
/// let bus: psrpc::SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let server = psrpc::RpcServer::new("Greeter", bus.clone(), psrpc::ServerOptions::default());
/// # let _ = server;
/// ```
pub type SharedBus = Arc<dyn MessageBus>;

/// Default per-subscription buffer, in frames (Go psrpc's default).
///
/// ```
/// use psrpc_protocol::bus::DEFAULT_CHANNEL_CAPACITY;
/// let client = format!("{:?}", psrpc::ClientOptions::default());
/// assert!(client.contains(&format!("channel_capacity: {DEFAULT_CHANNEL_CAPACITY},")));
/// ```
pub const DEFAULT_CHANNEL_CAPACITY: usize = 100;

/// A transport that carries frames on channels. See the [module docs](self).
///
/// A bus in a few lines: subscribers kept per channel in
/// [`ChannelMembers`](crate::members::ChannelMembers), frames
/// delivered on the publishing task. (A real bus also refuses calls after
/// [`close`](MessageBus::close) and checks channel names.)
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use bytes::Bytes;
/// use futures_util::future::BoxFuture;
/// use psrpc_protocol::bus::{BusError, MessageBus, Subscription};
/// use psrpc_protocol::channel::Channel;
/// use psrpc_protocol::members::ChannelMembers;
/// # use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Msg { #[prost(string, tag = "1")] text: String }
/// # static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
///
/// type Members = Mutex<HashMap<Arc<str>, Arc<ChannelMembers>>>;
///
/// /// Plain and queue subscribers by channel name.
/// #[derive(Debug, Default)]
/// struct TinyBus {
///     plain: Members,
///     queue: Members,
/// }
///
/// fn of(members: &Members, channel: &Channel) -> Arc<ChannelMembers> {
///     members.lock().unwrap().entry(channel.legacy.clone()).or_default().clone()
/// }
///
/// fn join(members: &Members, channel: &Channel, capacity: usize) -> Subscription {
///     let (sender, subscription) = Subscription::new(capacity, || {});
///     of(members, channel).join(sender);
///     subscription
/// }
///
/// impl MessageBus for TinyBus {
///     fn publish<'a>(&'a self, channel: &'a Channel, frame: Bytes) -> BoxFuture<'a, Result<(), BusError>> {
///         of(&self.plain, channel).deliver_to_all(&frame);
///         of(&self.queue, channel).deliver_to_one(&frame);
///         Box::pin(async { Ok(()) })
///     }
///     fn subscribe<'a>(&'a self, channel: &'a Channel, capacity: usize) -> BoxFuture<'a, Result<Subscription, BusError>> {
///         let subscription = join(&self.plain, channel, capacity);
///         Box::pin(async { Ok(subscription) })
///     }
///     fn subscribe_queue<'a>(&'a self, channel: &'a Channel, capacity: usize) -> BoxFuture<'a, Result<Subscription, BusError>> {
///         let subscription = join(&self.queue, channel, capacity);
///         Box::pin(async { Ok(subscription) })
///     }
///     fn close(&self) -> BoxFuture<'_, ()> {
///         self.plain.lock().unwrap().clear(); // dropping the senders ends the subscriptions
///         self.queue.lock().unwrap().clear();
///         Box::pin(async {})
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// let bus: SharedBus = Arc::new(TinyBus::default());
/// let server = RpcServer::new("Echo", bus.clone(), ServerOptions::default());
/// server.register_unary(&ECHO, vec![], |_: RequestContext, m: Msg| async move { Ok(m) }, None).await?;
/// let client = RpcClient::new("Echo", bus, ClientOptions::default()).await?;
/// let reply = client.request_single::<Msg, Msg>(&ECHO, vec![], &Msg { text: "hi".into() }, RequestOptions::default()).await?;
/// assert_eq!(reply.message.text, "hi");
/// # Ok(()) }
/// ```
pub trait MessageBus: Send + Sync + fmt::Debug + 'static {
    /// Publishes one encoded frame on `channel`.
    fn publish<'a>(&'a self, channel: &'a Channel, frame: Bytes) -> BoxFuture<'a, Result<(), BusError>>;

    /// Subscribes to every frame published on `channel`.
    ///
    /// Every frame published after this returned is delivered; one
    /// published before may be too, if it was still on its way (a Redis
    /// Cluster forwards classic frames between nodes).
    fn subscribe<'a>(&'a self, channel: &'a Channel, capacity: usize) -> BoxFuture<'a, Result<Subscription, BusError>>;

    /// Joins the queue group of `channel`: one member receives each frame.
    fn subscribe_queue<'a>(
        &'a self,
        channel: &'a Channel,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, BusError>>;

    /// Joins the queue group of `channel` for frames that the receiving
    /// server answers with a claim (a claimed request): the bus may hand a
    /// frame to one member in every process, as long as [`publish_claim`]
    /// then lets only one process claim it. Defaults to [`subscribe_queue`].
    ///
    /// [`publish_claim`]: MessageBus::publish_claim
    /// [`subscribe_queue`]: MessageBus::subscribe_queue
    fn subscribe_queue_claimed<'a>(
        &'a self,
        channel: &'a Channel,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.subscribe_queue(channel, capacity)
    }

    /// Publishes `frame`, the claim for `queued` (a frame received on a
    /// [`subscribe_queue_claimed`] subscription), unless another process
    /// already took `queued`; true if published. Defaults to a plain
    /// publish, which is right wherever that subscription delivers each
    /// frame to one process only.
    ///
    /// [`subscribe_queue_claimed`]: MessageBus::subscribe_queue_claimed
    fn publish_claim<'a>(
        &'a self,
        queued: &'a Bytes,
        channel: &'a Channel,
        frame: Bytes,
    ) -> BoxFuture<'a, Result<bool, BusError>> {
        let _ = queued;
        Box::pin(async move { self.publish(channel, frame).await.map(|()| true) })
    }

    /// Whether frames must carry the channel's Local name in `Msg.channel`
    /// (true for NATS, whose server subjects are shared by several channels).
    fn frames_carry_local_channel(&self) -> bool {
        false
    }

    /// Taps `service`: every frame on every channel of the service (the
    /// channels of its methods and of its clients, both wire modes), with
    /// the name of its channel, until the tap is dropped or the bus
    /// closed. Ready when it returns, as [`subscribe`](MessageBus::subscribe) is.
    ///
    /// A tap takes nothing from the service: it uses plain subscriptions
    /// only, never a queue group or a queue lock, and never waits on its
    /// reader (a tap that does not keep up loses frames, and is told so).
    /// Defaults to failing with [`BusErrorKind::Unsupported`]; the NATS,
    /// Redis and in-process buses tap (docs/WIRE.md section 5).
    ///
    /// ```
    /// use psrpc::MessageBus as _;
    /// use psrpc_protocol::tap::{TapEvent, TapKind};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Note { #[prost(string, tag = "1")] text: String }
    /// # static ECHO: psrpc::MethodInfo = psrpc::MethodInfo::new("Echo", psrpc::MethodKind::Unary(psrpc::Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// let bus: psrpc::SharedBus = std::sync::Arc::new(psrpc::local::LocalBus::new());
    /// let mut tap = bus.tap("Greeter", 64).await?;
    /// let server = psrpc::RpcServer::new("Greeter", bus.clone(), Default::default());
    /// server.register_unary(&ECHO, vec![], |_: psrpc::RequestContext, n: Note| async move { Ok(n) }, None).await?;
    /// let client = psrpc::RpcClient::new("Greeter", bus, Default::default()).await?;
    /// client.request_single::<Note, Note>(&ECHO, vec![], &Note { text: "hi".into() }, Default::default()).await?;
    /// let first = TapEvent::decode("Greeter", &tap.recv().await.unwrap()?);
    /// assert_eq!((first.kind, first.method.as_deref()), (TapKind::Request, Some("Echo")));
    /// # Ok(()) }
    /// ```
    fn tap<'a>(&'a self, service: &'a str, capacity: usize) -> BoxFuture<'a, Result<TapSubscription, BusError>> {
        let _ = capacity;
        Box::pin(async move {
            Err(BusError::with_source(BusErrorKind::Unsupported, format!("this bus cannot tap service {service}")))
        })
    }

    /// The largest frame this bus carries, in bytes (the whole frame as
    /// published: envelope and payload). Callers refuse larger frames
    /// before publishing, with [`check_frame_size`](crate::frame_limit::check_frame_size).
    fn max_frame_size(&self) -> usize {
        usize::MAX
    }

    /// What sets [`max_frame_size`](MessageBus::max_frame_size) and how the
    /// broker names `channel`, for the error refusing an oversized frame.
    /// Defaults to "the bus's limit" on the channel's Legacy name.
    ///
    /// ```
    /// use psrpc::MessageBus as _;
    /// let bus = psrpc::local::LocalBus::new();
    /// let channel = psrpc_protocol::channel::request_channel("Svc", "M", &[] as &[&str], false);
    /// assert_eq!(bus.frame_limit(&channel).place, "channel Svc|M|REQ");
    /// ```
    fn frame_limit(&self, channel: &Channel) -> FrameLimit {
        FrameLimit::new("the bus's limit", format!("channel {}", channel.legacy))
    }

    /// Closes the bus: every subscription ends, later calls fail with
    /// [`BusErrorKind::Closed`]. Frames already published are handed to the
    /// broker before it returns (bounded by a short timeout when the broker
    /// is unreachable), so a process may exit right after it.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// What kind of failure a [`BusError`] is; each kind maps to one
/// [`ErrorCode`] (see [`BusError`]).
///
/// ```
/// use psrpc::{BusError, BusErrorKind};
/// fn retryable(err: &BusError) -> bool {
///     matches!(err.kind(), BusErrorKind::Unavailable | BusErrorKind::SlowConsumer { .. })
/// }
/// assert!(retryable(&BusError::unavailable("connection reset")));
/// assert!(!retryable(&BusError::frame_too_large(2_000_000, 1_048_576)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BusErrorKind {
    /// The bus was closed (`unavailable`).
    Closed,
    /// The broker cannot be reached: disconnected, restarting, or a publish
    /// that did not complete in the bus's bounded time (`unavailable`).
    Unavailable,
    /// The frame is larger than the bus carries (`resource_exhausted`).
    FrameTooLarge {
        /// Size of the rejected frame.
        size: usize,
        /// The bus limit.
        limit: usize,
    },
    /// The subscriber did not keep up and this many frames were dropped for
    /// it (`unavailable`).
    SlowConsumer {
        /// Frames dropped since the last report.
        dropped: u64,
    },
    /// The channel's name breaks a rule of the bus (too long, a character
    /// or token its broker does not accept); refused before anything
    /// reached the broker (`invalid_argument`).
    InvalidChannel,
    /// The channel is already subscribed in the other mode (queue vs. plain)
    /// on a shared transport subscription (`internal`).
    ModeMismatch,
    /// The bus does not offer the operation, such as
    /// [`tap`](MessageBus::tap) on a bus that cannot (`unimplemented`).
    Unsupported,
    /// The broker refused the operation on this channel: the bus's user has
    /// no permission for it (Redis `NOPERM`, a NATS permissions violation)
    /// (`permission_denied`).
    PermissionDenied,
    /// Any other transport failure (`internal`).
    Transport,
}

impl fmt::Display for BusErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusErrorKind::Closed => f.write_str("message bus is closed"),
            BusErrorKind::Unavailable => f.write_str("message bus unavailable"),
            BusErrorKind::FrameTooLarge { size, limit } => {
                write!(f, "frame of {size} bytes exceeds the bus limit of {limit} bytes")
            }
            BusErrorKind::SlowConsumer { dropped } => write!(f, "slow consumer: {dropped} frame(s) dropped"),
            BusErrorKind::InvalidChannel => f.write_str("invalid channel name"),
            BusErrorKind::ModeMismatch => f.write_str("channel already subscribed in the other mode"),
            BusErrorKind::Unsupported => f.write_str("not supported by this message bus"),
            BusErrorKind::PermissionDenied => f.write_str("the broker denied permission"),
            BusErrorKind::Transport => f.write_str("message bus error"),
        }
    }
}

impl BusErrorKind {
    /// The [`ErrorCode`] an RPC fails with when its bus fails this way.
    ///
    /// ```
    /// use psrpc::{BusErrorKind, ErrorCode};
    /// assert_eq!(BusErrorKind::InvalidChannel.code(), ErrorCode::InvalidArgument);
    /// ```
    pub fn code(self) -> ErrorCode {
        match self {
            BusErrorKind::Closed | BusErrorKind::Unavailable | BusErrorKind::SlowConsumer { .. } => {
                ErrorCode::Unavailable
            }
            BusErrorKind::FrameTooLarge { .. } => ErrorCode::ResourceExhausted,
            BusErrorKind::InvalidChannel => ErrorCode::InvalidArgument,
            BusErrorKind::Unsupported => ErrorCode::Unimplemented,
            BusErrorKind::PermissionDenied => ErrorCode::PermissionDenied,
            BusErrorKind::ModeMismatch | BusErrorKind::Transport => ErrorCode::Internal,
        }
    }
}

/// The cause of a [`BusError`]: the transport's own error, or a message.
///
/// ```
/// use psrpc_protocol::bus::BoxError;
/// let from_text: BoxError = "subject too long".into();
/// let from_error: BoxError = Box::new(std::io::Error::other("reset"));
/// assert_eq!((from_text.to_string(), from_error.to_string()), ("subject too long".into(), "reset".into()));
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A publish that completed when [`MessageBus::publish`] was called:
/// ready with `Ok(())`, and zero-sized, so that boxing it allocates nothing.
///
/// ```
/// use futures_util::future::BoxFuture;
/// use psrpc_protocol::bus::{BusError, Published};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let publish: BoxFuture<'static, Result<(), BusError>> = Box::pin(Published);
/// assert!(publish.await.is_ok());
/// assert_eq!(size_of::<Published>(), 0);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Published;

impl Future for Published {
    type Output = Result<(), BusError>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(()))
    }
}

/// Why a bus operation failed: a [`kind`](BusError::kind) and, where there
/// is one, the underlying [`source`](std::error::Error::source) (the
/// transport client's error, or a message saying what was wrong).
///
/// Converted into an RPC [`Error`](crate::error::Error) with the kind's [code](BusErrorKind::code),
/// the bus error's text as message and the bus error itself as the RPC
/// error's local source.
///
/// ```
/// use std::error::Error as _;
/// use psrpc_protocol::bus::{BusError, BusErrorKind};
/// use psrpc_protocol::{Error, ErrorCode};
///
/// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// let err = BusError::with_source(BusErrorKind::Unavailable, refused);
/// assert_eq!(err.kind(), BusErrorKind::Unavailable);
/// assert!(err.source().is_some());
///
/// let rpc = Error::from(err);
/// assert_eq!(rpc.code(), ErrorCode::Unavailable);
/// assert!(rpc.source().is_some(), "the chain is kept for logs");
/// ```
#[derive(Debug)]
pub struct BusError {
    kind: BusErrorKind,
    source: Option<BoxError>,
}

impl BusError {
    /// An error of `kind` without a cause.
    ///
    /// ```
    /// use psrpc::{BusError, BusErrorKind};
    /// assert_eq!(BusError::new(BusErrorKind::Transport).to_string(), "message bus error");
    /// ```
    pub fn new(kind: BusErrorKind) -> Self {
        BusError { kind, source: None }
    }

    /// An error of `kind` caused by `source` (an error, or a message).
    ///
    /// ```
    /// use psrpc::{BusError, BusErrorKind};
    /// let err = BusError::with_source(BusErrorKind::Transport, "bad reply from broker");
    /// assert_eq!(err.to_string(), "message bus error: bad reply from broker");
    /// ```
    pub fn with_source(kind: BusErrorKind, source: impl Into<BoxError>) -> Self {
        BusError { kind, source: Some(source.into()) }
    }

    /// The bus was closed.
    ///
    /// ```
    /// assert_eq!(psrpc::BusError::closed().kind(), psrpc::BusErrorKind::Closed);
    /// ```
    pub fn closed() -> Self {
        BusError::new(BusErrorKind::Closed)
    }

    /// The broker cannot be reached, because of `source`.
    ///
    /// ```
    /// let err = psrpc::BusError::unavailable(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    /// assert_eq!(err.code(), psrpc::ErrorCode::Unavailable);
    /// ```
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        BusError::with_source(BusErrorKind::Unavailable, source)
    }

    /// A frame of `size` bytes over the bus's `limit`.
    ///
    /// ```
    /// use psrpc::{BusError, BusErrorKind};
    /// let err = BusError::frame_too_large(2048, 1024);
    /// assert_eq!(err.kind(), BusErrorKind::FrameTooLarge { size: 2048, limit: 1024 });
    /// ```
    pub fn frame_too_large(size: usize, limit: usize) -> Self {
        BusError::new(BusErrorKind::FrameTooLarge { size, limit })
    }

    /// A frame of `size` bytes over the bus's `limit`, with a message
    /// saying which frame, which limit and where (see
    /// [`check_frame_size`](crate::frame_limit::check_frame_size), which
    /// builds it); shown after "frame too large: ".
    ///
    /// ```
    /// let err = psrpc::BusError::frame_too_large_because(2048, 1024, "request of 2,048 bytes exceeds …");
    /// assert_eq!(err.to_string(), "frame too large: request of 2,048 bytes exceeds …");
    /// ```
    pub fn frame_too_large_because(size: usize, limit: usize, message: impl Into<BoxError>) -> Self {
        BusError::with_source(BusErrorKind::FrameTooLarge { size, limit }, message)
    }

    /// `dropped` frames were lost by a slow subscriber.
    ///
    /// ```
    /// assert_eq!(psrpc::BusError::slow_consumer(4).to_string(), "slow consumer: 4 frame(s) dropped");
    /// ```
    pub fn slow_consumer(dropped: u64) -> Self {
        BusError::new(BusErrorKind::SlowConsumer { dropped })
    }

    /// The channel name breaks a rule of the bus (`reason` says which).
    ///
    /// ```
    /// let err = psrpc::BusError::invalid_channel("subject contains a space");
    /// assert_eq!(err.code(), psrpc::ErrorCode::InvalidArgument);
    /// ```
    pub fn invalid_channel(reason: impl Into<BoxError>) -> Self {
        BusError::with_source(BusErrorKind::InvalidChannel, reason)
    }

    /// The broker refused an operation on a channel; `reason` names the
    /// channel and what the broker said.
    ///
    /// ```
    /// let err = psrpc::BusError::permission_denied("Redis refused PUBLISH to channel a|Svc|M|REQ: NOPERM");
    /// assert_eq!(err.code(), psrpc::ErrorCode::PermissionDenied);
    /// assert!(err.to_string().contains("a|Svc|M|REQ"));
    /// ```
    pub fn permission_denied(reason: impl Into<BoxError>) -> Self {
        BusError::with_source(BusErrorKind::PermissionDenied, reason)
    }

    /// What kind of failure this is.
    ///
    /// ```
    /// assert_eq!(psrpc::BusError::closed().kind(), psrpc::BusErrorKind::Closed);
    /// ```
    pub fn kind(&self) -> BusErrorKind {
        self.kind
    }

    /// For a slow-consumer report, how many frames were dropped.
    ///
    /// ```
    /// # use psrpc_protocol::bus::BusError;
    /// assert_eq!(BusError::slow_consumer(3).dropped(), Some(3));
    /// assert_eq!(BusError::closed().dropped(), None);
    /// ```
    pub fn dropped(&self) -> Option<u64> {
        match self.kind {
            BusErrorKind::SlowConsumer { dropped } => Some(dropped),
            _ => None,
        }
    }

    /// The [`ErrorCode`] an RPC fails with when its bus fails this way.
    ///
    /// ```
    /// assert_eq!(psrpc::BusError::frame_too_large(9, 8).code(), psrpc::ErrorCode::ResourceExhausted);
    /// ```
    pub fn code(&self) -> ErrorCode {
        self.kind.code()
    }
}

impl From<BusErrorKind> for BusError {
    fn from(kind: BusErrorKind) -> Self {
        BusError::new(kind)
    }
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.source, self.kind) {
            // The message names both sizes already.
            (Some(source), BusErrorKind::FrameTooLarge { .. }) => write!(f, "frame too large: {source}"),
            (Some(source), kind) => write!(f, "{kind}: {source}"),
            (None, kind) => fmt::Display::fmt(&kind, f),
        }
    }
}

impl std::error::Error for BusError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The longest channel name the Redis and in-process buses accept, in bytes
/// (64 KiB). Neither broker needs a limit this low; a longer name is almost
/// surely built from unbounded input (a topic), and every subscribed name is
/// kept in the broker's tables and sent again on every reconnect.
///
/// ```
/// use psrpc_protocol::bus::{check_channel_len, MAX_CHANNEL_NAME_LEN};
/// assert!(check_channel_len(&"x".repeat(MAX_CHANNEL_NAME_LEN + 1), MAX_CHANNEL_NAME_LEN).is_err());
/// ```
pub const MAX_CHANNEL_NAME_LEN: usize = 64 * 1024;

/// Refuses a channel name longer than `limit` bytes with
/// [`BusErrorKind::InvalidChannel`] (a helper for bus implementations).
///
/// ```
/// use psrpc_protocol::bus::{check_channel_len, BusErrorKind};
/// assert!(check_channel_len("Svc|M|REQ", 16).is_ok());
/// let err = check_channel_len("Svc|Method|REQ", 8).unwrap_err();
/// assert_eq!(err.kind(), BusErrorKind::InvalidChannel);
/// ```
pub fn check_channel_len(name: &str, limit: usize) -> Result<(), BusError> {
    if name.len() > limit {
        let shown: String = name.chars().take(64).collect();
        return Err(BusError::invalid_channel(format!(
            "channel name of {} bytes exceeds the bus limit of {limit} bytes ({shown}…)",
            name.len()
        )));
    }
    Ok(())
}

/// Frames delivered to one subscriber; a [`Stream`] that ends when the
/// subscription is closed by the bus. Dropping it unsubscribes.
///
/// ```
/// use psrpc_protocol::bus::Subscription;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (sender, mut subscription) = Subscription::new(8, || {});
/// sender.try_deliver("frame".into());
/// drop(sender); // the bus ended the subscription
/// assert_eq!(subscription.recv().await.unwrap().unwrap(), "frame");
/// assert!(subscription.recv().await.is_none());
/// # }
/// ```
pub struct Subscription {
    rx: mpsc::Receiver<Bytes>,
    state: Arc<SubscriberState>,
    _unsubscribe: Option<Unsubscribe>,
}

/// Runs the bus's unsubscribe action when dropped.
struct Unsubscribe(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// A subscriber that takes frames on the delivering task (see
/// [`Subscription::run_inline`]).
type InlineHandler = Box<dyn Fn(Bytes) + Send + Sync>;

#[derive(Default)]
struct SubscriberState {
    dropped: AtomicU64,
    inline: OnceLock<InlineHandler>,
}

impl fmt::Debug for SubscriberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberState")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .field("inline", &self.inline.get().is_some())
            .finish()
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("buffered", &self.rx.len())
            .field("dropped", &self.state.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

impl Subscription {
    /// Creates a subscription and the sender a bus delivers into.
    ///
    /// `unsubscribe` runs once when the subscription is dropped.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use psrpc_protocol::bus::{DeliveryOutcome, Subscription};
    ///
    /// let gone = Arc::new(AtomicBool::new(false));
    /// let flag = gone.clone();
    /// let (sender, subscription) = Subscription::new(16, move || flag.store(true, Ordering::Relaxed));
    /// assert_eq!(sender.try_deliver("hello".into()), DeliveryOutcome::Delivered);
    /// drop(subscription);
    /// assert!(gone.load(Ordering::Relaxed));
    /// assert_eq!(sender.try_deliver("late".into()), DeliveryOutcome::Closed);
    /// ```
    pub fn new(
        capacity: usize,
        unsubscribe: impl FnOnce() + Send + Sync + 'static,
    ) -> (SubscriptionSender, Subscription) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let state = Arc::new(SubscriberState::default());
        let sender = SubscriptionSender { tx, state: Arc::clone(&state) };
        let sub = Subscription { rx, state, _unsubscribe: Some(Unsubscribe(Some(Box::new(unsubscribe)))) };
        (sender, sub)
    }

    /// Frames waiting in the buffer.
    ///
    /// ```
    /// let (sender, subscription) = psrpc_protocol::bus::Subscription::new(4, || {});
    /// sender.try_deliver("a".into());
    /// assert_eq!(subscription.buffered(), 1);
    /// ```
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }

    /// The next frame, a slow-consumer report ([`BusErrorKind::SlowConsumer`],
    /// see [`BusError::dropped`]), or `None` once closed.
    ///
    /// ```
    /// use psrpc_protocol::bus::{DeliveryOutcome, Subscription};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (sender, mut subscription) = Subscription::new(1, || {});
    /// assert_eq!(sender.try_deliver("a".into()), DeliveryOutcome::Delivered);
    /// assert_eq!(sender.try_deliver("b".into()), DeliveryOutcome::Dropped); // buffer full
    /// assert_eq!(subscription.recv().await.unwrap().unwrap_err().dropped(), Some(1));
    /// assert_eq!(subscription.recv().await.unwrap().unwrap(), "a");
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Option<Result<Bytes, BusError>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Hands every frame to `handler` on the task that delivers it (the
    /// publisher's on the in-process bus, the connection reader's on the
    /// broker buses) instead of buffering it, until the subscription ends;
    /// dropping the future unsubscribes.
    ///
    /// This saves the wake-up of a reading task per frame. `handler` must be
    /// quick and must not block: route the frame, spawn work, nothing more.
    /// Frames already buffered (or racing the switch) are handed over from
    /// here. Resolves when the bus ends the subscription.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use psrpc_protocol::bus::Subscription;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (sender, subscription) = Subscription::new(8, || {});
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let counter = seen.clone();
    /// let running = tokio::spawn(subscription.run_inline(move |frame| {
    ///     counter.fetch_add(frame.len(), Ordering::Relaxed);
    /// }));
    /// tokio::task::yield_now().await; // let it switch to inline delivery
    /// sender.try_deliver("abc".into()); // runs the handler here, on this task
    /// assert_eq!(seen.load(Ordering::Relaxed), 3);
    /// drop(sender);
    /// running.await.unwrap();
    /// # }
    /// ```
    pub async fn run_inline(mut self, handler: impl Fn(Bytes) + Send + Sync + 'static) {
        let _ = self.state.inline.set(Box::new(handler));
        while let Some(frame) = self.rx.recv().await {
            if let Some(handler) = self.state.inline.get() {
                handler(frame);
            }
        }
    }

    /// Polls for the next item (see [`Subscription::recv`]).
    ///
    /// ```
    /// use psrpc_protocol::bus::Subscription;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (sender, mut subscription) = Subscription::new(4, || {});
    /// sender.try_deliver("x".into());
    /// let item = std::future::poll_fn(|cx| subscription.poll_recv(cx)).await;
    /// assert_eq!(item.unwrap().unwrap(), "x");
    /// # }
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BusError>>> {
        let dropped = self.state.dropped.swap(0, Ordering::AcqRel);
        if dropped > 0 {
            return Poll::Ready(Some(Err(BusError::slow_consumer(dropped))));
        }
        self.rx.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}

impl Stream for Subscription {
    type Item = Result<Bytes, BusError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

/// The bus side of a [`Subscription`]: where frames are delivered. Clones
/// feed the same subscription.
///
/// ```
/// use psrpc_protocol::bus::Subscription;
/// let (sender, subscription) = Subscription::new(4, || {});
/// let clone = sender.clone();
/// assert!(clone.same_subscription(&sender));
/// # drop(subscription);
/// ```
#[derive(Debug, Clone)]
pub struct SubscriptionSender {
    tx: mpsc::Sender<Bytes>,
    state: Arc<SubscriberState>,
}

/// What happened to a delivered frame.
///
/// ```
/// use psrpc_protocol::bus::{DeliveryOutcome, Subscription};
/// let (sender, subscription) = Subscription::new(1, || {});
/// assert_eq!(sender.try_deliver("1".into()), DeliveryOutcome::Delivered);
/// assert_eq!(sender.try_deliver("2".into()), DeliveryOutcome::Dropped);
/// drop(subscription);
/// assert_eq!(sender.try_deliver("3".into()), DeliveryOutcome::Closed); // forget this sender
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The frame is in the subscriber's buffer.
    Delivered,
    /// The buffer was full; the frame was dropped and the loss recorded.
    Dropped,
    /// The subscription is gone; the bus should forget this sender.
    Closed,
}

impl SubscriptionSender {
    /// Delivers without waiting: a full buffer drops the frame (and records it).
    ///
    /// For shared readers (a NATS subject router, the Redis reader) that must
    /// never stall other channels on one slow subscriber.
    ///
    /// ```
    /// use psrpc_protocol::bus::{DeliveryOutcome, Subscription};
    /// let (sender, _subscription) = Subscription::new(1, || {});
    /// assert_eq!(sender.try_deliver("first".into()), DeliveryOutcome::Delivered);
    /// assert_eq!(sender.try_deliver("second".into()), DeliveryOutcome::Dropped, "full: dropped, never waits");
    /// ```
    pub fn try_deliver(&self, frame: Bytes) -> DeliveryOutcome {
        self.try_deliver_or_return(frame).unwrap_or_else(|_| self.record_drop())
    }

    /// Delivers if that needs no wait; a full buffer hands the frame back
    /// (nothing is dropped or recorded), for a publisher that then waits
    /// for room with [`deliver`](Self::deliver). The in-process bus takes
    /// this fast path first, so it reads the clock only for full buffers.
    ///
    /// ```
    /// use psrpc_protocol::bus::{DeliveryOutcome, Subscription};
    /// let (sender, _subscription) = Subscription::new(1, || {});
    /// assert_eq!(sender.try_deliver_or_return("first".into()), Ok(DeliveryOutcome::Delivered));
    /// assert_eq!(sender.try_deliver_or_return("second".into()), Err("second".into()), "full: handed back");
    /// ```
    pub fn try_deliver_or_return(&self, frame: Bytes) -> Result<DeliveryOutcome, Bytes> {
        if let Some(handler) = self.state.inline.get() {
            return Ok(self.hand_over(handler, frame));
        }
        match self.tx.try_send(frame) {
            Ok(()) => Ok(DeliveryOutcome::Delivered),
            Err(mpsc::error::TrySendError::Full(frame)) => Err(frame),
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(DeliveryOutcome::Closed),
        }
    }

    /// Delivers, waiting at most `wait` for room in a full buffer before
    /// dropping the frame (and recording the drop). The in-process bus
    /// delivers this way.
    ///
    /// ```
    /// use std::time::Duration;
    /// use psrpc_protocol::bus::{DeliveryOutcome, Subscription};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (sender, mut subscription) = Subscription::new(1, || {});
    /// assert_eq!(sender.deliver("a".into(), Duration::from_millis(10)).await, DeliveryOutcome::Delivered);
    /// // Full: waits up to 10 ms for room, then drops.
    /// assert_eq!(sender.deliver("b".into(), Duration::from_millis(10)).await, DeliveryOutcome::Dropped);
    /// assert_eq!(subscription.recv().await.unwrap().unwrap_err().dropped(), Some(1));
    /// # }
    /// ```
    pub async fn deliver(&self, frame: Bytes, wait: Duration) -> DeliveryOutcome {
        let frame = match self.try_deliver_or_return(frame) {
            Ok(delivery) => return delivery,
            Err(full) => full,
        };
        match self.tx.send_timeout(frame, wait).await {
            Ok(()) => DeliveryOutcome::Delivered,
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => self.record_drop(),
            Err(mpsc::error::SendTimeoutError::Closed(_)) => DeliveryOutcome::Closed,
        }
    }

    /// Whether the subscription was dropped.
    ///
    /// ```
    /// let (sender, subscription) = psrpc_protocol::bus::Subscription::new(1, || {});
    /// assert!(!sender.is_closed());
    /// drop(subscription);
    /// assert!(sender.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Whether two senders feed the same subscription.
    ///
    /// ```
    /// use psrpc_protocol::bus::Subscription;
    /// let (a, _sa) = Subscription::new(1, || {});
    /// let (b, _sb) = Subscription::new(1, || {});
    /// assert!(a.same_subscription(&a.clone()) && !a.same_subscription(&b));
    /// ```
    pub fn same_subscription(&self, other: &SubscriptionSender) -> bool {
        self.tx.same_channel(&other.tx)
    }

    /// Runs an inline subscriber's handler, unless it has unsubscribed.
    fn hand_over(&self, handler: &InlineHandler, frame: Bytes) -> DeliveryOutcome {
        if self.tx.is_closed() {
            return DeliveryOutcome::Closed;
        }
        handler(frame);
        DeliveryOutcome::Delivered
    }

    fn record_drop(&self) -> DeliveryOutcome {
        self.state.dropped.fetch_add(1, Ordering::AcqRel);
        tracing::debug!("psrpc bus: slow consumer, frame dropped");
        DeliveryOutcome::Dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::sync::atomic::AtomicBool;

    /// A received item with the error reduced to its kind, for comparisons.
    fn kinds(item: Option<Result<Bytes, BusError>>) -> Option<Result<Bytes, BusErrorKind>> {
        item.map(|r| r.map_err(|e| e.kind()))
    }

    #[tokio::test]
    async fn inline_subscribers_take_buffered_and_later_frames_on_the_delivering_task() {
        let (tx, sub) = Subscription::new(4, || {});
        assert_eq!(tx.try_deliver(Bytes::from_static(b"buffered")), DeliveryOutcome::Delivered);
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        let delivering = std::thread::current().id();
        let running = tokio::spawn(sub.run_inline(move |frame| {
            seen_tx.send((frame, std::thread::current().id())).unwrap();
        }));
        assert_eq!(seen.recv().await.unwrap().0, Bytes::from_static(b"buffered"));
        for _ in 0..10 {
            // More than the buffer holds, and never a slow-consumer drop.
            assert_eq!(tx.try_deliver(Bytes::from_static(b"inline")), DeliveryOutcome::Delivered);
        }
        assert_eq!(tx.deliver(Bytes::from_static(b"waited"), Duration::ZERO).await, DeliveryOutcome::Delivered);
        for expected in [&b"inline"[..]; 10].into_iter().chain([&b"waited"[..]]) {
            let (frame, thread) = seen.try_recv().expect("handled before deliver returned");
            assert_eq!((&frame[..], thread), (expected, delivering));
        }
        drop(tx);
        running.await.unwrap();
    }

    #[tokio::test]
    async fn an_inline_subscriber_that_stopped_reports_closed() {
        let (tx, sub) = Subscription::new(1, || {});
        let running = tokio::spawn(sub.run_inline(|_| {}));
        tokio::task::yield_now().await;
        running.abort();
        let _ = running.await;
        assert_eq!(tx.try_deliver(Bytes::from_static(b"late")), DeliveryOutcome::Closed);
    }

    #[tokio::test]
    async fn overflow_is_reported_before_the_next_frame() {
        let (tx, mut sub) = Subscription::new(1, || {});
        assert_eq!(tx.try_deliver(Bytes::from_static(b"a")), DeliveryOutcome::Delivered);
        assert_eq!(tx.try_deliver(Bytes::from_static(b"b")), DeliveryOutcome::Dropped);
        assert_eq!(kinds(sub.recv().await), Some(Err(BusErrorKind::SlowConsumer { dropped: 1 })));
        assert_eq!(kinds(sub.recv().await), Some(Ok(Bytes::from_static(b"a"))));
        drop(tx);
        assert_eq!(kinds(sub.recv().await), None);
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_wait_then_drop() {
        let (tx, mut sub) = Subscription::new(1, || {});
        assert_eq!(tx.deliver(Bytes::from_static(b"a"), Duration::from_millis(10)).await, DeliveryOutcome::Delivered);
        assert_eq!(tx.deliver(Bytes::from_static(b"b"), Duration::from_millis(10)).await, DeliveryOutcome::Dropped);
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.deliver(Bytes::from_static(b"c"), Duration::from_secs(1)).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(kinds(sub.recv().await), Some(Err(BusErrorKind::SlowConsumer { dropped: 1 })));
        assert_eq!(kinds(sub.recv().await), Some(Ok(Bytes::from_static(b"a"))));
        assert_eq!(waiting.await.expect("task"), DeliveryOutcome::Delivered);
        assert_eq!(kinds(sub.recv().await), Some(Ok(Bytes::from_static(b"c"))));
    }

    #[test]
    fn dropping_unsubscribes_once_and_closes_the_sender() {
        let unsubscribed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&unsubscribed);
        let (tx, sub) = Subscription::new(4, move || flag.store(true, Ordering::SeqCst));
        assert!(!tx.is_closed());
        drop(sub);
        assert!(unsubscribed.load(Ordering::SeqCst));
        assert!(tx.is_closed());
        assert_eq!(tx.try_deliver(Bytes::new()), DeliveryOutcome::Closed);
    }

    #[test]
    fn bus_errors_map_to_codes() {
        use std::error::Error as _;
        let cases = [
            (BusError::closed(), ErrorCode::Unavailable),
            (BusError::unavailable("down"), ErrorCode::Unavailable),
            (BusError::slow_consumer(2), ErrorCode::Unavailable),
            (BusError::frame_too_large(2, 1), ErrorCode::ResourceExhausted),
            (BusError::invalid_channel("too long"), ErrorCode::InvalidArgument),
            (BusError::permission_denied("NOPERM"), ErrorCode::PermissionDenied),
            (BusError::new(BusErrorKind::ModeMismatch), ErrorCode::Internal),
            (BusError::new(BusErrorKind::Transport), ErrorCode::Internal),
            (BusError::new(BusErrorKind::Unsupported), ErrorCode::Unimplemented),
        ];
        for (err, code) in cases {
            let kind = err.kind();
            let text = err.to_string();
            let rpc = Error::from(err);
            assert_eq!((rpc.code(), rpc.message()), (code, text.as_str()), "{kind:?}");
            let source = rpc.source().and_then(|s| s.downcast_ref::<BusError>()).expect("the bus error is the source");
            assert_eq!(source.kind(), kind);
        }
    }

    #[test]
    fn bus_errors_keep_their_cause() {
        use std::error::Error as _;
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused by peer");
        let err = BusError::unavailable(refused);
        assert_eq!(err.to_string(), "message bus unavailable: refused by peer");
        let io = err.source().and_then(|s| s.downcast_ref::<std::io::Error>()).expect("io cause");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(BusError::closed().source().is_none());
        assert_eq!(BusError::closed().to_string(), "message bus is closed");
        assert_eq!(BusError::frame_too_large(5, 4).dropped(), None);
    }

    #[test]
    fn channel_names_over_the_limit_are_invalid() {
        assert!(check_channel_len(&"a".repeat(MAX_CHANNEL_NAME_LEN), MAX_CHANNEL_NAME_LEN).is_ok());
        let err = check_channel_len(&"a".repeat(MAX_CHANNEL_NAME_LEN + 1), MAX_CHANNEL_NAME_LEN).expect_err("long");
        assert_eq!(err.kind(), BusErrorKind::InvalidChannel);
        assert!(err.to_string().contains("65537 bytes"), "{err}");
    }
}
