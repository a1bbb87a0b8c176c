//! Static descriptions of services and methods, shared by generated code and
//! the engines.
//!
//! The method kinds ([`MethodInfo`], [`MethodKind`], [`Selection`],
//! [`Delivery`], [`Routing`]), the typed [`Method`] with [`Describes`], and
//! [`Topics`] come from the psrpc-method crate, which the
//! code generator uses too.

use std::borrow::Cow;
use std::sync::Arc;

pub use psrpc_method::{Delivery, Describes, Method, MethodInfo, MethodKind, Routing, Selection, Topics};

use crate::transport::channel::{self, Channel};

/// One call's view of a method: service, method and topics. Handlers get
/// it from [`RequestContext::rpc_info`](crate::context::RequestContext::rpc_info),
/// interceptors and observers as an argument.
///
/// ```
/// use psrpc::{MethodInfo, MethodKind, RpcInfo};
/// static STATS: MethodInfo = MethodInfo::new("GetStats", MethodKind::Multi { topics: true });
/// let info = RpcInfo::new("Rooms".into(), &STATS, vec!["room1".into()]);
/// assert_eq!((&*info.service, &*info.method, info.multi), ("Rooms", "GetStats", true));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RpcInfo {
    /// Service name.
    pub service: Arc<str>,
    /// Method name.
    pub method: Cow<'static, str>,
    /// Topic parts of this call (empty for methods without topics).
    pub topics: Vec<String>,
    /// Whether every server answers.
    pub multi: bool,
}

impl RpcInfo {
    /// Describes a call of `method` of `service` on `topics`.
    ///
    /// ```
    /// use psrpc::{MethodInfo, MethodKind, RpcInfo, Selection};
    /// static GREET: MethodInfo = MethodInfo::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// let info = RpcInfo::new("Greeter".into(), &GREET, vec![]);
    /// assert!(!info.multi && info.topics.is_empty());
    /// ```
    pub fn new(service: Arc<str>, method: &MethodInfo, topics: Vec<String>) -> Self {
        RpcInfo { service, method: method.name.clone(), topics, multi: method.multi() }
    }

    /// The request channel (queue subject when `queue`); names are in
    /// docs/WIRE.md.
    ///
    /// ```
    /// use psrpc::{MethodInfo, MethodKind, RpcInfo, Selection};
    /// static GREET: MethodInfo = MethodInfo::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// let info = RpcInfo::new("Greeter".into(), &GREET, vec![]);
    /// assert_eq!(&*info.request_channel(GREET.queue()).legacy, "Greeter|Greet|REQ");
    /// ```
    pub fn request_channel(&self, queue: bool) -> Channel {
        channel::request_channel(&self.service, &self.method, &self.topics, queue)
    }

    /// The claim-response channel.
    ///
    /// ```
    /// use psrpc::{MethodInfo, MethodKind, RpcInfo, Selection};
    /// static GREET: MethodInfo = MethodInfo::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
    /// let info = RpcInfo::new("Greeter".into(), &GREET, vec![]);
    /// assert_eq!(&*info.claim_response_channel().legacy, "Greeter|Greet|RCLAIM");
    /// ```
    pub fn claim_response_channel(&self) -> Channel {
        channel::claim_response_channel(&self.service, &self.method, &self.topics)
    }

    /// The server-side stream channel.
    ///
    /// ```
    /// use psrpc::{MethodInfo, MethodKind, RpcInfo, Selection};
    /// static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));
    /// let info = RpcInfo::new("Chat".into(), &CHAT, vec![]);
    /// assert_eq!(&*info.stream_server_channel().legacy, "Chat|Chat|STR");
    /// ```
    pub fn stream_server_channel(&self) -> Channel {
        channel::stream_server_channel(&self.service, &self.method, &self.topics)
    }
}
