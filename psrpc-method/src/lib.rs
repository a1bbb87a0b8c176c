//! psrpc-method: the shapes a psrpc method can take.
//!
//! One small, dependency-free crate holds the method kinds, so the runtime
//! (psrpc-core, re-exported by `psrpc`) and the code generator (psrpc-codegen,
//! behind `#[psrpc::service]` and psrpc-build) agree on them by construction.
//!
//! A [`MethodKind`] admits only the combinations psrpc can serve:
//!
//! | kind | who handles a request | topics |
//! |---|---|---|
//! | [`MethodKind::Unary`] | one server: [`Selection::Queue`], [`Selection::Affinity`] or [`Selection::SingleServer`] | optional; required by `SingleServer` |
//! | [`MethodKind::Multi`] | every server answers | optional |
//! | [`MethodKind::Stream`] | one server, chosen as for `Unary` | optional; required by `SingleServer` |
//! | [`MethodKind::Subscription`] | [`Delivery::Every`] subscriber or one of a [`Delivery::Queue`] | optional |
//!
//! So a stream cannot be multi, a subscription cannot be a stream or use
//! affinity, and a single-server method always has topics.
//!
//! ```
//! use psrpc_method::{Delivery, MethodInfo, MethodKind, Routing, Selection};
//!
//! static SHARD: MethodInfo = MethodInfo::new("Shard", MethodKind::Unary(Selection::SingleServer));
//! static FEED: MethodInfo =
//!     MethodInfo::new("Feed", MethodKind::Subscription { delivery: Delivery::Every, topics: true });
//!
//! assert!(!SHARD.require_claim() && SHARD.queue() && SHARD.has_topics());
//! assert_eq!(FEED.routing(), Routing::Multi);
//! ```
//!
//! A [`Method`] is a [`MethodInfo`] that also names the request and
//! response types, so the client and server calls infer them; [`Topics`]
//! is what those calls take as topics.

use std::borrow::Cow;

mod topics;
mod typed;

pub use topics::Topics;
pub use typed::{Describes, Method};

/// How requests of a method are routed: the `type` psrpc method option.
///
/// A summary of a [`MethodKind`] (see [`MethodKind::routing`]); it decides
/// the request channel (the queue subject for [`Routing::Queue`]) and how
/// the client picks among servers.
///
/// ```
/// use psrpc_method::{MethodKind, Routing, Selection};
/// assert_eq!(MethodKind::Unary(Selection::Affinity { topics: false }).routing(), Routing::Affinity);
/// assert_eq!(Routing::default(), Routing::Queue);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Routing {
    /// One server of a queue group receives each request.
    #[default]
    Queue,
    /// Every server computes an affinity; the client selects one.
    Affinity,
    /// Every server answers (for subscriptions: every subscriber receives).
    Multi,
}

/// How the one server handling a unary call or a stream is chosen.
///
/// ```
/// use psrpc_method::{MethodInfo, MethodKind, Selection};
/// // Each room is owned by one server: no claim exchange.
/// static JOIN: MethodInfo = MethodInfo::new("Join", MethodKind::Stream(Selection::SingleServer));
/// assert!(JOIN.has_topics() && !JOIN.require_claim());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Selection {
    /// Servers form a queue group; the bus hands each request to one of
    /// them, which claims it.
    Queue {
        /// Requests are addressed to topics.
        topics: bool,
    },
    /// Every server reports its affinity for the request; the client picks
    /// among the claims.
    Affinity {
        /// Requests are addressed to topics.
        topics: bool,
    },
    /// At most one server registers each topic, so no claim exchange is
    /// needed. Always addressed to topics.
    SingleServer,
}

impl Selection {
    /// Whether requests are addressed to topics.
    ///
    /// ```
    /// use psrpc_method::Selection;
    /// assert!(Selection::SingleServer.has_topics());
    /// assert!(!Selection::Queue { topics: false }.has_topics());
    /// ```
    pub const fn has_topics(self) -> bool {
        match self {
            Selection::Queue { topics } | Selection::Affinity { topics } => topics,
            Selection::SingleServer => true,
        }
    }

    /// The routing this selection implies ([`Routing::Queue`] for single-server methods).
    ///
    /// ```
    /// use psrpc_method::{Routing, Selection};
    /// assert_eq!(Selection::SingleServer.routing(), Routing::Queue);
    /// ```
    pub const fn routing(self) -> Routing {
        match self {
            Selection::Queue { .. } | Selection::SingleServer => Routing::Queue,
            Selection::Affinity { .. } => Routing::Affinity,
        }
    }
}

/// Who receives each message published on a subscription method.
///
/// ```
/// use psrpc_method::{Delivery, MethodKind, Routing};
/// let jobs = MethodKind::Subscription { delivery: Delivery::Queue, topics: false };
/// assert_eq!(jobs.routing(), Routing::Queue); // one worker gets each job
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Every subscriber receives every message ([`Routing::Multi`]).
    Every,
    /// Subscribers form a queue group; one of them receives each message
    /// ([`Routing::Queue`]).
    Queue,
}

/// The shape of a method: what a call is and who handles it.
///
/// Only valid combinations are expressible; see the [crate docs](crate) for
/// the table.
///
/// ```
/// use psrpc_method::{MethodKind, Selection};
/// let kind = MethodKind::Stream(Selection::Affinity { topics: false });
/// assert!(kind.is_stream() && !kind.has_topics());
/// ```
///
/// Exhaustive on purpose: the engines and the code generator match on it, so
/// a new kind is a breaking change that every one of them must handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// A request answered by one server.
    Unary(Selection),
    /// A request every server answers; the caller reads the responses as a stream.
    Multi {
        /// Requests are addressed to topics.
        topics: bool,
    },
    /// A bidirectional stream with one server.
    Stream(Selection),
    /// Servers publish, clients subscribe.
    Subscription {
        /// Who receives each message.
        delivery: Delivery,
        /// Messages are addressed to topics.
        topics: bool,
    },
}

impl MethodKind {
    /// The routing of the method's requests (or messages).
    ///
    /// ```
    /// use psrpc_method::{MethodKind, Routing};
    /// assert_eq!(MethodKind::Multi { topics: false }.routing(), Routing::Multi);
    /// ```
    pub const fn routing(self) -> Routing {
        match self {
            MethodKind::Unary(selection) | MethodKind::Stream(selection) => selection.routing(),
            MethodKind::Multi { .. } | MethodKind::Subscription { delivery: Delivery::Every, .. } => Routing::Multi,
            MethodKind::Subscription { delivery: Delivery::Queue, .. } => Routing::Queue,
        }
    }

    /// Whether the method is addressed by topics.
    ///
    /// ```
    /// use psrpc_method::MethodKind;
    /// assert!(MethodKind::Multi { topics: true }.has_topics());
    /// ```
    pub const fn has_topics(self) -> bool {
        match self {
            MethodKind::Unary(selection) | MethodKind::Stream(selection) => selection.has_topics(),
            MethodKind::Multi { topics } | MethodKind::Subscription { topics, .. } => topics,
        }
    }

    /// Whether at most one server serves each topic (no claim exchange).
    ///
    /// ```
    /// use psrpc_method::{MethodKind, Selection};
    /// assert!(MethodKind::Unary(Selection::SingleServer).single_server());
    /// ```
    pub const fn single_server(self) -> bool {
        matches!(self, MethodKind::Unary(Selection::SingleServer) | MethodKind::Stream(Selection::SingleServer))
    }

    /// Whether the method is a bidirectional stream.
    ///
    /// ```
    /// use psrpc_method::{MethodKind, Selection};
    /// assert!(MethodKind::Stream(Selection::Queue { topics: false }).is_stream());
    /// ```
    pub const fn is_stream(self) -> bool {
        matches!(self, MethodKind::Stream(_))
    }

    /// Whether the method is a subscription.
    ///
    /// ```
    /// use psrpc_method::{Delivery, MethodKind};
    /// assert!(MethodKind::Subscription { delivery: Delivery::Queue, topics: false }.is_subscription());
    /// ```
    pub const fn is_subscription(self) -> bool {
        matches!(self, MethodKind::Subscription { .. })
    }

    /// The selection of a unary or stream method; `None` for multi methods
    /// and subscriptions.
    ///
    /// ```
    /// use psrpc_method::{MethodKind, Selection};
    /// assert_eq!(MethodKind::Unary(Selection::SingleServer).selection(), Some(Selection::SingleServer));
    /// assert_eq!(MethodKind::Multi { topics: false }.selection(), None);
    /// ```
    pub const fn selection(self) -> Option<Selection> {
        match self {
            MethodKind::Unary(selection) | MethodKind::Stream(selection) => Some(selection),
            MethodKind::Multi { .. } | MethodKind::Subscription { .. } => None,
        }
    }
}

/// The static description of one method: its wire name and its kind.
///
/// Const-constructible, so generated and hand-written code declare methods
/// as `static`s. Both fields are public: every value of them is a valid
/// method.
///
/// ```
/// use psrpc_method::{MethodInfo, MethodKind, Routing, Selection};
///
/// static INTENSIVE: MethodInfo = MethodInfo::new("IntensiveRPC", MethodKind::Unary(Selection::Affinity { topics: false }));
///
/// assert_eq!(INTENSIVE.name, "IntensiveRPC");
/// assert!(INTENSIVE.affinity_enabled() && INTENSIVE.require_claim() && !INTENSIVE.queue());
/// assert_eq!(INTENSIVE.routing(), Routing::Affinity);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MethodInfo {
    /// Method name as it appears on the wire (e.g. `NormalRPC`).
    pub name: Cow<'static, str>,
    /// The method's shape.
    pub kind: MethodKind,
}

impl MethodInfo {
    /// The method `name` (its wire name) of kind `kind`.
    ///
    /// ```
    /// use psrpc_method::{MethodInfo, MethodKind};
    /// static STATS: MethodInfo = MethodInfo::new("GetStats", MethodKind::Multi { topics: false });
    /// assert!(STATS.multi());
    /// ```
    pub const fn new(name: &'static str, kind: MethodKind) -> Self {
        MethodInfo { name: Cow::Borrowed(name), kind }
    }

    /// The routing of requests (see [`MethodKind::routing`]).
    ///
    /// ```
    /// use psrpc_method::{MethodInfo, MethodKind, Routing, Selection};
    /// let m = MethodInfo::new("A", MethodKind::Stream(Selection::Queue { topics: false }));
    /// assert_eq!(m.routing(), Routing::Queue);
    /// ```
    pub const fn routing(&self) -> Routing {
        self.kind.routing()
    }

    /// Whether servers ask for an affinity score.
    ///
    /// ```
    /// use psrpc_method::{MethodInfo, MethodKind, Selection};
    /// assert!(MethodInfo::new("A", MethodKind::Unary(Selection::Affinity { topics: true })).affinity_enabled());
    /// ```
    pub const fn affinity_enabled(&self) -> bool {
        matches!(self.routing(), Routing::Affinity)
    }

    /// Whether every server answers (for subscriptions: every subscriber receives).
    ///
    /// ```
    /// use psrpc_method::{MethodInfo, MethodKind};
    /// assert!(MethodInfo::new("A", MethodKind::Multi { topics: false }).multi());
    /// ```
    pub const fn multi(&self) -> bool {
        matches!(self.routing(), Routing::Multi)
    }

    /// Whether the claim exchange selects the server: every method that is
    /// neither multi nor single-server.
    ///
    /// ```
    /// use psrpc_method::{MethodInfo, MethodKind, Selection};
    /// assert!(MethodInfo::new("A", MethodKind::Unary(Selection::Queue { topics: false })).require_claim());
    /// assert!(!MethodInfo::new("B", MethodKind::Unary(Selection::SingleServer)).require_claim());
    /// ```
    pub const fn require_claim(&self) -> bool {
        !self.multi() && !self.kind.single_server()
    }

    /// Whether requests go to the queue subject.
    ///
    /// ```
    /// use psrpc_method::{MethodInfo, MethodKind, Selection};
    /// assert!(MethodInfo::new("A", MethodKind::Unary(Selection::SingleServer)).queue());
    /// ```
    pub const fn queue(&self) -> bool {
        matches!(self.routing(), Routing::Queue)
    }

    /// Whether requests are addressed to topics.
    ///
    /// ```
    /// use psrpc_method::{MethodInfo, MethodKind};
    /// assert!(MethodInfo::new("A", MethodKind::Multi { topics: true }).has_topics());
    /// ```
    pub const fn has_topics(&self) -> bool {
        self.kind.has_topics()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape, with the flags Go psrpc derives from its method options.
    #[test]
    fn flags_follow_go_rules() {
        let q = Selection::Queue { topics: false };
        let a = Selection::Affinity { topics: true };
        let cases = [
            // kind, affinity_enabled, multi, require_claim, queue
            (MethodKind::Unary(q), false, false, true, true),
            (MethodKind::Unary(a), true, false, true, false),
            (MethodKind::Unary(Selection::SingleServer), false, false, false, true),
            (MethodKind::Multi { topics: false }, false, true, false, false),
            (MethodKind::Stream(q), false, false, true, true),
            (MethodKind::Stream(a), true, false, true, false),
            (MethodKind::Stream(Selection::SingleServer), false, false, false, true),
            (MethodKind::Subscription { delivery: Delivery::Every, topics: false }, false, true, false, false),
            (MethodKind::Subscription { delivery: Delivery::Queue, topics: false }, false, false, true, true),
        ];
        for (kind, affinity, multi, claim, queue) in cases {
            let m = MethodInfo::new("M", kind);
            assert_eq!(
                (m.affinity_enabled(), m.multi(), m.require_claim(), m.queue()),
                (affinity, multi, claim, queue),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn single_server_always_has_topics() {
        assert!(MethodKind::Stream(Selection::SingleServer).has_topics());
        assert!(MethodKind::Unary(Selection::SingleServer).single_server());
        assert!(!MethodKind::Unary(Selection::Queue { topics: true }).single_server());
        assert!(!MethodKind::Subscription { delivery: Delivery::Queue, topics: false }.has_topics());
    }
}
