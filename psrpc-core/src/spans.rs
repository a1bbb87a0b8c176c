//! `tracing` spans around client calls and server handling.
//!
//! Every client call runs in a `psrpc.call` span and every request or
//! stream a server handles in a `psrpc.handle` span, both at INFO level,
//! with the fields `service`, `method`, `kind` (`single`, `multi`,
//! `stream`), `request_id` and `outcome` (`ok` or the error code); server
//! spans add `server_id` and `caller`, client spans `server_id` once known.
//! With no subscriber (or one that filters them out) a span costs a check
//! of its callsite's interest.

use tracing::Span;
use tracing::field::Empty;

use crate::error::Error;
use crate::info::RpcInfo;

/// The span of one client call.
pub(crate) fn call(info: &RpcInfo, kind: &'static str) -> Span {
    tracing::info_span!(
        "psrpc.call",
        service = %info.service,
        method = %info.method,
        kind,
        request_id = Empty,
        server_id = Empty,
        outcome = Empty,
    )
}

/// The span of one request or stream handled by `server_id`.
pub(crate) fn handle(info: &RpcInfo, kind: &'static str, request_id: &str, caller: &str, server_id: &str) -> Span {
    tracing::info_span!(
        "psrpc.handle",
        service = %info.service,
        method = %info.method,
        kind,
        request_id,
        caller,
        server_id,
        outcome = Empty,
    )
}

/// Records how the work in `span` ended.
pub(crate) fn outcome<T>(span: &Span, outcome: &Result<T, Error>) {
    span.record("outcome", outcome.as_ref().map_or_else(|e| e.code().as_str(), |_| "ok"));
}
