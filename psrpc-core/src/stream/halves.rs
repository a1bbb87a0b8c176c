//! The sender and receiver halves of a stream end.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_core::Stream as FuturesStream;
use tokio::sync::mpsc;

use super::StreamCore;
use crate::context::RequestContext;
use crate::error::{Error, ErrorCode};
use crate::options::StreamOptions;
use crate::payload::Payload;

/// What every handle of one stream end shares. Dropping the last handle of
/// a client end closes the stream; a server end is closed by the engine.
pub(super) struct Shared {
    core: Arc<StreamCore>,
    /// The server end's view of the call; `None` on the client end.
    context: Option<RequestContext>,
}

impl Shared {
    pub(super) fn stream_id(&self) -> &str {
        &self.core.stream_id
    }

    pub(super) fn context(&self) -> Option<&RequestContext> {
        self.context.as_ref()
    }

    pub(super) fn err(&self) -> Option<Error> {
        self.core.err()
    }

    pub(super) fn hijack(&self) {
        if self.context.is_some() {
            self.core.hijack();
        }
    }

    pub(super) fn debug(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name).field("stream_id", &self.core.stream_id).field("err", &self.core.err()).finish()
    }

    pub(super) async fn close(&self, cause: Option<Error>) -> Result<(), Error> {
        self.core.close(cause, true).await
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.context.is_none() {
            self.core.end_in_background(Error::stream_closed(), true);
        }
    }
}

pub(super) fn new<Out, In>(
    core: Arc<StreamCore>,
    incoming: mpsc::Receiver<Bytes>,
    context: Option<RequestContext>,
) -> (StreamSender<Out>, StreamReceiver<In>) {
    let shared = Arc::new(Shared { core, context });
    let sender = StreamSender { shared: Arc::clone(&shared), _types: PhantomData };
    let receiver = StreamReceiver { shared, incoming, drained: false, finished: false, _types: PhantomData };
    (sender, receiver)
}

/// The sending half of a stream end, from [`RpcStream::split`](super::RpcStream::split)
/// or [`RpcStream::sender`](super::RpcStream::sender).
///
/// Clones send on the same stream; sends from several tasks at once are
/// each acknowledged on their own. `close` closes the whole stream.
///
/// ```
/// use psrpc_core::stream::{ClientStream, StreamSender};
/// use psrpc_core::{Error, RawPayload};
///
/// async fn ticker(sender: StreamSender<RawPayload>) -> Result<(), Error> {
///     for _ in 0..3 {
///         sender.send(&RawPayload("tick".into())).await?;
///     }
///     sender.close(None).await
/// }
///
/// async fn chat(stream: ClientStream<RawPayload, RawPayload>) -> Result<(), Error> {
///     let (sender, mut receiver) = stream.split();
///     tokio::spawn(ticker(sender));
///     while let Some(reply) = receiver.recv().await? {
///         println!("{} bytes", reply.0.len());
///     }
///     Ok(())
/// }
/// ```
pub struct StreamSender<Out> {
    shared: Arc<Shared>,
    _types: PhantomData<fn(Out)>,
}

impl<Out> Clone for StreamSender<Out> {
    fn clone(&self) -> Self {
        StreamSender { shared: Arc::clone(&self.shared), _types: PhantomData }
    }
}

impl<Out> std::fmt::Debug for StreamSender<Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared().debug("StreamSender", f)
    }
}

impl<Out> StreamSender<Out> {
    fn shared(&self) -> &Shared {
        &self.shared
    }

    super::end_accessors!("StreamSender<RawPayload>");
}

impl<Out: Payload> StreamSender<Out> {
    /// Sends a message; completes when the peer acknowledged it. Fails with
    /// the stream's cause once it has ended, or `deadline_exceeded` when no
    /// ack arrives within the send timeout.
    ///
    /// ```
    /// # use psrpc_core::{stream::StreamSender, Error, RawPayload};
    /// # async fn demo(sender: StreamSender<RawPayload>) -> Result<(), Error> {
    /// sender.send(&RawPayload("hello".into())).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send(&self, message: &Out) -> Result<(), Error> {
        self.send_with(message, StreamOptions::default()).await
    }

    /// Sends a message with options (e.g. a different ack timeout).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use psrpc_core::{options::StreamOptions, stream::StreamSender, Error, RawPayload};
    /// # async fn demo(sender: StreamSender<RawPayload>) -> Result<(), Error> {
    /// let patient = StreamOptions::default().timeout(Duration::from_secs(10));
    /// sender.send_with(&RawPayload("big".into()), patient).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_with(&self, message: &Out, options: StreamOptions) -> Result<(), Error> {
        self.shared().core.send(message.encode_payload(), options).await
    }
}

/// The receiving half of a stream end, from [`RpcStream::split`](super::RpcStream::split).
///
/// Also a [`Stream`](futures_core::Stream) of `Result<In, Error>`: the
/// messages, then the error the stream ended with (if any) as its last item.
///
/// ```
/// use futures_util::StreamExt as _;
/// use psrpc_core::stream::StreamReceiver;
/// use psrpc_core::{Error, RawPayload};
///
/// async fn count(mut receiver: StreamReceiver<RawPayload>) -> Result<usize, Error> {
///     let mut seen = 0;
///     while let Some(message) = receiver.next().await {
///         message?;
///         seen += 1;
///     }
///     Ok(seen)
/// }
/// ```
pub struct StreamReceiver<In> {
    shared: Arc<Shared>,
    incoming: mpsc::Receiver<Bytes>,
    /// No more messages are taken from `incoming` (it ended, or a message
    /// did not decode).
    drained: bool,
    /// The `Stream` impl has yielded its last item.
    finished: bool,
    _types: PhantomData<fn() -> In>,
}

impl<In> std::fmt::Debug for StreamReceiver<In> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared().debug("StreamReceiver", f)
    }
}

impl<In> StreamReceiver<In> {
    pub(super) fn shared(&self) -> &Shared {
        &self.shared
    }

    super::end_accessors!("StreamReceiver<RawPayload>");
}

impl<In: Payload> StreamReceiver<In> {
    /// The next message from the peer: `Ok(Some(message))`, `Ok(None)` once
    /// the stream ended in order, `Err(e)` once it ended with an error (see
    /// the [module documentation](super) for which is which). After the end
    /// every call returns the same answer.
    ///
    /// ```
    /// # use psrpc_core::{stream::StreamReceiver, Error, RawPayload};
    /// # async fn demo(mut receiver: StreamReceiver<RawPayload>) -> Result<(), Error> {
    /// while let Some(message) = receiver.recv().await? {
    ///     println!("{} bytes", message.0.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn recv(&mut self) -> Result<Option<In>, Error> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<In>, Error>> {
        if !self.drained {
            match ready!(self.incoming.poll_recv(cx)) {
                Some(bytes) => match In::decode_payload(bytes) {
                    Ok(message) => return Poll::Ready(Ok(Some(message))),
                    Err(e) => {
                        self.drained = true;
                        // `malformed_request` at either end, as Go psrpc says
                        // (docs/WIRE.md section 8.1).
                        let message = format!("a stream message did not decode: {e}");
                        let failure = Error::new(ErrorCode::MalformedRequest, message);
                        return Poll::Ready(Err(self.shared.core.fail_received(failure)));
                    }
                },
                // The queue ends only once the stream has ended.
                None => self.drained = true,
            }
        }
        Poll::Ready(self.shared.core.outcome().map(|()| None))
    }
}

impl<In: Payload> FuturesStream for StreamReceiver<In> {
    type Item = Result<In, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        match ready!(this.poll_recv(cx)) {
            Ok(Some(message)) => Poll::Ready(Some(Ok(message))),
            Ok(None) => {
                this.finished = true;
                Poll::Ready(None)
            }
            Err(e) => {
                this.finished = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}
