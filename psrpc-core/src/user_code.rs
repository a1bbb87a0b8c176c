//! The one panic boundary around user code the engines call.
//!
//! Affinity functions, server interceptors, handlers and stream interceptors
//! (on both ends) are called only through these functions: a panic in any
//! of them becomes an `internal` error for that call or stream (or "do not
//! claim" for an affinity function), logged with the method, and never
//! unwinds through an engine task.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;

use crate::error::{Error, ErrorCode};
use crate::info::RpcInfo;

/// Runs `work` (interceptors and handler of one call); a panic anywhere in
/// it, while the future is built or polled, is an `internal` error.
pub(crate) async fn guarded<T>(info: &RpcInfo, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Err(panicked(info, "handler", &*panic)),
    }
}

/// Runs a synchronous piece of user code (a stream interceptor) named
/// `place`; a panic is an `internal` error.
pub(crate) fn guarded_sync<T>(info: &RpcInfo, place: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| Err(panicked(info, place, &*panic)))
}

/// Runs an affinity function; a panic counts as a negative affinity (the
/// server does not claim the request).
pub(crate) fn guarded_affinity(info: &RpcInfo, affinity: impl FnOnce() -> f32) -> f32 {
    std::panic::catch_unwind(AssertUnwindSafe(affinity)).unwrap_or_else(|panic| {
        panicked(info, "affinity function", &*panic);
        -1.0
    })
}

/// Logs a caught panic and returns the error the caller sees.
fn panicked(info: &RpcInfo, place: &str, panic: &(dyn Any + Send)) -> Error {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(service = %info.service, method = %info.method, panic = message, "psrpc: {place} panicked");
    Error::new(ErrorCode::Internal, format!("{place} panicked"))
}
