//! Bidirectional streams, shared by both ends.
//!
//! An [`RpcStream`] sends `Out` and receives `In`. [`RpcStream::split`]
//! turns it into a [`StreamSender`] and a [`StreamReceiver`], so one task
//! can send while another receives; the sender is `Clone`, and
//! [`RpcStream::sender`] hands out a sender without splitting.
//!
//! # How a stream ends, as `recv` tells it
//!
//! `recv` returns `Ok(Some(message))` for each message, in the order the
//! peer sent them, then one of:
//!
//! - `Ok(None)`: the stream ended in order. Either the peer closed it without
//!   a cause (the wire's default close: code `canceled`, message "stream
//!   closed", which is also what a Go psrpc peer sends when it closes
//!   normally), or this end closed it: [`close`](RpcStream::close) from any
//!   handle (whatever the cause given), the last client handle dropped, or,
//!   on the server end, the engine with the handler's result.
//! - `Err(e)`: the stream ended with an error:
//!
//! | what happened | `e` at this end | what the peer's `recv` sees |
//! |---|---|---|
//! | a received message does not decode | `malformed_request` at either end (as Go psrpc, which uses it on both) | the same error |
//! | the peer closed with a cause (a handler returned `Err`, a client closed with `Some(cause)`) | the peer's code and message | `Ok(None)` |
//! | the peer vanished (no keepalive within the expiry) | `unavailable` | (nothing: it is gone) |
//! | the client was closed ([`RpcClient::close`](crate::client::RpcClient::close)) | `canceled`, "client is closed" | the same error |
//! | the server was killed, or its drain timed out | `unavailable`, "EOF" | the same error |
//! | a stream interceptor refused a received message | the interceptor's error | the same error |
//!
//! Messages that arrived before the end are delivered first, except after a
//! message that does not decode: the ones queued behind it are discarded.
//! Once the stream has ended every `recv` returns the same answer again, and
//! [`err`](RpcStream::err) holds the cause (the orderly cause too). A
//! message that does not decode but was still queued when the stream ended
//! in order turns that end into the decode failure (`err` then reports it);
//! an earlier error stands. As a [`Stream`](futures_core::Stream), a stream
//! yields `Ok(message)` items, then the error (if any) as its last item.
//!
//! # Closing and dropping
//!
//! The wire has no half-close: `close` from any handle (the stream, either
//! half, any sender clone) closes the whole stream. The peer is told the
//! cause (default `canceled`, "stream closed"), pending and later sends
//! fail with it, and the receiver returns the messages already queued, then
//! `Ok(None)`. Closing a stream that has already ended returns its cause as
//! an error.
//!
//! - **Client end**: the stream closes without cause when its last handle
//!   is dropped: the stream itself, or, after `split`, every sender and the
//!   receiver. While only the receiver lives, it keeps receiving.
//! - **Server end**: dropping handles does not close the stream; the engine
//!   closes it with the handler's result once the handler returns (`Ok` →
//!   no cause, `Err(e)` → `e`). Halves moved into tasks that outlive the
//!   handler then find the stream closed.
//!
//! On either end, once the receiver is dropped while the stream stays open,
//! messages from the peer are discarded unacknowledged (the peer's `send`
//! fails with `deadline_exceeded`).
//!
//! # Machinery
//!
//! Each end is a shared core. Frames from the peer reach the core through a
//! per-stream channel (fed by the client dispatcher or the server's stream
//! handler); one pump task per stream applies them (acks complete sends,
//! messages are queued for `recv` and acked, a close ends the stream),
//! sends keepalives and expires a vanished peer (see
//! [`StreamKeepalive`](crate::options::StreamKeepalive)).

/// The accessors every handle of a stream end has (the whole stream, the
/// sender, the receiver), written once over the handle's `shared()`;
/// `$handle` is the handle's type in the examples.
macro_rules! end_accessors {
    ($handle:literal) => {
        /// The stream id (`STR_…`).
        ///
        /// ```
        /// # use psrpc_core::{stream::*, RawPayload};
        #[doc = concat!("# fn demo(handle: &", $handle, ") {")]
        /// assert!(handle.stream_id().starts_with("STR_"));
        /// # }
        /// ```
        pub fn stream_id(&self) -> &str {
            self.shared().stream_id()
        }

        /// The server end's view of the call (caller id, metadata); `None`
        /// on the client end.
        ///
        /// ```
        /// # use psrpc_core::{stream::*, RawPayload};
        #[doc = concat!("# fn demo(handle: &", $handle, ") {")]
        /// if let Some(ctx) = handle.context() {
        ///     println!("opened by {}", ctx.caller_id());
        /// }
        /// # }
        /// ```
        pub fn context(&self) -> Option<&$crate::context::RequestContext> {
            self.shared().context()
        }

        /// Closes the whole stream (from any handle), telling the peer
        /// `cause` (default: `canceled`, "stream closed", which the peer
        /// sees as an orderly end). Pending and later sends fail with the
        /// cause; `recv` returns the messages already queued, then
        /// `Ok(None)`. Closing a stream that has already ended returns its
        /// cause as an error.
        ///
        /// ```
        /// # use psrpc_core::{stream::*, Error, ErrorCode, RawPayload};
        #[doc = concat!("# async fn demo(handle: ", $handle, ") -> Result<(), Error> {")]
        /// handle.close(Some(Error::new(ErrorCode::Aborted, "user left"))).await?;
        /// assert!(handle.is_closed());
        /// # Ok(()) }
        /// ```
        pub async fn close(&self, cause: Option<$crate::error::Error>) -> Result<(), $crate::error::Error> {
            self.shared().close(cause).await
        }

        /// Why the stream ended, once it has (the orderly cause included);
        /// once `recv` has returned an error, that error.
        ///
        /// ```
        /// # use psrpc_core::{stream::*, Error, RawPayload};
        #[doc = concat!("# async fn demo(handle: ", $handle, ") -> Result<(), Error> {")]
        /// handle.close(None).await?;
        /// assert_eq!(handle.err(), Some(Error::stream_closed()));
        /// # Ok(()) }
        /// ```
        pub fn err(&self) -> Option<$crate::error::Error> {
            self.shared().err()
        }

        /// Whether the stream has ended (messages may still be queued for
        /// `recv`).
        ///
        /// ```
        /// # use psrpc_core::{stream::*, RawPayload};
        #[doc = concat!("# fn demo(handle: &", $handle, ") {")]
        /// if handle.is_closed() {
        ///     println!("{} ended: {:?}", handle.stream_id(), handle.err());
        /// }
        /// # }
        /// ```
        pub fn is_closed(&self) -> bool {
            self.shared().err().is_some()
        }
    };
}
use end_accessors;

mod announce;
mod core;
mod halves;
mod pump;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream as FuturesStream;
use tokio::sync::mpsc;

pub(crate) use self::announce::{announce, take_announcement};
pub(crate) use self::core::{StreamCore, StreamSetup};
pub use self::halves::{StreamReceiver, StreamSender};
pub(crate) use self::pump::spawn_pump;

use crate::context::RequestContext;
use crate::error::Error;
use crate::options::StreamOptions;
use crate::payload::Payload;

/// One end of a bidirectional stream: sends `Out`, receives `In`.
///
/// See the [module documentation](self) for how a stream ends and what
/// closing and dropping do.
///
/// ```
/// use psrpc_core::stream::ClientStream;
/// use psrpc_core::{Error, RawPayload};
///
/// async fn chat(mut stream: ClientStream<RawPayload, RawPayload>) -> Result<(), Error> {
///     stream.send(&RawPayload("hello".into())).await?;
///     while let Some(reply) = stream.recv().await? {
///         println!("{} bytes", reply.0.len());
///     }
///     Ok(())
/// }
/// ```
pub struct RpcStream<Out, In> {
    sender: StreamSender<Out>,
    receiver: StreamReceiver<In>,
}

/// The client end of a stream, from
/// [`RpcClient::open_stream`](crate::client::RpcClient::open_stream).
///
/// ```
/// use psrpc::{ClientStream, Error, RawPayload};
///
/// async fn upload(stream: ClientStream<RawPayload, RawPayload>, chunks: Vec<bytes::Bytes>) -> Result<(), Error> {
///     for chunk in chunks {
///         stream.send(&RawPayload(chunk)).await?;
///     }
///     stream.close(None).await
/// }
/// ```
pub type ClientStream<Out, In> = RpcStream<Out, In>;

/// The server end of a stream, given to the handler of
/// [`RpcServer::register_stream`](crate::server::RpcServer::register_stream).
///
/// ```
/// use psrpc::{Error, ErrorCode, RawPayload, ServerStream};
///
/// async fn handler(mut stream: ServerStream<RawPayload, RawPayload>) -> Result<(), Error> {
///     let Some(first) = stream.recv().await? else { return Ok(()) };
///     if first.0.is_empty() {
///         return Err(Error::new(ErrorCode::InvalidArgument, "empty hello")); // closes the stream with it
///     }
///     stream.send(&first).await
/// }
/// ```
pub type ServerStream<Out, In> = RpcStream<Out, In>;

impl<Out, In> std::fmt::Debug for RpcStream<Out, In> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared().debug("RpcStream", f)
    }
}

impl<Out, In> RpcStream<Out, In> {
    fn shared(&self) -> &halves::Shared {
        self.receiver.shared()
    }

    end_accessors!("RpcStream<RawPayload, RawPayload>");
}

impl<Out: Payload, In: Payload> RpcStream<Out, In> {
    pub(crate) fn new(core: Arc<StreamCore>, incoming: mpsc::Receiver<Bytes>, context: Option<RequestContext>) -> Self {
        let (sender, receiver) = halves::new(core, incoming, context);
        RpcStream { sender, receiver }
    }

    /// Splits the stream into a sender and a receiver that can be used from
    /// different tasks at the same time.
    ///
    /// On the client end the stream stays open until both halves (every
    /// sender clone and the receiver) are dropped or one of them closes it.
    ///
    /// ```
    /// use psrpc_core::stream::ClientStream;
    /// use psrpc_core::{Error, RawPayload};
    ///
    /// async fn chat(stream: ClientStream<RawPayload, RawPayload>) -> Result<(), Error> {
    ///     let (sender, mut receiver) = stream.split();
    ///     let sending = tokio::spawn(async move {
    ///         for word in ["a", "b", "c"] {
    ///             sender.send(&RawPayload(word.into())).await?;
    ///         }
    ///         Ok::<_, Error>(())
    ///     });
    ///     while let Some(reply) = receiver.recv().await? {
    ///         println!("{} bytes", reply.0.len());
    ///     }
    ///     sending.await.expect("sender task")
    /// }
    /// ```
    pub fn split(self) -> (StreamSender<Out>, StreamReceiver<In>) {
        (self.sender, self.receiver)
    }

    /// A sender for this stream, to send from another task while this
    /// handle keeps receiving (the same as the sender half of
    /// [`split`](Self::split)).
    ///
    /// ```
    /// use psrpc_core::stream::ServerStream;
    /// use psrpc_core::{Error, RawPayload};
    ///
    /// async fn handler(mut stream: ServerStream<RawPayload, RawPayload>) -> Result<(), Error> {
    ///     let sender = stream.sender();
    ///     tokio::spawn(async move { sender.send(&RawPayload("tick".into())).await });
    ///     while let Some(message) = stream.recv().await? {
    ///         println!("{} bytes", message.0.len());
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn sender(&self) -> StreamSender<Out> {
        self.sender.clone()
    }

    /// Sends a message; completes when the peer acknowledged it. Fails with
    /// the stream's cause once it has ended, or `deadline_exceeded` when no
    /// ack arrives within the send timeout.
    ///
    /// ```
    /// # use psrpc_core::{stream::ClientStream, Error, RawPayload};
    /// # async fn demo(stream: ClientStream<RawPayload, RawPayload>) -> Result<(), Error> {
    /// stream.send(&RawPayload("hello".into())).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send(&self, message: &Out) -> Result<(), Error> {
        self.sender.send(message).await
    }

    /// Sends a message with options (e.g. a different ack timeout).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use psrpc_core::{options::StreamOptions, stream::ClientStream, Error, RawPayload};
    /// # async fn demo(stream: ClientStream<RawPayload, RawPayload>) -> Result<(), Error> {
    /// let patient = StreamOptions::default().timeout(Duration::from_secs(10));
    /// stream.send_with(&RawPayload("big".into()), patient).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_with(&self, message: &Out, options: StreamOptions) -> Result<(), Error> {
        self.sender.send_with(message, options).await
    }

    /// The next message from the peer: `Ok(Some(message))`, `Ok(None)` once
    /// the stream ended in order, `Err(e)` once it ended with an error (see
    /// the [module documentation](self) for which is which).
    ///
    /// ```
    /// # use psrpc_core::{stream::ServerStream, Error, RawPayload};
    /// async fn handler(mut stream: ServerStream<RawPayload, RawPayload>) -> Result<(), Error> {
    ///     while let Some(message) = stream.recv().await? {
    ///         stream.send(&message).await?;
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub async fn recv(&mut self) -> Result<Option<In>, Error> {
        self.receiver.recv().await
    }

    /// Hands the stream off (Go psrpc's `ServerStream.Hijack`): the server
    /// handler may return, even with an error, and the stream stays open
    /// until a handle closes it, the peer closes it or vanishes, or the
    /// server is killed or its drain times out. Returns the stream, to move
    /// wherever it lives on. The stream stays the server's work until it
    /// ends: `shutdown` waits
    /// for it. On the client end it changes nothing.
    ///
    /// ```
    /// use psrpc_core::stream::ServerStream;
    /// use psrpc_core::{Error, RawPayload};
    ///
    /// async fn handler(stream: ServerStream<RawPayload, RawPayload>) -> Result<(), Error> {
    ///     let mut stream = stream.hijack();
    ///     tokio::spawn(async move {
    ///         while let Ok(Some(message)) = stream.recv().await {
    ///             let _ = stream.send(&message).await;
    ///         }
    ///     });
    ///     Ok(())
    /// }
    /// ```
    #[must_use = "the stream stays open: keep it, or close it"]
    pub fn hijack(self) -> Self {
        self.shared().hijack();
        self
    }
}

impl<Out: Payload, In: Payload> FuturesStream for RpcStream<Out, In> {
    type Item = Result<In, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.get_mut().receiver).poll_next(cx)
    }
}
