//! What a handler knows about the call it serves.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use crate::info::RpcInfo;
use crate::metadata::{self, Metadata};
use crate::transport::shared_str::SharedStr;

/// The incoming side of a call: who called, when, with what metadata, and
/// until when. Cheap to clone.
///
/// ```
/// # use std::sync::Arc;
/// use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Who { #[prost(string, tag = "1")] name: String }
/// static WHO: MethodInfo = MethodInfo::new("WhoAmI", MethodKind::Unary(Selection::Queue { topics: false }));
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
/// let server = RpcServer::new("Id", bus.clone(), ServerOptions::default());
/// let who = |ctx: RequestContext, _: Who| async move {
///     let user = ctx.metadata().get("user").cloned().unwrap_or_default();
///     Ok(Who { name: format!("{user} via {}", ctx.caller_id()) })
/// };
/// server.register_unary(&WHO, vec![], who, None).await?;
///
/// let client = RpcClient::new("Id", bus, ClientOptions::default().client_id("CLI_web")).await?;
/// let options = RequestOptions::default().metadata("user", "ada");
/// let reply = client.request_single::<Who, Who>(&WHO, vec![], &Who::default(), options).await?;
/// assert_eq!(reply.message.name, "ada via CLI_web");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RequestContext {
    inner: Arc<ContextInner>,
}

#[derive(Debug)]
struct ContextInner {
    info: Arc<RpcInfo>,
    caller_id: SharedStr,
    sent_at: SystemTime,
    metadata: Metadata,
    deadline: Instant,
    server_id: Arc<str>,
}

impl RequestContext {
    /// Builds a context from the wire fields of a request or stream open.
    pub(crate) fn new(
        info: Arc<RpcInfo>,
        caller_id: SharedStr,
        sent_at: i64,
        expiry: i64,
        metadata: Metadata,
        server_id: Arc<str>,
    ) -> Self {
        let deadline = crate::deadline::after(metadata::until(expiry));
        let sent_at = metadata::from_unix_nanos(sent_at);
        RequestContext { inner: Arc::new(ContextInner { info, caller_id, sent_at, metadata, deadline, server_id }) }
    }

    /// Service, method and topics of the call.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Msg { #[prost(string, tag = "1")] text: String }
    /// # static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: true }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// # let server = RpcServer::new("Echo", bus.clone(), ServerOptions::default().server_id("SRV_a"));
    /// let handler = |ctx: RequestContext, _: Msg| async move {
    ///     let info = ctx.rpc_info();
    ///     assert_eq!((&*info.service, &*info.method, info.topics.as_slice()), ("Echo", "Echo", &["eu".to_string()][..]));
    ///     Ok(Msg { text: "ok".into() })
    /// };
    /// # server.register_unary(&ECHO, vec!["eu".into()], handler, None).await?;
    /// # let client = RpcClient::new("Echo", bus, ClientOptions::default().client_id("CLI_web")).await?;
    /// # let options = RequestOptions::default().metadata("user", "ada");
    /// # let reply = client.request_single::<Msg, Msg>(&ECHO, vec!["eu".into()], &Msg::default(), options).await?;
    /// # assert_eq!(reply.message.text, "ok");
    /// # Ok(()) }
    /// ```
    pub fn rpc_info(&self) -> &RpcInfo {
        &self.inner.info
    }

    /// The id of the calling client (or stream node).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Msg { #[prost(string, tag = "1")] text: String }
    /// # static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: true }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// # let server = RpcServer::new("Echo", bus.clone(), ServerOptions::default().server_id("SRV_a"));
    /// let handler = |ctx: RequestContext, _: Msg| async move {
    ///     assert_eq!(ctx.caller_id(), "CLI_web");
    ///     Ok(Msg { text: "ok".into() })
    /// };
    /// # server.register_unary(&ECHO, vec!["eu".into()], handler, None).await?;
    /// # let client = RpcClient::new("Echo", bus, ClientOptions::default().client_id("CLI_web")).await?;
    /// # let options = RequestOptions::default().metadata("user", "ada");
    /// # let reply = client.request_single::<Msg, Msg>(&ECHO, vec!["eu".into()], &Msg::default(), options).await?;
    /// # assert_eq!(reply.message.text, "ok");
    /// # Ok(()) }
    /// ```
    pub fn caller_id(&self) -> &str {
        &self.inner.caller_id
    }

    /// When the caller sent the request (its clock).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Msg { #[prost(string, tag = "1")] text: String }
    /// # static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: true }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// # let server = RpcServer::new("Echo", bus.clone(), ServerOptions::default().server_id("SRV_a"));
    /// let handler = |ctx: RequestContext, _: Msg| async move {
    ///     let age = std::time::SystemTime::now().duration_since(ctx.sent_at()).unwrap_or_default();
    ///     assert!(age < std::time::Duration::from_secs(60));
    ///     Ok(Msg { text: "ok".into() })
    /// };
    /// # server.register_unary(&ECHO, vec!["eu".into()], handler, None).await?;
    /// # let client = RpcClient::new("Echo", bus, ClientOptions::default().client_id("CLI_web")).await?;
    /// # let options = RequestOptions::default().metadata("user", "ada");
    /// # let reply = client.request_single::<Msg, Msg>(&ECHO, vec!["eu".into()], &Msg::default(), options).await?;
    /// # assert_eq!(reply.message.text, "ok");
    /// # Ok(()) }
    /// ```
    pub fn sent_at(&self) -> SystemTime {
        self.inner.sent_at
    }

    /// Metadata sent by the caller.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Msg { #[prost(string, tag = "1")] text: String }
    /// # static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: true }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// # let server = RpcServer::new("Echo", bus.clone(), ServerOptions::default().server_id("SRV_a"));
    /// let handler = |ctx: RequestContext, _: Msg| async move {
    ///     assert_eq!(ctx.metadata().get("user").map(String::as_str), Some("ada"));
    ///     Ok(Msg { text: "ok".into() })
    /// };
    /// # server.register_unary(&ECHO, vec!["eu".into()], handler, None).await?;
    /// # let client = RpcClient::new("Echo", bus, ClientOptions::default().client_id("CLI_web")).await?;
    /// # let options = RequestOptions::default().metadata("user", "ada");
    /// # let reply = client.request_single::<Msg, Msg>(&ECHO, vec!["eu".into()], &Msg::default(), options).await?;
    /// # assert_eq!(reply.message.text, "ok");
    /// # Ok(()) }
    /// ```
    pub fn metadata(&self) -> &Metadata {
        &self.inner.metadata
    }

    /// When the caller stops waiting (the request expiry); the handler runs
    /// inside it (see [`deadline`](crate::deadline)).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Msg { #[prost(string, tag = "1")] text: String }
    /// # static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: true }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// # let server = RpcServer::new("Echo", bus.clone(), ServerOptions::default().server_id("SRV_a"));
    /// let handler = |ctx: RequestContext, _: Msg| async move {
    ///     assert!(ctx.deadline() > tokio::time::Instant::now());
    ///     assert_eq!(psrpc::deadline::current(), Some(ctx.deadline()));
    ///     Ok(Msg { text: "ok".into() })
    /// };
    /// # server.register_unary(&ECHO, vec!["eu".into()], handler, None).await?;
    /// # let client = RpcClient::new("Echo", bus, ClientOptions::default().client_id("CLI_web")).await?;
    /// # let options = RequestOptions::default().metadata("user", "ada");
    /// # let reply = client.request_single::<Msg, Msg>(&ECHO, vec!["eu".into()], &Msg::default(), options).await?;
    /// # assert_eq!(reply.message.text, "ok");
    /// # Ok(()) }
    /// ```
    pub fn deadline(&self) -> Instant {
        self.inner.deadline
    }

    /// The id of the server handling the call.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Msg { #[prost(string, tag = "1")] text: String }
    /// # static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: true }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// # let server = RpcServer::new("Echo", bus.clone(), ServerOptions::default().server_id("SRV_a"));
    /// let handler = |ctx: RequestContext, _: Msg| async move {
    ///     assert_eq!(ctx.server_id(), "SRV_a");
    ///     Ok(Msg { text: "ok".into() })
    /// };
    /// # server.register_unary(&ECHO, vec!["eu".into()], handler, None).await?;
    /// # let client = RpcClient::new("Echo", bus, ClientOptions::default().client_id("CLI_web")).await?;
    /// # let options = RequestOptions::default().metadata("user", "ada");
    /// # let reply = client.request_single::<Msg, Msg>(&ECHO, vec!["eu".into()], &Msg::default(), options).await?;
    /// # assert_eq!(reply.message.text, "ok");
    /// # Ok(()) }
    /// ```
    pub fn server_id(&self) -> &str {
        &self.inner.server_id
    }
}
