//! Static descriptions of services and methods, shared by generated code and
//! the engines.
//!
//! The method kinds ([`MethodInfo`], [`MethodKind`], [`Selection`],
//! [`Delivery`], [`Routing`]) come from the psrpc-method crate, which the
//! code generator uses too.

use std::borrow::Cow;
use std::sync::Arc;

pub use psrpc_method::{Delivery, MethodInfo, MethodKind, Routing, Selection};

use crate::transport::channel::{self, Channel};

/// One call's view of a method: service, method and topics.
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
    pub fn new(service: Arc<str>, method: &MethodInfo, topics: Vec<String>) -> Self {
        RpcInfo { service, method: method.name.clone(), topics, multi: method.multi() }
    }

    /// The request channel (queue subject when `queue`).
    pub fn request_channel(&self, queue: bool) -> Channel {
        channel::request_channel(&self.service, &self.method, &self.topics, queue)
    }

    /// The claim-response channel.
    pub fn claim_response_channel(&self) -> Channel {
        channel::claim_response_channel(&self.service, &self.method, &self.topics)
    }

    /// The server-side stream channel.
    pub fn stream_server_channel(&self) -> Channel {
        channel::stream_server_channel(&self.service, &self.method, &self.topics)
    }
}
