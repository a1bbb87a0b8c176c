//! Server selection: [`SelectionOptions`] and the [`Claim`]s it chooses from.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{DEFAULT_SELECTION_TIMEOUT, DEFAULT_SHORT_CIRCUIT, debug_fields};
use crate::error::Error;

/// A server's claim of a request, as seen by the selection function.
///
/// ```
/// use psrpc::Claim;
/// let claims = [Claim { server_id: "SRV_a".into(), affinity: 0.2 }, Claim { server_id: "SRV_b".into(), affinity: 0.9 }];
/// let best = claims.iter().max_by(|a, b| a.affinity.total_cmp(&b.affinity)).unwrap();
/// assert_eq!(best.server_id, "SRV_b");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// The claiming server.
    pub server_id: String,
    /// Its affinity for the request.
    pub affinity: f32,
}

/// A custom server selection over the claims received before the deadline:
/// it returns the chosen server's id, or an error that fails the call.
///
/// ```
/// use std::sync::Arc;
/// use psrpc::{Claim, Error, ErrorCode};
/// use psrpc_core::options::SelectionFn;
///
/// // Prefer servers in the caller's zone (their ids start with `SRV_eu`).
/// let pick: SelectionFn = Arc::new(|claims: &[Claim]| {
///     claims.iter().find(|c| c.server_id.starts_with("SRV_eu")).or(claims.first())
///         .map(|c| c.server_id.clone())
///         .ok_or_else(|| Error::new(ErrorCode::Unavailable, "no claims"))
/// });
/// let claims = [Claim { server_id: "SRV_us".into(), affinity: 1.0 }, Claim { server_id: "SRV_eu".into(), affinity: 0.5 }];
/// assert_eq!(pick(&claims).unwrap(), "SRV_eu");
/// ```
pub type SelectionFn = Arc<dyn Fn(&[Claim]) -> Result<String, Error> + Send + Sync>;

/// How the client picks the server among those that claimed a request.
///
/// ```
/// use std::time::Duration;
/// use psrpc_core::options::{RequestOptions, SelectionOptions};
///
/// // Among the claims of the next 500 ms, the best one with an affinity of at least 0.5.
/// let selection = SelectionOptions::default().affinity_timeout(Duration::from_millis(500)).minimum_affinity(0.5);
/// let options = RequestOptions::default().selection(selection);
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct SelectionOptions {
    /// Claims below this affinity are ignored (when > 0).
    pub(crate) minimum_affinity: f32,
    /// A claim at or above this affinity is selected at once (when > 0).
    pub(crate) maximum_affinity: f32,
    /// Select the first qualifying claim.
    pub(crate) accept_first_available: bool,
    /// Deadline for server selection.
    pub(crate) affinity_timeout: Duration,
    /// Deadline after the first qualifying claim.
    pub(crate) short_circuit_timeout: Option<Duration>,
    /// Custom selection over all qualifying claims, run at the deadline.
    pub(crate) selection_fn: Option<SelectionFn>,
    /// Only claims from these servers qualify.
    pub(crate) only_servers: Option<Arc<HashSet<String>>>,
}

debug_fields!(SelectionOptions {
    minimum_affinity, maximum_affinity, accept_first_available, affinity_timeout, short_circuit_timeout,
    selection_fn => selection_fn.is_some(),
    only_servers,
});

impl Default for SelectionOptions {
    fn default() -> Self {
        SelectionOptions {
            minimum_affinity: 0.0,
            maximum_affinity: 0.0,
            accept_first_available: false,
            affinity_timeout: DEFAULT_SELECTION_TIMEOUT,
            short_circuit_timeout: None,
            selection_fn: None,
            only_servers: None,
        }
    }
}

impl SelectionOptions {
    /// Go's defaults for queue methods: the first claim wins.
    ///
    /// ```
    /// use std::time::Duration;
    /// let selection = psrpc::SelectionOptions::first_available(Duration::from_secs(1));
    /// assert!(format!("{selection:?}").contains("accept_first_available: true"));
    /// ```
    pub fn first_available(timeout: Duration) -> Self {
        SelectionOptions::default().accept_first_available(true).affinity_timeout(timeout)
    }

    /// Go's defaults for affinity methods: the best claim within
    /// [`DEFAULT_SHORT_CIRCUIT`] of the first.
    ///
    /// ```
    /// use std::time::Duration;
    /// let selection = psrpc::SelectionOptions::best_affinity(Duration::from_secs(1));
    /// assert!(format!("{selection:?}").contains("short_circuit_timeout: Some(200ms)"));
    /// ```
    pub fn best_affinity(timeout: Duration) -> Self {
        SelectionOptions::default().affinity_timeout(timeout).short_circuit_timeout(DEFAULT_SHORT_CIRCUIT)
    }

    /// Ignores claims below `affinity` (when above 0; default 0).
    ///
    /// ```
    /// let selection = psrpc::SelectionOptions::default().minimum_affinity(0.5);
    /// assert!(format!("{selection:?}").contains("minimum_affinity: 0.5"));
    /// ```
    #[must_use]
    pub fn minimum_affinity(mut self, affinity: f32) -> Self {
        self.minimum_affinity = affinity;
        self
    }

    /// Selects a claim at or above `affinity` at once (when above 0; default 0).
    ///
    /// ```
    /// let selection = psrpc::SelectionOptions::default().maximum_affinity(0.99);
    /// assert!(format!("{selection:?}").contains("maximum_affinity: 0.99"));
    /// ```
    #[must_use]
    pub fn maximum_affinity(mut self, affinity: f32) -> Self {
        self.maximum_affinity = affinity;
        self
    }

    /// Selects the first qualifying claim (default: off).
    ///
    /// ```
    /// let selection = psrpc::SelectionOptions::default().accept_first_available(true);
    /// assert!(format!("{selection:?}").contains("accept_first_available: true"));
    /// ```
    #[must_use]
    pub fn accept_first_available(mut self, accept: bool) -> Self {
        self.accept_first_available = accept;
        self
    }

    /// Sets the selection deadline (default [`DEFAULT_SELECTION_TIMEOUT`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// let selection = psrpc::SelectionOptions::default().affinity_timeout(Duration::from_millis(300));
    /// assert!(format!("{selection:?}").contains("affinity_timeout: 300ms"));
    /// ```
    #[must_use]
    pub fn affinity_timeout(mut self, timeout: Duration) -> Self {
        self.affinity_timeout = timeout;
        self
    }

    /// Sets the deadline after the first qualifying claim (default: none).
    ///
    /// ```
    /// use std::time::Duration;
    /// let selection = psrpc::SelectionOptions::default().short_circuit_timeout(Duration::from_millis(50));
    /// assert!(format!("{selection:?}").contains("short_circuit_timeout: Some(50ms)"));
    /// ```
    #[must_use]
    pub fn short_circuit_timeout(mut self, timeout: Duration) -> Self {
        self.short_circuit_timeout = Some(timeout);
        self
    }

    /// Sets a custom selection over all qualifying claims, run at the
    /// deadline (see [`SelectionFn`]); a panic in it fails the call with
    /// `internal`.
    ///
    /// ```
    /// // Always the last server to claim.
    /// let selection = psrpc::SelectionOptions::default()
    ///     .selection_fn(|claims| claims.last().map(|c| c.server_id.clone()).ok_or_else(psrpc::Error::no_response));
    /// assert!(format!("{selection:?}").contains("selection_fn: true"));
    /// ```
    #[must_use]
    pub fn selection_fn(mut self, f: impl Fn(&[Claim]) -> Result<String, Error> + Send + Sync + 'static) -> Self {
        self.selection_fn = Some(Arc::new(f));
        self
    }

    /// Accepts claims only from `servers` (server-id routing: unicast to one
    /// named server, or to a group such as the pods of one node); with
    /// [`accept_first_available`](Self::accept_first_available) the call goes
    /// to the first of them that claims it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, SelectionOptions, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Ping { #[prost(string, tag = "1")] from: String }
    /// static PING: MethodInfo = MethodInfo::new("Ping", MethodKind::Unary(Selection::Affinity { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let mut servers = Vec::new();
    /// for id in ["SRV_a", "SRV_b"] {
    ///     let server = RpcServer::new("Pinger", bus.clone(), ServerOptions::default().server_id(id));
    ///     server.register_unary(&PING, vec![], move |_: RequestContext, _: Ping| async move { Ok(Ping { from: id.into() }) }, None).await?;
    ///     servers.push(server);
    /// }
    /// let client = RpcClient::new("Pinger", bus, ClientOptions::default()).await?;
    /// let to_b = SelectionOptions::default().only_servers(["SRV_b"]).accept_first_available(true);
    /// let reply = client.request_single::<Ping, Ping>(&PING, vec![], &Ping::default(), RequestOptions::default().selection(to_b)).await?;
    /// assert_eq!(reply.message.from, "SRV_b");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn only_servers(mut self, servers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.only_servers = Some(Arc::new(servers.into_iter().map(Into::into).collect()));
        self
    }
}
