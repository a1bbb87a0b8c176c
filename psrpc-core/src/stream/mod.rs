//! Bidirectional streams, shared by both ends.
//!
//! A stream is a [`RpcStream`] handle over a shared core. Frames from the
//! peer reach the core through a per-stream channel (fed by the client
//! dispatcher or the server's stream handler); one pump task per stream
//! applies them (acks complete sends, messages are queued for `recv` and
//! acked, a close ends the stream), sends keepalives and expires a vanished
//! peer (see [`StreamKeepalive`](crate::options::StreamKeepalive)).

mod core;
mod pump;

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream as FuturesStream;
use tokio::sync::mpsc;

pub(crate) use self::core::{StreamCore, StreamSetup};
pub(crate) use self::pump::spawn_pump;

use crate::context::RequestContext;
use crate::error::{Error, ErrorCode};
use crate::options::StreamOptions;
use crate::payload::Payload;

/// One end of a bidirectional stream: sends `Out`, receives `In`.
///
/// Dropping the client end closes the stream (cause: "stream closed"); the
/// server end is closed by the engine with the handler's result.
pub struct RpcStream<Out, In> {
    core: Arc<StreamCore>,
    incoming: mpsc::Receiver<Bytes>,
    context: Option<RequestContext>,
    _types: PhantomData<fn(Out) -> In>,
}

/// The client end of a stream.
pub type ClientStream<Out, In> = RpcStream<Out, In>;

/// The server end of a stream.
pub type ServerStream<Out, In> = RpcStream<Out, In>;

impl<Out, In> std::fmt::Debug for RpcStream<Out, In> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcStream").field("stream_id", &self.core.stream_id).field("err", &self.core.err()).finish()
    }
}

impl<Out: Payload, In: Payload> RpcStream<Out, In> {
    pub(crate) fn new(core: Arc<StreamCore>, incoming: mpsc::Receiver<Bytes>, context: Option<RequestContext>) -> Self {
        RpcStream { core, incoming, context, _types: PhantomData }
    }

    /// The stream id (`STR_…`).
    pub fn stream_id(&self) -> &str {
        &self.core.stream_id
    }

    /// The server end's view of the call (caller id, metadata); `None` on the client end.
    pub fn context(&self) -> Option<&RequestContext> {
        self.context.as_ref()
    }

    /// Sends a message; completes when the peer acknowledged it.
    pub async fn send(&self, message: &Out) -> Result<(), Error> {
        self.send_with(message, StreamOptions::default()).await
    }

    /// Sends a message with options (e.g. a different ack timeout).
    pub async fn send_with(&self, message: &Out, options: StreamOptions) -> Result<(), Error> {
        self.core.send(message.encode_payload(), options).await
    }

    /// The next message from the peer; `None` once the stream is closed
    /// (see [`err`](Self::err) for why).
    pub async fn recv(&mut self) -> Option<In> {
        std::future::poll_fn(|cx| self.poll_message(cx)).await
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<In>> {
        match self.incoming.poll_recv(cx) {
            Poll::Ready(Some(bytes)) => match In::decode_payload(bytes) {
                Ok(m) => Poll::Ready(Some(m)),
                Err(e) => {
                    let err = Error::new(ErrorCode::MalformedRequest, e.to_string());
                    self.core.close_in_background(Some(err));
                    Poll::Ready(None)
                }
            },
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Closes the stream, telling the peer `cause` (default: `canceled`,
    /// "stream closed"). Closing twice returns the first cause as an error.
    pub async fn close(&self, cause: Option<Error>) -> Result<(), Error> {
        self.core.close(cause, true).await
    }

    /// Why the stream closed, once it has.
    pub fn err(&self) -> Option<Error> {
        self.core.err()
    }

    /// Whether the stream is closed.
    pub fn is_closed(&self) -> bool {
        self.core.err().is_some()
    }
}

impl<Out, In> Drop for RpcStream<Out, In> {
    fn drop(&mut self) {
        // Server ends (with a context) are closed by the engine with the handler's result.
        if self.context.is_none() && self.core.err().is_none() {
            self.core.close_in_background(None);
        }
    }
}

impl<Out: Payload, In: Payload> FuturesStream for RpcStream<Out, In> {
    type Item = In;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<In>> {
        self.get_mut().poll_message(cx)
    }
}
