//! The wire mode of a service: Go-compatible (the default) or native.
//!
//! In the Go-compatible mode psrpc-rs speaks Go psrpc's protocol exactly
//! (docs/WIRE.md). That protocol has two costs a fleet without Go peers need
//! not pay:
//!
//! - **Shared queue subjects on NATS.** Every queue method and queue
//!   subscription of a service on the same topics shares one subject and one
//!   queue group. NATS hands a request to any process in the group, so a
//!   process that serves (or queue-subscribes to) only some of those methods
//!   receives, and drops, requests for the others.
//! - **A claim for every queue call.** The bus already hands a queue request
//!   to exactly one server (a NATS queue group, the Redis queue lock, the
//!   in-process round robin), yet the server still bids and waits for the
//!   client's decision: four bus messages per call instead of two.
//!
//! [`WireMode::Native`] removes both: each queue method and queue
//! subscription has a channel of its own
//! ([`native_queue_channel`](crate::transport::channel::native_queue_channel)),
//! and unary calls of queue methods take no claim (the request, then the
//! response).
//!
//! A third cost grows with the fleet: **every server bids for every AFFINITY
//! request**, and hears every decision. In the native mode each server also
//! takes the claimed requests of its unary affinity methods sent to it alone
//! ([`native_server_channels`](crate::transport::channel::native_server_channels)),
//! and a client with a registry asks only a few of them
//! ([`ClientOptions::claim_candidates`](crate::options::ClientOptions::claim_candidates)),
//! widening to every server when it must: a call's bus messages stay the
//! same from one server to hundreds. Everything else (multi and
//! single-server methods, streams, every client-side channel) is named and
//! exchanged as in the Go-compatible mode.
//!
//! Decision: the mode is set per client and per server
//! ([`ClientOptions::wire_mode`](crate::options::ClientOptions::wire_mode),
//! [`ServerOptions::wire_mode`](crate::options::ServerOptions::wire_mode)) and
//! must be the same for every process of a service. Mixing is detected where
//! it can be, and fails loudly rather than silently:
//!
//! - A native server also takes, as one more member of the queue, the
//!   Go-compatible queue channel of each of its unary queue methods, and
//!   answers every request that arrives there (from a Go psrpc client or a
//!   Go-compatible psrpc-rs client) with `failed_precondition` naming the
//!   mismatch. Both Go psrpc and psrpc-rs clients end the call with that
//!   error at once.
//! - A native client's request reaches no Go-compatible server, so its call
//!   ends when its timeout passes, with `deadline_exceeded` and a message
//!   that names the native mode as a cause to check.
//! - Subscriptions are not detected: a native queue subscriber never
//!   receives what a Go-compatible server publishes, and the other way round.
//!
//! ```
//! use std::sync::Arc;
//! use psrpc::{ClientOptions, RpcClient, RpcServer, ServerOptions, SharedBus, WireMode};
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
//! let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
//! // Every client and server of the service use the same mode.
//! let server = RpcServer::new("Jobs", bus.clone(), ServerOptions::default().wire_mode(WireMode::Native));
//! let client = RpcClient::new("Jobs", bus, ClientOptions::default().wire_mode(WireMode::Native)).await?;
//! assert_eq!(WireMode::default(), WireMode::GoCompatible);
//! # drop((server, client)); Ok(()) }
//! ```

use crate::error::{Error, ErrorCode};
use crate::info::{MethodInfo, MethodKind, RpcInfo};
use crate::transport::channel::{self, Channel};

/// How a service's clients and servers use the bus; see the
/// [module docs](self).
///
/// ```
/// use psrpc::{MethodInfo, MethodKind, Selection, WireMode};
/// static WORK: MethodInfo = MethodInfo::new("Work", MethodKind::Unary(Selection::Queue { topics: false }));
/// assert!(WireMode::GoCompatible.require_claim(&WORK));
/// assert!(!WireMode::Native.require_claim(&WORK));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireMode {
    /// Go psrpc's protocol: shares a deployment with Go psrpc 0.7 and 0.8.
    #[default]
    GoCompatible,
    /// Per-method queue channels, no claim for unary queue calls and sampled
    /// claims for unary affinity calls; for fleets in which no Go psrpc
    /// process serves or calls the service.
    Native,
}

impl WireMode {
    /// Whether calls of `method` go through the claim exchange in this mode.
    ///
    /// ```
    /// use psrpc::{MethodInfo, MethodKind, Selection, WireMode};
    /// // Streams and affinity methods claim in both modes.
    /// static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));
    /// assert!(WireMode::Native.require_claim(&CHAT));
    /// ```
    pub fn require_claim(self, method: &MethodInfo) -> bool {
        method.require_claim() && !(self == WireMode::Native && is_unary_queue(method))
    }

    /// Whether claimed calls of `method` may go to a sample of its servers
    /// rather than to all of them
    /// ([`ClientOptions::claim_candidates`](crate::options::ClientOptions::claim_candidates)):
    /// unary AFFINITY methods in the native mode.
    ///
    /// ```
    /// use psrpc::{MethodInfo, MethodKind, Selection, WireMode};
    /// static ROOM: MethodInfo = MethodInfo::new("Room", MethodKind::Unary(Selection::Affinity { topics: true }));
    /// assert!(WireMode::Native.samples_claims(&ROOM));
    /// assert!(!WireMode::GoCompatible.samples_claims(&ROOM));
    /// ```
    pub fn samples_claims(self, method: &MethodInfo) -> bool {
        self == WireMode::Native
            && matches!(method.kind, MethodKind::Unary(_))
            && !method.queue()
            && self.require_claim(method)
    }

    /// The channel requests (or subscription messages) of `method` on
    /// `info`'s topics are published on.
    ///
    /// ```
    /// use psrpc::{MethodInfo, MethodKind, RpcInfo, Selection, WireMode};
    /// static WORK: MethodInfo = MethodInfo::new("Work", MethodKind::Unary(Selection::Queue { topics: false }));
    /// let info = RpcInfo::new("Jobs".into(), &WORK, vec![]);
    /// assert_eq!(&*WireMode::GoCompatible.request_channel(&info, &WORK).server, "SRV.Jobs.Q");
    /// assert_eq!(&*WireMode::Native.request_channel(&info, &WORK).server, "SRVQ.Jobs.Work");
    /// ```
    pub fn request_channel(self, info: &RpcInfo, method: &MethodInfo) -> Channel {
        match self {
            WireMode::Native if method.queue() => {
                channel::native_queue_channel(&info.service, &info.method, &info.topics)
            }
            _ => info.request_channel(method.queue()),
        }
    }

    /// The Go-compatible queue channel a server in this mode watches for
    /// callers in the other mode, if any: only native servers, for unary
    /// queue methods.
    pub(crate) fn mismatch_channel(self, info: &RpcInfo, method: &MethodInfo) -> Option<Channel> {
        (self == WireMode::Native && is_unary_queue(method)).then(|| info.request_channel(true))
    }
}

fn is_unary_queue(method: &MethodInfo) -> bool {
    matches!(method.kind, MethodKind::Unary(_)) && method.queue()
}

/// The error a native server answers a Go-compatible request with.
pub(crate) fn mismatch_error(info: &RpcInfo) -> Error {
    Error::new(
        ErrorCode::FailedPrecondition,
        format!(
            "wire mode mismatch: {}.{} is served in the psrpc-rs native wire mode, and this request came in the \
             Go-compatible mode; give every client and server of the service the same WireMode",
            info.service, info.method
        ),
    )
}

/// The error a native client's call ends with when no server answered.
pub(crate) fn native_timeout_error() -> Error {
    Error::new(
        ErrorCode::DeadlineExceeded,
        "request timed out (native wire mode: if no server ever answers, check that the servers use the native \
         mode too; Go psrpc and Go-compatible servers never receive native requests)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::{Delivery, Selection};

    #[test]
    fn native_mode_drops_the_claim_of_unary_queue_methods_only() {
        let kinds = [
            (MethodKind::Unary(Selection::Queue { topics: true }), false),
            (MethodKind::Unary(Selection::Affinity { topics: false }), true),
            (MethodKind::Unary(Selection::SingleServer), false),
            (MethodKind::Stream(Selection::Queue { topics: false }), true),
            (MethodKind::Multi { topics: false }, false),
            (MethodKind::Subscription { delivery: Delivery::Queue, topics: false }, true),
        ];
        for (kind, native_claims) in kinds {
            let m = MethodInfo::new("M", kind);
            assert_eq!(WireMode::GoCompatible.require_claim(&m), m.require_claim(), "{kind:?}");
            assert_eq!(WireMode::Native.require_claim(&m), native_claims, "{kind:?}");
        }
    }

    #[test]
    fn native_servers_watch_the_go_queue_channel_of_unary_queue_methods() {
        let queue = MethodInfo::new("Q", MethodKind::Unary(Selection::Queue { topics: false }));
        let jobs = MethodInfo::new("J", MethodKind::Subscription { delivery: Delivery::Queue, topics: false });
        let info = |m: &MethodInfo| RpcInfo::new("Svc".into(), m, vec![]);
        assert_eq!(WireMode::Native.mismatch_channel(&info(&queue), &queue), Some(info(&queue).request_channel(true)));
        assert_eq!(WireMode::GoCompatible.mismatch_channel(&info(&queue), &queue), None);
        assert_eq!(WireMode::Native.mismatch_channel(&info(&jobs), &jobs), None);
        // Queue subscriptions still get a channel of their own.
        assert_eq!(&*WireMode::Native.request_channel(&info(&jobs), &jobs).server, "SRVQ.Svc.J");
    }

    #[test]
    fn mismatch_errors_say_what_to_change() {
        let m = MethodInfo::new("Q", MethodKind::Unary(Selection::Queue { topics: false }));
        let e = mismatch_error(&RpcInfo::new("Svc".into(), &m, vec![]));
        assert_eq!(e.code(), ErrorCode::FailedPrecondition);
        assert!(e.message().contains("Svc.Q") && e.message().contains("WireMode"), "{}", e.message());
        assert_eq!(native_timeout_error().code(), ErrorCode::DeadlineExceeded);
    }
}
