//! Client side of subscriptions: typed streams of published messages.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::engine::ClientInner;
use crate::error::Error;
use crate::info::MethodInfo;
use crate::options::Call;
use crate::payload::Payload;
use crate::transport::bus::Subscription;
use crate::transport::frame;

/// How a subscriber takes part in a queue (`Delivery::Queue`) method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Share {
    /// Join the queue: receive a share of the messages.
    Join,
    /// Watch from outside the queue: receive every message, take none away.
    Observe,
}

/// Subscribes `client` to a subscription method (the body of
/// [`RpcClient::subscribe`](crate::client::RpcClient::subscribe) and
/// [`RpcClient::observe`](crate::client::RpcClient::observe)).
pub(crate) async fn subscribe<M: Payload>(
    client: &ClientInner,
    method: &MethodInfo,
    topics: Vec<String>,
    share: Share,
) -> Result<TypedSubscription<M>, Error> {
    client.ensure_open()?;
    Call::Subscribe.admit(method, client.options.wire_mode, None)?;
    let info = client.rpc_info(method, topics);
    let channel = client.options.wire_mode.request_channel(&info, method);
    let capacity = client.options.channel_capacity;
    let sub = if method.multi() || share == Share::Observe {
        client.bus.subscribe(&channel, capacity).await?
    } else {
        client.bus.subscribe_queue(&channel, capacity).await?
    };
    Ok(TypedSubscription { sub, lost: 0, _message: PhantomData })
}

/// Messages published on a subscription method, decoded. A [`Stream`] that
/// ends when the bus closes; dropping it unsubscribes.
///
/// A subscriber that does not keep up loses messages rather than stalling the
/// bus (see the bus's slow-consumer rule): [`lost`](Self::lost) counts them.
/// Frames that cannot be decoded as `M` are skipped and counted there too.
///
/// ```
/// # use std::sync::Arc;
/// use psrpc::{ClientOptions, Delivery, MethodInfo, MethodKind, RpcClient, RpcServer, ServerOptions, SharedBus};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Tick { #[prost(uint32, tag = "1")] n: u32 }
/// # impl prost::Name for Tick { const NAME: &'static str = "Tick"; const PACKAGE: &'static str = "demo"; }
/// static TICKS: MethodInfo = MethodInfo::new("Ticks", MethodKind::Subscription { delivery: Delivery::Every, topics: false });
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let client = RpcClient::new("Clock", bus.clone(), ClientOptions::default()).await?;
/// let server = RpcServer::new("Clock", bus, ServerOptions::default());
/// use futures_util::StreamExt as _;
/// let ticks = client.subscribe::<Tick>(&TICKS, vec![]).await?;
/// for n in 0..3 {
///     server.publish(&TICKS, vec![], &Tick { n }).await?;
/// }
/// let first: Vec<u32> = ticks.take(3).map(|t| t.n).collect().await; // a `Stream` of messages
/// assert_eq!(first, [0, 1, 2]);
/// # Ok(()) }
/// ```
pub struct TypedSubscription<M> {
    sub: Subscription,
    lost: u64,
    _message: PhantomData<fn() -> M>,
}

impl<M> std::fmt::Debug for TypedSubscription<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedSubscription").field("sub", &self.sub).field("lost", &self.lost).finish()
    }
}

impl<M: Payload> TypedSubscription<M> {
    /// The next message, or `None` once the subscription ended.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Delivery, MethodInfo, MethodKind, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Tick { #[prost(uint32, tag = "1")] n: u32 }
    /// # impl prost::Name for Tick { const NAME: &'static str = "Tick"; const PACKAGE: &'static str = "demo"; }
    /// static TICKS: MethodInfo = MethodInfo::new("Ticks", MethodKind::Subscription { delivery: Delivery::Every, topics: false });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Clock", bus.clone(), ClientOptions::default()).await?;
    /// let server = RpcServer::new("Clock", bus, ServerOptions::default());
    /// let mut ticks = client.subscribe::<Tick>(&TICKS, vec![]).await?;
    /// server.publish(&TICKS, vec![], &Tick { n: 7 }).await?;
    /// assert_eq!(ticks.recv().await, Some(Tick { n: 7 }));
    /// # Ok(()) }
    /// ```
    pub async fn recv(&mut self) -> Option<M> {
        std::future::poll_fn(|cx| self.poll_message(cx)).await
    }

    /// How many messages this subscriber has lost so far: dropped because
    /// its buffer was full (it did not keep up), or undecodable. Losses are
    /// counted in order: when [`recv`](Self::recv) returns a message, every
    /// loss before it is already counted.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{ClientOptions, Delivery, MethodInfo, MethodKind, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Tick { #[prost(uint32, tag = "1")] n: u32 }
    /// # impl prost::Name for Tick { const NAME: &'static str = "Tick"; const PACKAGE: &'static str = "demo"; }
    /// static TICKS: MethodInfo = MethodInfo::new("Ticks", MethodKind::Subscription { delivery: Delivery::Queue, topics: false });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Clock", bus.clone(), ClientOptions::default().channel_capacity(1)).await?;
    /// let mut ticks = client.subscribe::<Tick>(&TICKS, vec![]).await?;
    /// let server = RpcServer::new("Clock", bus, ServerOptions::default());
    /// for n in 0..2 {
    ///     server.publish(&TICKS, vec![], &Tick { n }).await?; // the second finds the buffer full
    /// }
    /// assert_eq!(ticks.recv().await, Some(Tick { n: 0 }));
    /// assert_eq!(ticks.lost(), 1);
    /// # Ok(()) }
    /// ```
    pub fn lost(&self) -> u64 {
        self.lost
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<M>> {
        loop {
            match self.sub.poll_recv(cx) {
                Poll::Ready(Some(Ok(bytes))) => match frame::decode_frame(bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|msg| M::decode_payload(msg.value).map_err(|e| e.to_string()))
                {
                    Ok(m) => return Poll::Ready(Some(m)),
                    Err(e) => {
                        self.lost += 1;
                        tracing::debug!(error = %e, "psrpc subscription: skipping frame");
                    }
                },
                Poll::Ready(Some(Err(e))) => {
                    self.lost += e.dropped().unwrap_or(0);
                    tracing::warn!(error = %e, lost = self.lost, "psrpc subscription: messages lost");
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Unsubscribes (as dropping it does).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Delivery, MethodInfo, MethodKind, RpcClient, RpcServer, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Tick { #[prost(uint32, tag = "1")] n: u32 }
    /// # impl prost::Name for Tick { const NAME: &'static str = "Tick"; const PACKAGE: &'static str = "demo"; }
    /// static TICKS: MethodInfo = MethodInfo::new("Ticks", MethodKind::Subscription { delivery: Delivery::Every, topics: false });
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let client = RpcClient::new("Clock", bus.clone(), ClientOptions::default()).await?;
    /// let server = RpcServer::new("Clock", bus, ServerOptions::default());
    /// let ticks = client.subscribe::<Tick>(&TICKS, vec![]).await?;
    /// ticks.close()?;
    /// server.publish(&TICKS, vec![], &Tick { n: 1 }).await?; // nobody listens: not an error
    /// # Ok(()) }
    /// ```
    pub fn close(self) -> Result<(), Error> {
        drop(self);
        Ok(())
    }
}

impl<M: Payload> Stream for TypedSubscription<M> {
    type Item = M;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<M>> {
        self.get_mut().poll_message(cx)
    }
}
