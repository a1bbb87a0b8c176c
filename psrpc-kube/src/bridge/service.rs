//! What the bridge forwards: a psrpc service name, the gRPC service behind
//! it, and its methods.

use bytes::Bytes;
use http::uri::PathAndQuery;
use psrpc_core::error::{Error, ErrorCode};
use psrpc_core::info::MethodInfo;

/// How a method is forwarded to a pod.
#[derive(Clone, Debug)]
pub(crate) enum MethodKind {
    /// A unary gRPC call per request (single, affinity, multi or topic
    /// method, as the [`MethodInfo`] says).
    Unary,
    /// A bidirectional gRPC stream per psrpc stream.
    Stream,
    /// A server-streaming gRPC call opened on every registered pod, each
    /// message published to the subscribers of a subscription method.
    Feed {
        /// The request that opens the gRPC stream.
        request: Bytes,
        /// The type URL of the published messages.
        type_url: String,
    },
}

/// One forwarded method.
#[derive(Clone, Debug)]
pub(crate) struct BridgedMethod {
    pub(crate) info: MethodInfo,
    pub(crate) topics: Vec<String>,
    pub(crate) grpc_method: String,
    pub(crate) kind: MethodKind,
}

/// A gRPC service served by pods, exposed on the bus as a psrpc service.
///
/// Each method is forwarded to the gRPC method of the same name
/// (`/<grpc service>/<method>`) unless a feed names another; requests and
/// responses pass through as bytes, so the bridge needs no message types.
///
/// ```
/// use psrpc::{MethodInfo, MethodKind, Selection};
/// use psrpc_kube::BridgedService;
/// static SEND: MethodInfo = MethodInfo::new("Send", MethodKind::Unary(Selection::Affinity { topics: false }));
/// static STATS: MethodInfo = MethodInfo::new("Stats", MethodKind::Multi { topics: false });
/// let service = BridgedService::new("Chat", "chat.v1.Chat")
///     .unary(SEND.clone(), vec![])
///     .unary(STATS.clone(), vec![]).forwarded_to("GetStats");
/// assert_eq!(service.name(), "Chat");
/// ```
#[derive(Clone, Debug)]
pub struct BridgedService {
    pub(crate) service: String,
    pub(crate) grpc_service: String,
    pub(crate) methods: Vec<BridgedMethod>,
}

impl BridgedService {
    /// The psrpc service `service` (the bus name clients use) backed by the
    /// gRPC service `grpc_service` (`package.Service`).
    ///
    /// ```
    /// let service = psrpc_kube::BridgedService::new("Chat", "chat.v1.Chat");
    /// assert_eq!(service.name(), "Chat");
    /// ```
    pub fn new(service: impl Into<String>, grpc_service: impl Into<String>) -> Self {
        BridgedService { service: service.into(), grpc_service: grpc_service.into(), methods: Vec::new() }
    }

    /// Forwards a unary method on `topics`. The method's routing decides who
    /// answers: one pod (single, affinity, topic) or every pod (multi).
    ///
    /// ```
    /// use psrpc::{MethodInfo, MethodKind, Selection};
    /// static JOIN: MethodInfo = MethodInfo::new("Join", MethodKind::Unary(Selection::SingleServer));
    /// let service = psrpc_kube::BridgedService::new("Rooms", "rooms.v1.Rooms").unary(JOIN.clone(), vec!["room-1".into()]);
    /// # let _ = service;
    /// ```
    #[must_use]
    pub fn unary(self, method: MethodInfo, topics: Vec<String>) -> Self {
        self.method(method, topics, None, MethodKind::Unary)
    }

    /// Forwards a stream method on `topics` to a bidirectional gRPC stream.
    ///
    /// ```
    /// use psrpc::{MethodInfo, MethodKind, Selection};
    /// static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));
    /// let service = psrpc_kube::BridgedService::new("Chat", "chat.v1.Chat").stream(CHAT.clone(), vec![]);
    /// # let _ = service;
    /// ```
    #[must_use]
    pub fn stream(self, method: MethodInfo, topics: Vec<String>) -> Self {
        self.method(method, topics, None, MethodKind::Stream)
    }

    /// A fan-out subscription: on every registered pod, including pods that
    /// appear later, the bridge calls the server-streaming `grpc_method` with
    /// `request` and publishes each message (of type `type_url`) to the
    /// subscribers of the subscription method `method` on `topics`. Streams
    /// that end or fail are reopened while the pod stays registered.
    ///
    /// ```
    /// use psrpc::{Delivery, MethodInfo, MethodKind};
    /// static EVENTS: MethodInfo = MethodInfo::new("Events", MethodKind::Subscription { delivery: Delivery::Every, topics: false });
    /// let service = psrpc_kube::BridgedService::new("Chat", "chat.v1.Chat").feed(
    ///     EVENTS.clone(),
    ///     vec![],
    ///     "WatchEvents",
    ///     bytes::Bytes::new(), // the encoded request of the gRPC call
    ///     "type.googleapis.com/chat.v1.Event",
    /// );
    /// # let _ = service;
    /// ```
    #[must_use]
    pub fn feed(
        self,
        method: MethodInfo,
        topics: Vec<String>,
        grpc_method: &str,
        request: Bytes,
        type_url: impl Into<String>,
    ) -> Self {
        let kind = MethodKind::Feed { request, type_url: type_url.into() };
        self.method(method, topics, Some(grpc_method), kind)
    }

    /// Forwards the method added last to the gRPC method `grpc_method`
    /// instead of the one of its own name (to serve one gRPC method under
    /// several psrpc routings, say a single and a multi method).
    ///
    /// ```
    /// use psrpc::{MethodInfo, MethodKind, Selection};
    /// static ONE: MethodInfo = MethodInfo::new("Status", MethodKind::Unary(Selection::Queue { topics: false }));
    /// static ALL: MethodInfo = MethodInfo::new("StatusAll", MethodKind::Multi { topics: false });
    /// let service = psrpc_kube::BridgedService::new("Chat", "chat.v1.Chat")
    ///     .unary(ONE.clone(), vec![])
    ///     .unary(ALL.clone(), vec![]).forwarded_to("Status"); // both call /chat.v1.Chat/Status
    /// # let _ = service;
    /// ```
    #[must_use]
    pub fn forwarded_to(mut self, grpc_method: &str) -> Self {
        if let Some(last) = self.methods.last_mut() {
            last.grpc_method = grpc_method.to_owned();
        }
        self
    }

    fn method(mut self, info: MethodInfo, topics: Vec<String>, grpc_method: Option<&str>, kind: MethodKind) -> Self {
        let grpc_method = grpc_method.map_or_else(|| info.name.to_string(), str::to_owned);
        self.methods.push(BridgedMethod { info, topics, grpc_method, kind });
        self
    }

    /// The psrpc service name.
    ///
    /// ```
    /// assert_eq!(psrpc_kube::BridgedService::new("Chat", "chat.v1.Chat").name(), "Chat");
    /// ```
    pub fn name(&self) -> &str {
        &self.service
    }

    /// The gRPC path of `method`, checked.
    pub(crate) fn path(&self, method: &BridgedMethod) -> Result<PathAndQuery, Error> {
        let path = format!("/{}/{}", self.grpc_service, method.grpc_method);
        PathAndQuery::try_from(path.as_str())
            .ok()
            .filter(|p| p.query().is_none())
            .ok_or_else(|| Error::new(ErrorCode::InvalidArgument, format!("invalid gRPC method path {path:?}")))
    }
}
