//! Static descriptions of services and methods, shared by generated code and
//! the engines.

use std::borrow::Cow;
use std::sync::Arc;

use crate::channel::{self, Channel};

/// How requests of a method are routed (the `type` psrpc method option).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Routing {
    /// One server of a queue group receives each request; it claims it.
    #[default]
    Queue,
    /// Every server computes an affinity; the client selects one.
    Affinity,
    /// Every server answers (for subscriptions: every subscriber receives).
    Multi,
}

/// The static shape of one method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MethodInfo {
    /// Method name as it appears on the wire (e.g. `NormalRPC`).
    pub name: Cow<'static, str>,
    /// Routing of requests.
    pub routing: Routing,
    /// A bidirectional stream.
    pub stream: bool,
    /// A subscription (server publishes, clients subscribe).
    pub subscription: bool,
    /// Requests are addressed to topics.
    pub topics: bool,
    /// At most one server per topic: no claim exchange.
    pub single_server: bool,
}

impl MethodInfo {
    /// A queue-routed unary method with no topics.
    pub const fn new(name: &'static str) -> Self {
        MethodInfo {
            name: Cow::Borrowed(name),
            routing: Routing::Queue,
            stream: false,
            subscription: false,
            topics: false,
            single_server: false,
        }
    }

    /// Sets the routing.
    #[must_use]
    pub const fn routing(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
    }

    /// Marks the method as a bidirectional stream.
    #[must_use]
    pub const fn streaming(mut self) -> Self {
        self.stream = true;
        self
    }

    /// Marks the method as a subscription.
    #[must_use]
    pub const fn subscription(mut self) -> Self {
        self.subscription = true;
        self
    }

    /// Marks the method as addressed by topics.
    #[must_use]
    pub const fn with_topics(mut self) -> Self {
        self.topics = true;
        self
    }

    /// Marks a topic method as served by a single server per topic (no claim).
    #[must_use]
    pub const fn single_server(mut self) -> Self {
        self.single_server = true;
        self
    }

    /// Whether servers ask for an affinity score.
    pub fn affinity_enabled(&self) -> bool {
        self.routing == Routing::Affinity
    }

    /// Whether every server answers.
    pub fn multi(&self) -> bool {
        self.routing == Routing::Multi
    }

    /// Whether the claim exchange selects the server.
    pub fn require_claim(&self) -> bool {
        self.routing != Routing::Multi && !self.single_server
    }

    /// Whether requests go to the queue subject.
    pub fn queue(&self) -> bool {
        self.routing == Routing::Queue
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_and_queue_follow_go_rules() {
        let normal = MethodInfo::new("A");
        assert!(normal.require_claim() && normal.queue() && !normal.multi());
        let affinity = MethodInfo::new("B").routing(Routing::Affinity);
        assert!(affinity.require_claim() && !affinity.queue() && affinity.affinity_enabled());
        let multi = MethodInfo::new("C").routing(Routing::Multi);
        assert!(!multi.require_claim() && !multi.queue() && multi.multi());
        let single = MethodInfo::new("D").with_topics().single_server();
        assert!(!single.require_claim() && single.queue());
    }
}
