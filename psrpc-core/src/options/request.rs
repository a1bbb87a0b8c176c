//! [`RequestOptions`]: the options of one call.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{SelectionOptions, debug_fields};
use crate::interceptor::ClientUnaryInterceptor;
use crate::metadata::Metadata;

/// Options of one call.
///
/// One type serves single calls, multi calls and stream opens; each builder
/// says which of them use its setting. Decision: a call given a setting its
/// kind does not use fails at once with `invalid_argument`, naming the
/// setting and the call, before anything is published (rather than one
/// options type per kind, which every generated method signature would have
/// to spell).
///
/// | setting | single | multi | stream open |
/// |---|---|---|---|
/// | [`timeout`](Self::timeout), [`deadline`](Self::deadline) | yes | yes | yes (open and sends) |
/// | [`selection`](Self::selection), [`sticky`](Self::sticky) | claimed methods | no | claimed methods |
/// | [`metadata`](Self::metadata) | yes | yes | yes |
/// | [`expected_responses`](Self::expected_responses), [`expected_servers`](Self::expected_servers) | no | yes | no |
/// | [`unary_interceptor`](Self::unary_interceptor) | yes | no | no |
///
/// "Claimed methods" are those with the claim exchange: queue and affinity
/// methods, not single-server ones. Subscriptions take no `RequestOptions`.
///
/// ```no_run
/// use std::time::Duration;
/// use psrpc::{MethodInfo, MethodKind, Selection};
/// use psrpc_core::options::RequestOptions;
///
/// static GET: MethodInfo = MethodInfo::new("Get", MethodKind::Unary(Selection::Queue { topics: false }));
/// # async fn f(client: psrpc::RpcClient) -> Result<(), psrpc::Error> {
/// let options = RequestOptions::default().timeout(Duration::from_millis(500)).metadata("trace", "abc");
/// let reply = client.request_single::<(), ()>(&GET, vec![], &(), options).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct RequestOptions {
    /// Overrides the client's timeout.
    pub(crate) timeout: Option<Duration>,
    /// The caller's deadline.
    pub(crate) deadline: Option<tokio::time::Instant>,
    /// Overrides the method's default server selection.
    pub(crate) selection: Option<SelectionOptions>,
    /// Metadata sent with the request or stream open.
    pub(crate) metadata: Metadata,
    /// Multi calls: end as soon as this many servers answered.
    pub(crate) expected_responses: Option<usize>,
    /// Multi calls: end as soon as all these servers answered.
    pub(crate) expected_servers: Option<HashSet<String>>,
    /// Single calls: unary interceptors for this call, after the client's.
    pub(crate) unary_interceptors: Vec<Arc<dyn ClientUnaryInterceptor>>,
    /// Single calls and stream opens: the sticky session key.
    pub(crate) sticky: Option<String>,
}

debug_fields!(RequestOptions {
    timeout, deadline, selection, metadata, expected_responses, expected_servers,
    unary_interceptors => unary_interceptors.len(),
    sticky,
});

impl RequestOptions {
    /// Single, multi and stream calls: overrides the client's
    /// [`timeout`](super::ClientOptions::timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc::RequestOptions::default().timeout(Duration::from_millis(500));
    /// assert!(format!("{options:?}").contains("timeout: Some(500ms)"));
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Single, multi and stream calls: the caller's deadline. The call
    /// expires at the earlier of this and `now + timeout`. Default: the
    /// deadline of the calling task, i.e. the request's inside a handler
    /// (see [`deadline`](crate::deadline)).
    ///
    /// ```
    /// use std::time::Duration;
    /// let by = tokio::time::Instant::now() + Duration::from_millis(500);
    /// let options = psrpc::RequestOptions::default().deadline(by);
    /// assert!(format!("{options:?}").contains("deadline: Some("));
    /// ```
    #[must_use]
    pub fn deadline(mut self, deadline: tokio::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Single calls and stream opens of methods with the claim exchange:
    /// overrides the method's default server selection.
    ///
    /// ```
    /// use std::time::Duration;
    /// let selection = psrpc::SelectionOptions::best_affinity(Duration::from_millis(500));
    /// let options = psrpc::RequestOptions::default().selection(selection);
    /// assert!(format!("{options:?}").contains("selection: Some(SelectionOptions {"));
    /// ```
    #[must_use]
    pub fn selection(mut self, selection: SelectionOptions) -> Self {
        self.selection = Some(selection);
        self
    }

    /// Single, multi and stream calls: adds one entry of the metadata sent
    /// with the request or stream open.
    ///
    /// ```
    /// let options = psrpc::RequestOptions::default().metadata("tenant", "acme").metadata("trace", "abc");
    /// assert!(format!("{options:?}").contains(r#""tenant": "acme""#));
    /// ```
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Multi calls: ends once `count` servers answered.
    ///
    /// ```
    /// let options = psrpc::RequestOptions::default().expected_responses(3);
    /// assert!(format!("{options:?}").contains("expected_responses: Some(3)"));
    /// ```
    #[must_use]
    pub fn expected_responses(mut self, count: usize) -> Self {
        self.expected_responses = Some(count);
        self
    }

    /// Multi calls: ends once every server in `servers` answered.
    ///
    /// ```
    /// let options = psrpc::RequestOptions::default().expected_servers(["SRV_a"]);
    /// assert!(format!("{options:?}").contains(r#"expected_servers: Some({"SRV_a"})"#));
    /// ```
    #[must_use]
    pub fn expected_servers(mut self, servers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.expected_servers = Some(servers.into_iter().map(Into::into).collect());
        self
    }

    /// Single calls: adds a unary interceptor for this call, run after the
    /// client's ([`ClientOptions::unary_interceptor`](super::ClientOptions::unary_interceptor)).
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use futures_util::future::BoxFuture;
    /// # use psrpc::{ClientUnaryInterceptor, ClientUnaryNext, Error, Reply, RpcInfo, UnaryCall};
    /// # struct Trace;
    /// # impl ClientUnaryInterceptor for Trace {
    /// #     fn intercept<'a>(&'a self, _: &'a RpcInfo, call: UnaryCall, next: ClientUnaryNext<'a>) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> {
    /// #         next.run(call)
    /// #     }
    /// # }
    /// let options = psrpc::RequestOptions::default().unary_interceptor(Trace);
    /// assert!(format!("{options:?}").contains("unary_interceptors: 1"));
    /// ```
    #[must_use]
    pub fn unary_interceptor(mut self, interceptor: impl ClientUnaryInterceptor) -> Self {
        self.unary_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Single calls and stream opens: a sticky session. Every call with the
    /// same `key` goes to the same server while that server lives; when it
    /// leaves, only its keys move; keys spread evenly over the live servers.
    ///
    /// The server is chosen by rendezvous hashing
    /// ([`sticky_server`](crate::discovery::sticky_server)) over the live,
    /// non-draining servers of the method on its topics, as the client's
    /// [`registry`](super::ClientOptions::registry) knows them, and the call
    /// is delivered by server-id routing (the selection accepts that
    /// server's claim only). It fails `invalid_argument` without a registry,
    /// on multi calls and on single-server methods (no claim exchange to
    /// route by), and `unavailable` when no live server serves the method.
    ///
    /// Decision (queue methods): a unary queue method's request reaches one
    /// server the bus picks, so no claim can route it. A sticky call of a
    /// queue method is therefore sent the way an affinity call is: on the
    /// method's non-queue request channel, which psrpc-rs servers of a queue
    /// method subscribe as well when discovery is on; Go psrpc servers do
    /// not subscribe it, never see the request, and are never chosen (the
    /// registry does not list them). Stream opens reach every server anyway.
    ///
    /// ```no_run
    /// # use psrpc::{MethodInfo, MethodKind, Selection, RequestOptions};
    /// # static GET: MethodInfo = MethodInfo::new("Get", MethodKind::Unary(Selection::Affinity { topics: false }));
    /// # async fn f(client: psrpc::RpcClient) -> Result<(), psrpc::Error> {
    /// // the client was created with ClientOptions::registry
    /// let options = RequestOptions::default().sticky("cart-1234");
    /// let reply = client.request_single::<(), ()>(&GET, vec![], &(), options).await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn sticky(mut self, key: impl Into<String>) -> Self {
        self.sticky = Some(key.into());
        self
    }
}
