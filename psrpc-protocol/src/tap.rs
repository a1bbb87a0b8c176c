//! Tapping a service: every frame on every channel of one service, with the
//! name of the channel it arrived on, for tools that watch a live bus
//! (`psrpc tap`) without taking part.
//!
//! A bus taps with [`MessageBus::tap`](crate::bus::MessageBus::tap). A tap
//! uses plain subscriptions only (never a NATS queue group, never a Redis
//! queue lock), so the service's servers and clients lose nothing to it;
//! each broker bus taps on subscriptions of its own, apart from those of its
//! clients and servers (`docs/WIRE.md` section 5, "Tapping").
//!
//! [`TapEvent::decode`] turns a tapped frame into what it says: its kind,
//! method, ids, error and payload. It never fails: a frame it cannot read is
//! a [`TapKind::Undecodable`] event.
//!
//! ```
//! use psrpc_protocol::channel;
//! use psrpc_protocol::envelope::Request;
//! use psrpc_protocol::frame;
//! use psrpc_protocol::tap::{TapEvent, TapFrame, TapKind};
//!
//! let request = Request { request_id: "REQ_1".into(), client_id: "CLI_1".into(), ..Default::default() };
//! let tapped = TapFrame {
//!     channel: channel::request_channel("Greeter", "Echo", &[] as &[&str], true).legacy,
//!     frame: frame::encode_envelope(&request, ""),
//! };
//! let event = TapEvent::decode("Greeter", &tapped);
//! assert_eq!((event.kind, event.method.as_deref(), &*event.request_id), (TapKind::Request, Some("Echo"), "REQ_1"));
//! ```

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use crate::bus::{BusError, DeliveryOutcome};
use crate::channel::sanitize;
use crate::envelope::{self, stream::Body};
use crate::frame::{self, Envelope as _};

/// One tapped frame and the name of the channel it arrived on, as the bus
/// carries it: the Legacy name on Redis and the in-process bus, the subject
/// on NATS (whose frames carry the Local name themselves).
///
/// ```
/// use psrpc_protocol::tap::TapFrame;
/// let tapped = TapFrame { channel: "Greeter|CLI_a|RES".into(), frame: bytes::Bytes::from_static(b"\x0a\x00") };
/// assert_eq!(tapped.frame.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapFrame {
    /// The channel's name on the bus.
    pub channel: Arc<str>,
    /// The frame as published.
    pub frame: Bytes,
}

/// The frames of a tapped service, in the order the bus received them; a
/// [`Stream`] that ends when the tap ends (the bus closed, or its tap
/// connection was lost). Dropping it stops tapping.
///
/// Like a [`Subscription`](crate::bus::Subscription), its buffer is bounded:
/// a tap that does not keep up loses frames, reported in order as a
/// slow-consumer [`BusError`] before the next frame. The service never
/// waits on a tap.
///
/// ```
/// use psrpc_protocol::tap::{TapFrame, TapSubscription};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (sender, mut tap) = TapSubscription::new(1);
/// let frame = TapFrame { channel: "Svc|M|REQ".into(), frame: "a".into() };
/// sender.try_deliver(frame.clone());
/// sender.try_deliver(frame.clone()); // buffer full: dropped
/// assert_eq!(tap.recv().await.unwrap().unwrap_err().dropped(), Some(1));
/// assert_eq!(tap.recv().await.unwrap().unwrap(), frame);
/// # }
/// ```
pub struct TapSubscription {
    rx: mpsc::Receiver<TapFrame>,
    dropped: Arc<AtomicU64>,
}

impl fmt::Debug for TapSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapSubscription")
            .field("buffered", &self.rx.len())
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

impl TapSubscription {
    /// Creates a tap and the sender a bus delivers into. A bus learns that
    /// the tap was dropped from [`TapSender::closed`] or
    /// [`TapSender::is_closed`].
    ///
    /// ```
    /// use psrpc_protocol::bus::DeliveryOutcome;
    /// use psrpc_protocol::tap::{TapFrame, TapSubscription};
    /// let (sender, tap) = TapSubscription::new(8);
    /// let frame = TapFrame { channel: "Svc|M|REQ".into(), frame: "x".into() };
    /// assert_eq!(sender.try_deliver(frame.clone()), DeliveryOutcome::Delivered);
    /// drop(tap);
    /// assert_eq!(sender.try_deliver(frame), DeliveryOutcome::Closed);
    /// ```
    pub fn new(capacity: usize) -> (TapSender, TapSubscription) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let sender = TapSender { tx, dropped: Arc::clone(&dropped) };
        (sender, TapSubscription { rx, dropped })
    }

    /// The next tapped frame, a slow-consumer report (see
    /// [`BusError::dropped`]), or `None` once the tap ended.
    ///
    /// ```
    /// use psrpc_protocol::tap::{TapFrame, TapSubscription};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (sender, mut tap) = TapSubscription::new(4);
    /// sender.try_deliver(TapFrame { channel: "Svc|M|REQ".into(), frame: "x".into() });
    /// drop(sender); // the bus ended the tap
    /// assert_eq!(&*tap.recv().await.unwrap().unwrap().channel, "Svc|M|REQ");
    /// assert!(tap.recv().await.is_none());
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Option<Result<TapFrame, BusError>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next item (see [`TapSubscription::recv`]).
    ///
    /// ```
    /// use psrpc_protocol::tap::{TapFrame, TapSubscription};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (sender, mut tap) = TapSubscription::new(4);
    /// sender.try_deliver(TapFrame { channel: "Svc|M|REQ".into(), frame: "x".into() });
    /// let item = std::future::poll_fn(|cx| tap.poll_recv(cx)).await;
    /// assert_eq!(item.unwrap().unwrap().frame, "x");
    /// # }
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<TapFrame, BusError>>> {
        let dropped = self.dropped.swap(0, Ordering::AcqRel);
        if dropped > 0 {
            return Poll::Ready(Some(Err(BusError::slow_consumer(dropped))));
        }
        self.rx.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}

impl Stream for TapSubscription {
    type Item = Result<TapFrame, BusError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

/// The bus side of a [`TapSubscription`]. Clones feed the same tap.
///
/// ```
/// use psrpc_protocol::tap::TapSubscription;
/// let (sender, tap) = TapSubscription::new(4);
/// assert!(!sender.is_closed());
/// drop(tap);
/// assert!(sender.is_closed());
/// ```
#[derive(Clone, Debug)]
pub struct TapSender {
    tx: mpsc::Sender<TapFrame>,
    dropped: Arc<AtomicU64>,
}

impl TapSender {
    /// Delivers without waiting: a full buffer drops the frame and records
    /// the loss, so the task reading the broker never waits on a tap.
    ///
    /// ```
    /// use psrpc_protocol::bus::DeliveryOutcome;
    /// use psrpc_protocol::tap::{TapFrame, TapSubscription};
    /// let (sender, _tap) = TapSubscription::new(1);
    /// let frame = TapFrame { channel: "Svc|M|REQ".into(), frame: "x".into() };
    /// assert_eq!(sender.try_deliver(frame.clone()), DeliveryOutcome::Delivered);
    /// assert_eq!(sender.try_deliver(frame), DeliveryOutcome::Dropped);
    /// ```
    pub fn try_deliver(&self, frame: TapFrame) -> DeliveryOutcome {
        match self.tx.try_send(frame) {
            Ok(()) => DeliveryOutcome::Delivered,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::AcqRel);
                DeliveryOutcome::Dropped
            }
            Err(mpsc::error::TrySendError::Closed(_)) => DeliveryOutcome::Closed,
        }
    }

    /// Whether the tap was dropped (the bus can stop feeding it).
    ///
    /// ```
    /// let (sender, tap) = psrpc_protocol::tap::TapSubscription::new(1);
    /// drop(tap);
    /// assert!(sender.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves once the tap was dropped: a bus that forwards frames from
    /// a subscription of its own ends it here.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (sender, tap) = psrpc_protocol::tap::TapSubscription::new(1);
    /// drop(tap);
    /// sender.closed().await;
    /// # }
    /// ```
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// Delivers every frame of `frames` (as [`try_deliver`](Self::try_deliver)
    /// does) until they end or the tap is dropped; then drops `frames`,
    /// which is how a broker bus ends the subscriptions it tapped with.
    /// Meant to be spawned.
    ///
    /// ```
    /// use psrpc_protocol::tap::{TapFrame, TapSubscription};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (sender, mut tap) = TapSubscription::new(8);
    /// let frames = futures_util::stream::iter(["a", "b"]).map(|f| TapFrame { channel: "Svc|M|REQ".into(), frame: f.into() });
    /// # use futures_util::StreamExt as _;
    /// tokio::spawn(sender.forward(frames));
    /// assert_eq!(tap.recv().await.unwrap().unwrap().frame, "a");
    /// assert_eq!(tap.recv().await.unwrap().unwrap().frame, "b");
    /// assert!(tap.recv().await.is_none(), "the frames ended, so did the tap");
    /// # }
    /// ```
    pub async fn forward(self, frames: impl Stream<Item = TapFrame>) {
        let mut frames = std::pin::pin!(frames);
        loop {
            let frame = tokio::select! {
                () = self.closed() => return,
                frame = frames.next() => match frame {
                    Some(frame) => frame,
                    None => return,
                },
            };
            if self.try_deliver(frame) == DeliveryOutcome::Dropped {
                tracing::debug!("psrpc tap: slow tap, frame dropped");
            }
        }
    }
}

/// Ends the taps of a bus when it closes: a bus that forwards tapped
/// frames from subscriptions of its own (see [`TapSender::forward`]) stops
/// each forwarding at [`ended`](TapsEnd::ended), and calls
/// [`end`](TapsEnd::end) in [`MessageBus::close`](crate::bus::MessageBus::close).
///
/// ```
/// use futures_util::StreamExt as _;
/// use psrpc_protocol::tap::{TapFrame, TapSubscription, TapsEnd};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let taps_end = TapsEnd::default();
/// let (sender, mut tap) = TapSubscription::new(8);
/// let frames = futures_util::stream::pending::<TapFrame>(); // a subscription that stays quiet
/// let forwarding = tokio::spawn(sender.forward(frames.take_until(taps_end.ended())));
/// taps_end.end(); // the bus closes
/// forwarding.await.unwrap();
/// assert!(tap.recv().await.is_none(), "the tap ended");
/// # }
/// ```
#[derive(Debug)]
pub struct TapsEnd(tokio::sync::watch::Sender<bool>);

impl Default for TapsEnd {
    fn default() -> Self {
        TapsEnd(tokio::sync::watch::Sender::new(false))
    }
}

impl TapsEnd {
    /// Ends every tap (those whose [`ended`](Self::ended) future was taken,
    /// before or after).
    ///
    /// ```
    /// psrpc_protocol::tap::TapsEnd::default().end();
    /// ```
    pub fn end(&self) {
        self.0.send_replace(true);
    }

    /// Resolves once [`end`](Self::end) was called (or the `TapsEnd` dropped).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let taps_end = psrpc_protocol::tap::TapsEnd::default();
    /// let ended = taps_end.ended();
    /// taps_end.end();
    /// ended.await;
    /// # }
    /// ```
    pub fn ended(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut ended = self.0.subscribe();
        async move {
            // An error means the sender is gone: that ends the taps too.
            let _ = ended.wait_for(|ended| *ended).await;
        }
    }
}

/// What a tapped frame is.
///
/// ```
/// use psrpc_protocol::tap::{StreamFrame, TapKind};
/// assert_eq!(TapKind::ClaimResponse.as_str(), "claim-response");
/// assert_eq!(TapKind::Stream(StreamFrame::Ack).as_str(), "stream");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapKind {
    /// A `Request` from a client to the servers of a method.
    Request,
    /// A `ClaimRequest`: a server offers to handle a request.
    Claim,
    /// A `ClaimResponse`: the client's choice of server.
    ClaimResponse,
    /// A `Response` (an error response when [`TapEvent::error`] is set).
    Response,
    /// A `Stream` frame, of the kind given.
    Stream(StreamFrame),
    /// A message a server published on a subscription method.
    Publication,
    /// A frame that is no `Msg`, or whose envelope does not decode.
    Undecodable,
}

impl TapKind {
    /// The kind's name: `request`, `claim`, `claim-response`, `response`,
    /// `stream`, `publication` or `undecodable`.
    ///
    /// ```
    /// assert_eq!(psrpc_protocol::tap::TapKind::Publication.as_str(), "publication");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TapKind::Request => "request",
            TapKind::Claim => "claim",
            TapKind::ClaimResponse => "claim-response",
            TapKind::Response => "response",
            TapKind::Stream(_) => "stream",
            TapKind::Publication => "publication",
            TapKind::Undecodable => "undecodable",
        }
    }
}

/// The body of a tapped `Stream` frame (docs/WIRE.md section 6.4).
///
/// ```
/// assert_eq!(psrpc_protocol::tap::StreamFrame::Keepalive.as_str(), "keepalive");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFrame {
    /// A client opens the stream.
    Open,
    /// A message, with its payload.
    Message,
    /// The receiver took a message (or the server accepted the open).
    Ack,
    /// Either end closes the stream.
    Close,
    /// A frame without a body (psrpc-rs keepalive).
    Keepalive,
}

impl StreamFrame {
    /// `open`, `message`, `ack`, `close` or `keepalive`.
    ///
    /// ```
    /// assert_eq!(psrpc_protocol::tap::StreamFrame::Open.as_str(), "open");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            StreamFrame::Open => "open",
            StreamFrame::Message => "message",
            StreamFrame::Ack => "ack",
            StreamFrame::Close => "close",
            StreamFrame::Keepalive => "keepalive",
        }
    }
}

/// Which of the method's message types a tapped payload is.
///
/// ```
/// use psrpc_protocol::tap::PayloadType;
/// assert_ne!(PayloadType::Input, PayloadType::Output);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadType {
    /// The method's request type: requests, and stream messages to servers.
    Input,
    /// The method's response type: responses, stream messages to clients,
    /// and publications.
    Output,
}

/// A tapped frame, decoded. Ids the envelope does not carry are empty.
///
/// ```
/// use psrpc_protocol::envelope::Response;
/// use psrpc_protocol::frame;
/// use psrpc_protocol::tap::{TapEvent, TapFrame, TapKind};
///
/// let failed = Response { request_id: "REQ_1".into(), server_id: "SRV_1".into(), error: "no".into(), code: "not_found".into(), ..Default::default() };
/// let tapped = TapFrame { channel: "CLI.Greeter.CLI_a.RES".into(), frame: frame::encode_envelope(&failed, "") };
/// let event = TapEvent::decode("Greeter", &tapped);
/// assert_eq!(event.kind, TapKind::Response);
/// assert_eq!((&*event.client_id, &*event.server_id), ("CLI_a", "SRV_1"));
/// assert_eq!(event.error, Some(("not_found".to_owned(), "no".to_owned())));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TapEvent {
    /// What the frame is.
    pub kind: TapKind,
    /// The channel it arrived on (as in [`TapFrame::channel`]).
    pub channel: Arc<str>,
    /// The method, where the channel names it (the channels of methods,
    /// not those of clients; Legacy names give it sanitised).
    pub method: Option<String>,
    /// The envelope's request id.
    pub request_id: String,
    /// The calling client: the request's `client_id`, or the id in the
    /// name of a client channel.
    pub client_id: String,
    /// The server of a claim, claim response or response.
    pub server_id: String,
    /// The stream of a stream frame.
    pub stream_id: String,
    /// Code and message of an error response or of a stream close with an
    /// error.
    pub error: Option<(String, String)>,
    /// The user payload and which of the method's types it is.
    pub payload: Option<(PayloadType, Bytes)>,
    /// The size of the whole frame, in bytes.
    pub size: usize,
}

/// Where a channel name sits among a service's channels.
#[derive(Debug, Default)]
struct Place {
    method: Option<String>,
    client_id: String,
    /// A client-side channel (`RES`, `CLAIM`, the client end of a stream).
    to_client: bool,
}

impl TapEvent {
    /// Decodes a frame tapped from `service`'s channels.
    ///
    /// The method comes from the channel: the Legacy name on Redis and the
    /// in-process bus (`Svc|M|…|REQ`), the frame's Local name on NATS
    /// (`M.REQ` in `Msg.channel`), or the subject (`SRVQ.Svc.M…`). Client
    /// channels name the client, not the method. A Legacy `Svc|X|STR` is
    /// the client end of a stream when `X` starts with `CLI_` (the client
    /// ids of psrpc-rs and Go psrpc), else a method's server end.
    ///
    /// Never fails: a frame that does not decode gives an event of kind
    /// [`TapKind::Undecodable`] that keeps the channel and the size.
    ///
    /// ```
    /// use psrpc_protocol::tap::{TapEvent, TapFrame, TapKind};
    /// let garbage = TapFrame { channel: "Greeter|Echo|REQ".into(), frame: bytes::Bytes::from_static(b"\xff\xff") };
    /// let event = TapEvent::decode("Greeter", &garbage);
    /// assert_eq!((event.kind, event.size), (TapKind::Undecodable, 2));
    /// ```
    pub fn decode(service: &str, tapped: &TapFrame) -> TapEvent {
        let mut event = TapEvent {
            kind: TapKind::Undecodable,
            channel: Arc::clone(&tapped.channel),
            method: None,
            request_id: String::new(),
            client_id: String::new(),
            server_id: String::new(),
            stream_id: String::new(),
            error: None,
            payload: None,
            size: tapped.frame.len(),
        };
        let Ok(msg) = frame::decode_frame(tapped.frame.clone()) else { return event };
        if msg.type_url.is_empty() {
            return event; // no Msg at all (an empty frame, say)
        }
        let place = place(service, &tapped.channel, &msg.channel);
        event.method = place.method;
        event.client_id = place.client_id;
        let filled = match msg.type_url.as_str() {
            envelope::Request::TYPE_URL => event.request(msg.value),
            envelope::ClaimRequest::TYPE_URL => event.claim(msg.value),
            envelope::ClaimResponse::TYPE_URL => event.claim_response(msg.value),
            envelope::Response::TYPE_URL => event.response(msg.value),
            envelope::Stream::TYPE_URL => event.stream(msg.value, place.to_client),
            _ => {
                event.kind = TapKind::Publication;
                event.payload = Some((PayloadType::Output, msg.value));
                Ok(())
            }
        };
        if filled.is_err() {
            event.kind = TapKind::Undecodable;
            event.payload = None;
        }
        event
    }

    fn request(&mut self, value: Bytes) -> Result<(), prost::DecodeError> {
        let request: envelope::Request = prost::Message::decode(value)?;
        self.kind = TapKind::Request;
        self.request_id = request.request_id;
        self.client_id = request.client_id;
        self.payload = Some((PayloadType::Input, request.raw_request));
        Ok(())
    }

    fn claim(&mut self, value: Bytes) -> Result<(), prost::DecodeError> {
        let claim: envelope::ClaimRequest = prost::Message::decode(value)?;
        self.kind = TapKind::Claim;
        self.request_id = claim.request_id;
        self.server_id = claim.server_id;
        Ok(())
    }

    fn claim_response(&mut self, value: Bytes) -> Result<(), prost::DecodeError> {
        let claim: envelope::ClaimResponse = prost::Message::decode(value)?;
        self.kind = TapKind::ClaimResponse;
        self.request_id = claim.request_id;
        self.server_id = claim.server_id;
        Ok(())
    }

    fn response(&mut self, value: Bytes) -> Result<(), prost::DecodeError> {
        let response: envelope::Response = prost::Message::decode(value)?;
        self.kind = TapKind::Response;
        self.request_id = response.request_id;
        self.server_id = response.server_id;
        if response.error.is_empty() {
            self.payload = Some((PayloadType::Output, response.raw_response));
        } else {
            self.error = Some((response.code, response.error));
        }
        Ok(())
    }

    fn stream(&mut self, value: Bytes, to_client: bool) -> Result<(), prost::DecodeError> {
        let stream: envelope::Stream = prost::Message::decode(value)?;
        self.request_id = stream.request_id;
        self.stream_id = stream.stream_id;
        let body = match stream.body {
            None => StreamFrame::Keepalive,
            Some(Body::Open(open)) => {
                self.client_id = open.node_id;
                StreamFrame::Open
            }
            Some(Body::Message(message)) => {
                let of = if to_client { PayloadType::Output } else { PayloadType::Input };
                self.payload = Some((of, message.raw_message));
                StreamFrame::Message
            }
            Some(Body::Ack(_)) => StreamFrame::Ack,
            Some(Body::Close(close)) => {
                if !close.error.is_empty() {
                    self.error = Some((close.code, close.error));
                }
                StreamFrame::Close
            }
        };
        self.kind = TapKind::Stream(body);
        Ok(())
    }
}

/// Reads `channel` (a Legacy name or a NATS subject of `service`) and the
/// frame's Local name `local`.
fn place(service: &str, channel: &str, local: &str) -> Place {
    let method_of_local = || local.rsplit_once('.').map(|(method, _)| method.to_owned());
    if let Some(rest) = channel.strip_prefix("CLI.").and_then(|r| r.strip_prefix(service)?.strip_prefix('.')) {
        // CLI.Svc.ID.SUFFIX: the id may hold dots, the suffix does not.
        let client_id = rest.rsplit_once('.').map_or(rest, |(id, _)| id);
        return Place { method: None, client_id: client_id.to_owned(), to_client: true };
    }
    if let Some(rest) = channel.strip_prefix("SRVQ.").and_then(|r| r.strip_prefix(service)?.strip_prefix('.')) {
        let method = method_of_local().or_else(|| rest.split('.').next().map(str::to_owned));
        return Place { method, ..Place::default() };
    }
    if channel.starts_with("SRV.") || channel.starts_with("SRVS.") {
        return Place { method: method_of_local(), ..Place::default() };
    }
    // Legacy: Svc|…|SUFFIX.
    let Some(rest) = channel.strip_prefix(sanitize(service).as_str()).and_then(|r| r.strip_prefix('|')) else {
        return Place::default();
    };
    let parts: Vec<&str> = rest.split('|').collect();
    let (first, suffix) = (parts[0], parts[parts.len() - 1]);
    let client_end = match suffix {
        "RES" | "CLAIM" => parts.len() == 2,
        "STR" => parts.len() == 2 && first.starts_with("CLI_"),
        _ => false,
    };
    if client_end {
        Place { method: None, client_id: first.to_owned(), to_client: true }
    } else {
        Place { method: Some(first.to_owned()), ..Place::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel;
    use crate::envelope::{ClaimRequest, Stream, StreamClose, StreamMessage};

    const NO_TOPICS: &[&str] = &[];

    fn decode(channel: &str, frame: Bytes) -> TapEvent {
        TapEvent::decode("Svc", &TapFrame { channel: channel.into(), frame })
    }

    #[test]
    fn methods_and_clients_come_from_every_channel_form() {
        let claim = frame::encode_envelope(&ClaimRequest { request_id: "REQ_1".into(), ..Default::default() }, "");
        let cases = [
            (channel::claim_request_channel("Svc", "CLI_a").legacy, None, "CLI_a"),
            (channel::claim_request_channel("Svc", "CLI_a").server, None, "CLI_a"),
            (channel::request_channel("Svc", "M", &["t"], true).legacy, Some("M"), ""),
            (channel::native_queue_channel("Svc", "M", &["t"]).server, Some("M"), ""),
            (channel::native_queue_channel("Svc", "M", NO_TOPICS).legacy, Some("M"), ""),
            (channel::stream_server_channel("Svc", "M", NO_TOPICS).legacy, Some("M"), ""),
            (channel::stream_client_channel("Svc", "CLI_b").legacy, None, "CLI_b"),
        ];
        for (name, method, client) in cases {
            let event = decode(&name, claim.clone());
            assert_eq!(
                (event.kind, event.method.as_deref(), &*event.client_id),
                (TapKind::Claim, method, client),
                "{name}"
            );
        }
        // On NATS the Local name in the frame names the method.
        let routed = frame::encode_envelope(&ClaimRequest::default(), "Echo.RCLAIM");
        assert_eq!(decode("SRV.Svc.t", routed).method.as_deref(), Some("Echo"));
    }

    #[test]
    fn stream_frames_tell_their_body_direction_and_close_error() {
        let message = |to: &str| {
            let body =
                Some(Body::Message(StreamMessage { raw_message: Bytes::from_static(b"m"), ..Default::default() }));
            decode(to, frame::encode_envelope(&Stream { stream_id: "STR_1".into(), body, ..Default::default() }, ""))
        };
        let to_server = message("Svc|Chat|STR");
        assert_eq!(to_server.kind, TapKind::Stream(StreamFrame::Message));
        assert_eq!(to_server.payload, Some((PayloadType::Input, Bytes::from_static(b"m"))));
        assert_eq!(message("CLI.Svc.CLI_a.STR").payload.map(|p| p.0), Some(PayloadType::Output));
        let close = Stream {
            body: Some(Body::Close(StreamClose { error: "gone".into(), code: "unavailable".into() })),
            ..Default::default()
        };
        let event = decode("Svc|CLI_a|STR", frame::encode_envelope(&close, ""));
        assert_eq!(event.error, Some(("unavailable".into(), "gone".into())));
        assert_eq!(
            decode("Svc|M|STR", frame::encode_envelope(&Stream::default(), "")).kind,
            TapKind::Stream(StreamFrame::Keepalive)
        );
    }

    #[test]
    fn malformed_frames_and_envelopes_are_undecodable_events() {
        for bytes in [&b"\xff"[..], b"", b"\x0a\x02ab\x12\x01"] {
            let event = decode("Svc|M|REQ", Bytes::copy_from_slice(bytes));
            assert_eq!((event.kind, event.size), (TapKind::Undecodable, bytes.len()), "{bytes:?}");
        }
        let bad_envelope = frame::encode_raw_frame(envelope::Response::TYPE_URL, b"\xff\xff", "");
        assert_eq!(decode("Svc|CLI_a|RES", bad_envelope).kind, TapKind::Undecodable);
        let publication = frame::encode_raw_frame("type.googleapis.com/demo.Note", b"\x0a\x01x", "News.REQ");
        let event = decode("SRV.Svc", publication);
        assert_eq!((event.kind, event.method.as_deref()), (TapKind::Publication, Some("News")));
        assert_eq!(decode("Other|M|REQ", frame::encode_envelope(&ClaimRequest::default(), "")).method, None);
    }
}
