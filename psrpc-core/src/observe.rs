//! Observing calls: the one interface the engines report to, for metrics
//! and logs.
//!
//! An [`Observer`] installed on a client ([`ClientOptions::observer`]) or a
//! server ([`ServerOptions::observer`]) is called at the points Go psrpc's
//! metrics middleware reports — every unary and multi call, stream opens,
//! sends, receives and closes — and at the server-side points of the claim
//! exchange that middleware cannot see: requests received, requests that
//! expired before they were handled, and how each claim ended. Every method
//! has an empty default; with no observer installed the engines skip the
//! reports entirely (one branch per point).
//!
//! Observers run on the engine's tasks and the caller's. The reports of
//! routing events — [`on_request_expired`], [`on_request_received`] for a
//! request the server claims without an affinity function, [`on_claim`] as
//! the client's decision arrives — may run on the task that delivered the
//! frame (a connection's reader; on the in-process bus, the publisher's
//! task): keep observers quick (count, record into a histogram) and never
//! block.
//!
//! Observers only watch: a panic in one is caught, logged at ERROR (with the
//! service and method) and otherwise ignored; the call, stream or claim goes
//! on with the outcome it had, and the observer hears the next report as
//! usual.
//!
//! [`on_request_expired`]: Observer::on_request_expired
//! [`on_request_received`]: Observer::on_request_received
//! [`on_claim`]: Observer::on_claim
//!
//! [`ClientOptions::observer`]: crate::options::ClientOptions::observer
//! [`ServerOptions::observer`]: crate::options::ServerOptions::observer
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//! use psrpc::observe::{Observer, Role};
//! use psrpc::{Error, RpcInfo};
//!
//! /// Counts failed calls.
//! #[derive(Default)]
//! struct Failures(AtomicUsize);
//!
//! impl Observer for Failures {
//!     fn on_unary(&self, _: Role, _: &RpcInfo, _: Duration, outcome: Result<(), &Error>, _: usize, _: usize) {
//!         if outcome.is_err() {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//!
//! let failures = Arc::new(Failures::default());
//! let options = psrpc::ClientOptions::default().observer(failures.clone());
//! # let _ = options;
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::info::RpcInfo;

/// Which end of a call reports.
///
/// ```
/// use psrpc::observe::Role;
/// fn label(role: Role) -> &'static str {
///     match role {
///         Role::Client => "outgoing",
///         Role::Server => "incoming",
///         _ => "other", // non-exhaustive
///     }
/// }
/// assert_eq!(label(Role::Client), "outgoing");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The calling side.
    Client,
    /// The serving side.
    Server,
}

impl Role {
    /// `"client"` or `"server"` (the label Go psrpc's metrics use).
    ///
    /// ```
    /// assert_eq!(psrpc::observe::Role::Server.as_str(), "server");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

/// How a server's claim for a request ended, reported to
/// [`Observer::on_claim`].
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
/// use psrpc::RpcInfo;
/// use psrpc::observe::{ClaimOutcome, Observer};
///
/// /// Counts claims this server lost to others.
/// #[derive(Default)]
/// struct Lost(AtomicU64);
///
/// impl Observer for Lost {
///     fn on_claim(&self, _: &RpcInfo, outcome: ClaimOutcome, _: Duration) {
///         if outcome == ClaimOutcome::Lost {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
/// # let _ = Lost::default();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaimOutcome {
    /// The client chose this server.
    Won,
    /// The client chose another server.
    Lost,
    /// No decision came before the request expired (or the claim could not
    /// be sent).
    TimedOut,
    /// The server skipped the claim exchange
    /// ([`ServerOptions::skip_claim`](crate::options::ServerOptions::skip_claim)):
    /// it announced the request as handled and ran it at once. Reported with
    /// a zero wait.
    Skipped,
}

impl ClaimOutcome {
    /// `"won"`, `"lost"`, `"timed_out"` or `"skipped"`.
    ///
    /// ```
    /// assert_eq!(psrpc::observe::ClaimOutcome::TimedOut.as_str(), "timed_out");
    /// assert_eq!(psrpc::observe::ClaimOutcome::Skipped.as_str(), "skipped");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimOutcome::Won => "won",
            ClaimOutcome::Lost => "lost",
            ClaimOutcome::TimedOut => "timed_out",
            ClaimOutcome::Skipped => "skipped",
        }
    }
}

/// Receives reports of calls. See the [module docs](self).
///
/// Byte counts are the encoded sizes of the user messages (request,
/// response, stream message), as Go psrpc counts them. A panic in a report
/// changes nothing but the log (see the [module docs](self)).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use psrpc::observe::{Observer, Role};
/// use psrpc::{Error, RpcInfo};
/// # use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Msg { #[prost(string, tag = "1")] text: String }
/// # static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
///
/// /// Counts finished unary calls, per end.
/// #[derive(Default)]
/// struct Calls { client: AtomicUsize, server: AtomicUsize }
///
/// impl Observer for Calls {
///     fn on_unary(&self, role: Role, _: &RpcInfo, _: Duration, _: Result<(), &Error>, _: usize, _: usize) {
///         match role {
///             Role::Client => self.client.fetch_add(1, Ordering::Relaxed),
///             _ => self.server.fetch_add(1, Ordering::Relaxed),
///         };
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let calls = Arc::new(Calls::default());
/// let server = RpcServer::new("Echo", bus.clone(), ServerOptions::default().observer(calls.clone()));
/// server.register_unary(&ECHO, vec![], |_: RequestContext, m: Msg| async move { Ok(m) }, None).await?;
/// let client = RpcClient::new("Echo", bus, ClientOptions::default().observer(calls.clone())).await?;
/// client.request_single::<Msg, Msg>(&ECHO, vec![], &Msg::default(), RequestOptions::default()).await?;
/// assert_eq!(calls.client.load(Ordering::Relaxed), 1);
/// assert_eq!(calls.server.load(Ordering::Relaxed), 1); // reported before the response was sent
/// # Ok(()) }
/// ```
#[allow(unused_variables)]
pub trait Observer: Send + Sync + 'static {
    /// A single-response call ended. Client: the whole call, interceptors
    /// included; server: the interceptors and handler of one request.
    fn on_unary(
        &self,
        role: Role,
        info: &RpcInfo,
        elapsed: Duration,
        outcome: Result<(), &Error>,
        request_bytes: usize,
        response_bytes: usize,
    ) {
    }

    /// A multi call ended. Client: every response it read (`responses`
    /// answered, `errors` failed); server: one server's handling (one
    /// response or one error).
    #[allow(clippy::too_many_arguments)]
    fn on_multi(
        &self,
        role: Role,
        info: &RpcInfo,
        elapsed: Duration,
        responses: usize,
        errors: usize,
        request_bytes: usize,
        response_bytes: usize,
    ) {
    }

    /// A stream was opened (client: the server acknowledged the open;
    /// server: the stream was accepted).
    fn on_stream_open(&self, role: Role, info: &RpcInfo) {}

    /// A stream closed, with its cause.
    fn on_stream_close(&self, role: Role, info: &RpcInfo, cause: &Error) {}

    /// A stream message was sent (acknowledged by the peer) or failed.
    fn on_stream_send(&self, role: Role, info: &RpcInfo, elapsed: Duration, outcome: Result<(), &Error>, bytes: usize) {
    }

    /// A stream message arrived.
    fn on_stream_recv(&self, role: Role, info: &RpcInfo, bytes: usize) {}

    /// Server: a request arrived for a method it serves (before any claim).
    fn on_request_received(&self, info: &RpcInfo) {}

    /// Server: a request arrived after its expiry and was dropped unhandled.
    fn on_request_expired(&self, info: &RpcInfo) {}

    /// Server: a claim ended; `wait` is the time from sending the claim to
    /// the client's decision (or to giving up).
    fn on_claim(&self, info: &RpcInfo, outcome: ClaimOutcome, wait: Duration) {}
}

/// An observer shared by clients and servers.
///
/// ```
/// use std::sync::Arc;
/// use psrpc::observe::{Observer, SharedObserver};
/// struct Nothing;
/// impl Observer for Nothing {}
/// let shared: SharedObserver = Arc::new(Nothing);
/// let client = psrpc::ClientOptions::default().observer(shared.clone());
/// let server = psrpc::ServerOptions::default().observer(shared);
/// # let _ = (client, server);
/// ```
pub type SharedObserver = Arc<dyn Observer>;
