//! The one panic boundary around user code the engines call.
//!
//! Every user callback the engines call goes through [`catch`] (or
//! [`guarded`], the same for a future): handlers, server and client
//! interceptors, affinity and selection functions, request and response
//! hooks, and observers. A panic never unwinds through an engine task or the
//! task that delivered a frame; it is logged at ERROR with the service, the
//! method, the kind of callback and the panic's message (never a payload),
//! and mapped by what the callback decides:
//!
//! - a handler, an interceptor or a selection function decides the call (or
//!   stream): its panic is an `internal` error for that call or stream only;
//! - an affinity function decides whether to claim: its panic means "do not
//!   claim";
//! - observers and hooks only watch: their panic is logged and swallowed,
//!   and the call goes on with the outcome it had ([`watched`]). Observers
//!   are wrapped once, when a client or server is created
//!   ([`guard_observer`]).
//!
//! Catching costs no allocation: `catch_unwind` around a call.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;

use crate::error::{Error, ErrorCode};
use crate::info::RpcInfo;
use crate::observe::{ClaimOutcome, Observer, Role, SharedObserver};

/// Runs `work` (the interceptors and handler of one call, or a client's
/// interceptor chain), named `place` in the log; a panic anywhere in it,
/// while it is polled, is an `internal` error. User code that builds the
/// future must run inside it (an `async` block or `async fn`), not while
/// the argument is evaluated.
pub(crate) async fn guarded<T>(
    info: &RpcInfo,
    place: &str,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Err(panicked(info, place, &*panic)),
    }
}

/// Runs a synchronous piece of user code named `place`; a panic is an
/// `internal` error. The one place synchronous callbacks are caught.
pub(crate) fn catch<T>(info: &RpcInfo, place: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| Err(panicked(info, place, &*panic)))
}

/// Runs an affinity function; a panic counts as a negative affinity (the
/// server does not claim the request).
pub(crate) fn guarded_affinity(info: &RpcInfo, affinity: impl FnOnce() -> f32) -> f32 {
    catch(info, "affinity function", || Ok(affinity())).unwrap_or(-1.0)
}

/// Runs a callback that only watches (an observer or a hook), named `place`:
/// a panic is logged and otherwise ignored.
pub(crate) fn watched(info: &RpcInfo, place: &str, f: impl FnOnce()) {
    let _ = catch(info, place, || {
        f();
        Ok(())
    });
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

/// `observer`, with every report behind the panic boundary: a panicking
/// observer is logged and changes nothing else.
pub(crate) fn guard_observer(observer: SharedObserver) -> SharedObserver {
    Arc::new(GuardedObserver(observer))
}

/// An observer whose every report is [`watched`].
struct GuardedObserver(SharedObserver);

const OBSERVER: &str = "observer";

impl Observer for GuardedObserver {
    fn on_unary(
        &self,
        role: Role,
        info: &RpcInfo,
        elapsed: Duration,
        outcome: Result<(), &Error>,
        req: usize,
        res: usize,
    ) {
        watched(info, OBSERVER, || self.0.on_unary(role, info, elapsed, outcome, req, res));
    }

    fn on_multi(
        &self,
        role: Role,
        info: &RpcInfo,
        elapsed: Duration,
        ok: usize,
        failed: usize,
        req: usize,
        res: usize,
    ) {
        watched(info, OBSERVER, || self.0.on_multi(role, info, elapsed, ok, failed, req, res));
    }

    fn on_stream_open(&self, role: Role, info: &RpcInfo) {
        watched(info, OBSERVER, || self.0.on_stream_open(role, info));
    }

    fn on_stream_close(&self, role: Role, info: &RpcInfo, cause: &Error) {
        watched(info, OBSERVER, || self.0.on_stream_close(role, info, cause));
    }

    fn on_stream_send(&self, role: Role, info: &RpcInfo, elapsed: Duration, outcome: Result<(), &Error>, bytes: usize) {
        watched(info, OBSERVER, || self.0.on_stream_send(role, info, elapsed, outcome, bytes));
    }

    fn on_stream_recv(&self, role: Role, info: &RpcInfo, bytes: usize) {
        watched(info, OBSERVER, || self.0.on_stream_recv(role, info, bytes));
    }

    fn on_request_received(&self, info: &RpcInfo) {
        watched(info, OBSERVER, || self.0.on_request_received(info));
    }

    fn on_request_expired(&self, info: &RpcInfo) {
        watched(info, OBSERVER, || self.0.on_request_expired(info));
    }

    fn on_claim(&self, info: &RpcInfo, outcome: ClaimOutcome, wait: Duration) {
        watched(info, OBSERVER, || self.0.on_claim(info, outcome, wait));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::info::{MethodInfo, MethodKind, Selection};

    static METHOD: MethodInfo = MethodInfo::new("M", MethodKind::Unary(Selection::Queue { topics: false }));

    fn info() -> RpcInfo {
        RpcInfo::new("S".into(), &METHOD, Vec::new())
    }

    /// Counts every report, then panics.
    #[derive(Default)]
    struct Panics(AtomicUsize);

    impl Panics {
        fn hit(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
            panic!("observer bug");
        }
    }

    impl Observer for Panics {
        fn on_unary(&self, _: Role, _: &RpcInfo, _: Duration, _: Result<(), &Error>, _: usize, _: usize) {
            self.hit();
        }
        fn on_multi(&self, _: Role, _: &RpcInfo, _: Duration, _: usize, _: usize, _: usize, _: usize) {
            self.hit();
        }
        fn on_stream_open(&self, _: Role, _: &RpcInfo) {
            self.hit();
        }
        fn on_stream_close(&self, _: Role, _: &RpcInfo, _: &Error) {
            self.hit();
        }
        fn on_stream_send(&self, _: Role, _: &RpcInfo, _: Duration, _: Result<(), &Error>, _: usize) {
            self.hit();
        }
        fn on_stream_recv(&self, _: Role, _: &RpcInfo, _: usize) {
            self.hit();
        }
        fn on_request_received(&self, _: &RpcInfo) {
            self.hit();
        }
        fn on_request_expired(&self, _: &RpcInfo) {
            self.hit();
        }
        fn on_claim(&self, _: &RpcInfo, _: ClaimOutcome, _: Duration) {
            self.hit();
        }
    }

    #[test]
    fn a_guarded_observer_swallows_a_panic_in_every_report() {
        let inner = Arc::new(Panics::default());
        let guarded = guard_observer(inner.clone());
        let (info, err, d) = (info(), Error::new(ErrorCode::Internal, "x"), Duration::ZERO);
        guarded.on_unary(Role::Client, &info, d, Ok(()), 1, 2);
        guarded.on_multi(Role::Server, &info, d, 1, 0, 1, 2);
        guarded.on_stream_open(Role::Client, &info);
        guarded.on_stream_close(Role::Client, &info, &err);
        guarded.on_stream_send(Role::Server, &info, d, Err(&err), 3);
        guarded.on_stream_recv(Role::Server, &info, 3);
        guarded.on_request_received(&info);
        guarded.on_request_expired(&info);
        guarded.on_claim(&info, ClaimOutcome::Won, d);
        assert_eq!(inner.0.load(Ordering::Relaxed), 9, "every report reached the observer");
    }

    #[test]
    fn a_panic_deciding_a_call_is_internal_and_a_watching_one_is_ignored() {
        let info = info();
        let err = catch::<()>(&info, "selection function", || panic!("bug")).expect_err("caught");
        assert_eq!((err.code(), err.message()), (ErrorCode::Internal, "selection function panicked"));
        assert_eq!(catch(&info, "selection function", || Ok(7)), Ok(7));
        assert_eq!(guarded_affinity(&info, || panic!("bug")), -1.0);
        let mut ran = false;
        watched(&info, "request hook", || {
            ran = true;
            panic!("bug")
        });
        assert!(ran);
    }

    #[tokio::test]
    async fn a_panic_while_a_future_is_polled_is_internal() {
        let work = async {
            tokio::task::yield_now().await;
            panic!("bug");
        };
        let err = guarded::<()>(&info(), "handler", work).await.expect_err("caught");
        assert_eq!((err.code(), err.message()), (ErrorCode::Internal, "handler panicked"));
    }
}
