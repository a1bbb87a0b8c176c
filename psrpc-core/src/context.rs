//! What a handler knows about the call it serves.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use crate::info::RpcInfo;
use crate::metadata::{self, Metadata};

/// The incoming side of a call: who called, when, with what metadata, and
/// until when. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RequestContext {
    inner: Arc<ContextInner>,
}

#[derive(Debug)]
struct ContextInner {
    info: Arc<RpcInfo>,
    caller_id: String,
    sent_at: SystemTime,
    metadata: Metadata,
    deadline: Instant,
    server_id: Arc<str>,
}

impl RequestContext {
    /// Builds a context from the wire fields of a request or stream open.
    pub(crate) fn new(
        info: Arc<RpcInfo>,
        caller_id: String,
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
    pub fn rpc_info(&self) -> &RpcInfo {
        &self.inner.info
    }

    /// The id of the calling client (or stream node).
    pub fn caller_id(&self) -> &str {
        &self.inner.caller_id
    }

    /// When the caller sent the request (its clock).
    pub fn sent_at(&self) -> SystemTime {
        self.inner.sent_at
    }

    /// Metadata sent by the caller.
    pub fn metadata(&self) -> &Metadata {
        &self.inner.metadata
    }

    /// When the caller stops waiting (the request expiry).
    pub fn deadline(&self) -> Instant {
        self.inner.deadline
    }

    /// The id of the server handling the call.
    pub fn server_id(&self) -> &str {
        &self.inner.server_id
    }
}
