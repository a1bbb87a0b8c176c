//! Retries: a [`RetryPolicy`] re-runs failed calls with Go psrpc's retry
//! semantics, without ever running twice what a server may already have
//! executed unless the method is declared idempotent.
//!
//! Install it client-wide as a unary interceptor (it is a
//! [`ClientUnaryInterceptor`]) for single and affinity calls, per request
//! with [`RequestOptions::unary_interceptor`](crate::options::RequestOptions::unary_interceptor), or wrap the start of a multi
//! call with [`RetryPolicy::run`].
//!
//! ## The schedule (as Go psrpc's `RetryOptions`)
//! - at most [`max_attempts`](RetryPolicy::max_attempts) attempts, the first
//!   included (default 3);
//! - each attempt runs with a timeout: the first with
//!   [`timeout`](RetryPolicy::timeout) (zero: the call's own timeout), and
//!   each retry with the previous attempt's timeout plus
//!   [`timeout_growth`](RetryPolicy::timeout_growth) (Go's `Backoff`);
//! - no attempt outlives the caller's deadline (the task's, see
//!   [`deadline`](crate::deadline)): attempt timeouts are cut to what is
//!   left of it, and once it has passed no retry starts;
//! - between attempts the policy waits [`wait`](RetryPolicy::wait): none by
//!   default (as Go), or a [`Backoff`] growing by a factor per retry, capped,
//!   and shortened by a random jitter so that clients retrying together
//!   spread out;
//! - an error is retried when [`retryable`](RetryPolicy::retryable) says so:
//!   by default `deadline_exceeded` and `unavailable` (Go's default);
//! - [`parameters`](RetryPolicy::parameters) replaces all of the above with a
//!   function of the error and the attempt number (Go's
//!   `GetRetryParameters`).
//!
//! ## What may have run already
//! A retryable error does not say whether a server ran the request: a
//! `deadline_exceeded` can come after the handler finished and its response
//! was lost. The policy therefore retries only errors that prove no server
//! ran the request — the client's server selection ended with no server
//! chosen (`unavailable`, "no response from servers" or "no servers
//! available"), so no server was told to handle it — unless the method is
//! declared idempotent with [`idempotent`](RetryPolicy::idempotent) (every
//! method) or [`idempotent_methods`](RetryPolicy::idempotent_methods) (by
//! name). This guard applies to custom [`parameters`](RetryPolicy::parameters)
//! too.
//!
//! ```
//! use std::time::Duration;
//! use psrpc::retry::{Backoff, RetryPolicy};
//!
//! let retries = RetryPolicy::default()
//!     .max_attempts(4)
//!     .timeout(Duration::from_millis(500))
//!     .timeout_growth(Duration::from_millis(250))
//!     .wait(Backoff::new(Duration::from_millis(20)).multiplier(2.0).max(Duration::from_millis(200)).jitter(0.2))
//!     .idempotent_methods(["GetRoom", "ListRooms"]);
//! let options = psrpc::ClientOptions::default().unary_interceptor(retries);
//! # let _ = options;
//! ```

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use rand::Rng as _;

use crate::error::{Error, ErrorCode};
use crate::info::RpcInfo;
use crate::interceptor::{ClientUnaryInterceptor, ClientUnaryNext, Reply, UnaryCall};
use crate::options::debug_fields;

/// The parameters of the next attempt, from a custom
/// [`RetryPolicy::parameters`] function.
///
/// ```
/// let first = psrpc::retry::Attempt::default();
/// assert_eq!((first.timeout, first.wait), (None, std::time::Duration::ZERO));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// The attempt's timeout (`None`: the call's own timeout).
    pub timeout: Option<Duration>,
    /// How long to wait before it.
    pub wait: Duration,
}

impl Attempt {
    /// An attempt with `timeout`, after waiting `wait`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let next = psrpc::retry::Attempt::new(Some(Duration::from_millis(100)), Duration::from_millis(500));
    /// assert_eq!(next.wait, Duration::from_millis(500));
    /// ```
    pub fn new(timeout: Option<Duration>, wait: Duration) -> Self {
        Attempt { timeout, wait }
    }
}

/// A wait between attempts that grows by a factor per retry, up to a cap,
/// shortened by a random fraction of itself (the jitter).
///
/// The n-th retry waits `min(initial × multiplierⁿ⁻¹, max) × (1 − jitter × r)`
/// with `r` uniform in `[0, 1)`: jitter never makes a wait longer than the
/// schedule, only spreads clients out below it.
///
/// ```
/// use std::time::Duration;
/// let backoff = psrpc::retry::Backoff::new(Duration::from_millis(100)).multiplier(2.0).max(Duration::from_secs(1));
/// assert_eq!(backoff.delay(5, 0.0), Duration::from_secs(1), "1.6 s capped at 1 s");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The wait before the first retry.
    initial: Duration,
    /// Growth factor per retry (at least 1).
    multiplier: f64,
    /// The longest wait.
    max: Duration,
    /// Fraction of each wait that is random, in `[0, 1]`.
    jitter: f64,
}

impl Backoff {
    /// Waits `initial` before every retry (multiplier 1, no jitter).
    ///
    /// ```
    /// use std::time::Duration;
    /// let backoff = psrpc::retry::Backoff::new(Duration::from_millis(10)).multiplier(2.0);
    /// assert_eq!(backoff.delay(3, 0.0), Duration::from_millis(40));
    /// ```
    pub fn new(initial: Duration) -> Self {
        Backoff { initial, multiplier: 1.0, max: Duration::MAX, jitter: 0.0 }
    }

    /// Sets the growth factor per retry (default 1; values below 1, and
    /// values that are not finite, are stored as 1).
    ///
    /// ```
    /// use std::time::Duration;
    /// let doubling = psrpc::retry::Backoff::new(Duration::from_millis(10)).multiplier(2.0);
    /// assert_eq!(doubling.delay(2, 0.0), Duration::from_millis(20));
    /// ```
    #[must_use]
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() { multiplier.max(1.0) } else { 1.0 };
        self
    }

    /// Sets the longest wait (default: no cap).
    ///
    /// ```
    /// use std::time::Duration;
    /// let capped = psrpc::retry::Backoff::new(Duration::from_secs(5)).max(Duration::from_secs(1));
    /// assert_eq!(capped.delay(1, 0.0), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Sets the random fraction of each wait (default 0; clamped to
    /// `[0, 1]`, and a value that is not finite is stored as 0).
    ///
    /// ```
    /// use std::time::Duration;
    /// let spread = psrpc::retry::Backoff::new(Duration::from_millis(100)).jitter(2.0);
    /// assert!(format!("{spread:?}").contains("jitter: 1.0"), "clamped");
    /// assert_eq!(spread.delay(1, 0.5), Duration::from_millis(50));
    /// ```
    #[must_use]
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
        self
    }

    /// The wait before retry number `retry` (1 for the first retry), for a
    /// random draw `r` in `[0, 1)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let backoff = psrpc::retry::Backoff::new(Duration::from_millis(100)).jitter(0.5);
    /// assert_eq!(backoff.delay(1, 0.0), Duration::from_millis(100));
    /// assert_eq!(backoff.delay(1, 0.5), Duration::from_millis(75));
    /// ```
    pub fn delay(&self, retry: u32, r: f64) -> Duration {
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let grown = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        let capped =
            if grown.is_finite() && grown < self.max.as_secs_f64() { Duration::from_secs_f64(grown) } else { self.max };
        capped.mul_f64(1.0 - self.jitter * r.clamp(0.0, 1.0))
    }
}

/// Decides whether an error is worth another attempt.
///
/// ```
/// use psrpc::{Error, ErrorCode};
/// let only_unavailable: psrpc::retry::RetryableFn = std::sync::Arc::new(|e: &Error| e.code() == ErrorCode::Unavailable);
/// assert!(!only_unavailable(&Error::request_timed_out()));
/// ```
pub type RetryableFn = Arc<dyn Fn(&Error) -> bool + Send + Sync>;

/// Decides the next attempt from the error and the number of the attempt
/// that failed (1 for the first); `None` stops.
///
/// ```
/// use std::time::Duration;
/// use psrpc::retry::{Attempt, ParametersFn};
/// let once: ParametersFn = std::sync::Arc::new(|_, attempt| (attempt == 1).then(|| Attempt::new(None, Duration::ZERO)));
/// assert!(once(&psrpc::Error::no_response(), 2).is_none());
/// ```
pub type ParametersFn = Arc<dyn Fn(&Error, u32) -> Option<Attempt> + Send + Sync>;

/// Which methods may run twice.
#[derive(Clone, Debug, Default)]
enum Idempotent {
    #[default]
    None,
    All,
    Methods(Arc<HashSet<String>>),
}

/// Retries failed calls; see the [module docs](self).
///
/// ```
/// use std::time::Duration;
/// use psrpc::retry::{Backoff, RetryPolicy};
///
/// // Up to 4 attempts of 500 ms, 1 s apart; GetRoom may run twice.
/// let policy = RetryPolicy::default()
///     .max_attempts(4)
///     .timeout(Duration::from_millis(500))
///     .wait(Backoff::new(Duration::from_secs(1)))
///     .idempotent_methods(["GetRoom"]);
/// let options = psrpc::ClientOptions::default().unary_interceptor(policy);
/// assert!(format!("{options:?}").contains("unary_interceptors: 1"));
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    timeout: Duration,
    timeout_growth: Duration,
    wait: Option<Backoff>,
    retryable: RetryableFn,
    parameters: Option<ParametersFn>,
    idempotent: Idempotent,
}

debug_fields!(RetryPolicy {
    max_attempts, timeout, timeout_growth, wait,
    parameters => parameters.is_some(),
    idempotent,
});

impl Default for RetryPolicy {
    /// Three attempts, the call's own timeout, no growth, no wait, Go's
    /// retryable codes, no method idempotent.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            timeout: Duration::ZERO,
            timeout_growth: Duration::ZERO,
            wait: None,
            retryable: Arc::new(retryable_by_default),
            parameters: None,
            idempotent: Idempotent::None,
        }
    }
}

/// Go psrpc's default: `deadline_exceeded` and `unavailable` are worth
/// another attempt.
///
/// ```
/// use psrpc::{Error, ErrorCode};
/// assert!(psrpc::retry::retryable_by_default(&Error::new(ErrorCode::Unavailable, "busy")));
/// assert!(!psrpc::retry::retryable_by_default(&Error::new(ErrorCode::Internal, "bug")));
/// ```
pub fn retryable_by_default(error: &Error) -> bool {
    matches!(error.code(), ErrorCode::DeadlineExceeded | ErrorCode::Unavailable)
}

/// Whether `error` proves that no server ran the request: the client's
/// server selection ended without choosing a server.
///
/// ```
/// use psrpc::Error;
/// assert!(psrpc::retry::never_ran(&Error::no_response()));
/// assert!(!psrpc::retry::never_ran(&Error::request_timed_out()));
/// ```
pub fn never_ran(error: &Error) -> bool {
    let no_server = Error::no_response();
    error.code() == ErrorCode::Unavailable
        && (error.message() == no_server.message() || error.message().starts_with("no servers available"))
}

impl RetryPolicy {
    /// Sets the number of attempts, the first included (default 3; zero is
    /// stored as 1).
    ///
    /// ```
    /// let policy = psrpc::retry::RetryPolicy::default().max_attempts(0);
    /// assert!(format!("{policy:?}").contains("max_attempts: 1"));
    /// ```
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the first attempt's timeout (zero: the call's own).
    ///
    /// ```
    /// let policy = psrpc::retry::RetryPolicy::default().timeout(std::time::Duration::from_millis(300));
    /// # let _ = policy;
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how much longer each retry's timeout is than the attempt before.
    ///
    /// ```
    /// use std::time::Duration;
    /// // 300 ms, then 500 ms, then 700 ms.
    /// let policy = psrpc::retry::RetryPolicy::default().timeout(Duration::from_millis(300)).timeout_growth(Duration::from_millis(200));
    /// # let _ = policy;
    /// ```
    #[must_use]
    pub fn timeout_growth(mut self, growth: Duration) -> Self {
        self.timeout_growth = growth;
        self
    }

    /// Waits between attempts by `backoff`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use psrpc::retry::{Backoff, RetryPolicy};
    /// let policy = RetryPolicy::default().wait(Backoff::new(Duration::from_millis(50)).multiplier(2.0).jitter(0.2));
    /// # let _ = policy;
    /// ```
    #[must_use]
    pub fn wait(mut self, backoff: Backoff) -> Self {
        self.wait = Some(backoff);
        self
    }

    /// Replaces the test for errors worth another attempt.
    ///
    /// ```
    /// use psrpc::ErrorCode;
    /// let policy = psrpc::retry::RetryPolicy::default().retryable(|e| e.code() == ErrorCode::ResourceExhausted);
    /// # let _ = policy;
    /// ```
    #[must_use]
    pub fn retryable(mut self, retryable: impl Fn(&Error) -> bool + Send + Sync + 'static) -> Self {
        self.retryable = Arc::new(retryable);
        self
    }

    /// Decides every retry by `parameters(error, failed_attempt)`, in place of
    /// the attempt count, timeouts, waits and retryable test (the
    /// idempotency guard still applies).
    ///
    /// ```
    /// use std::time::Duration;
    /// use psrpc::retry::{Attempt, RetryPolicy};
    ///
    /// // Retry twice, 500 ms apart, each attempt with 100 ms.
    /// let policy = RetryPolicy::default().parameters(|_error, attempt| {
    ///     (attempt < 3).then(|| Attempt::new(Some(Duration::from_millis(100)), Duration::from_millis(500)))
    /// });
    /// # let _ = policy;
    /// ```
    #[must_use]
    pub fn parameters(mut self, parameters: impl Fn(&Error, u32) -> Option<Attempt> + Send + Sync + 'static) -> Self {
        self.parameters = Some(Arc::new(parameters));
        self
    }

    /// Declares whether every method may run more than once.
    ///
    /// ```
    /// use psrpc::{MethodInfo, MethodKind, RpcInfo, Selection};
    /// let policy = psrpc::retry::RetryPolicy::default().idempotent(true);
    /// let any = RpcInfo::new("Svc".into(), &MethodInfo::new("Put", MethodKind::Unary(Selection::Queue { topics: false })), vec![]);
    /// assert!(policy.is_idempotent(&any));
    /// ```
    #[must_use]
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = if idempotent { Idempotent::All } else { Idempotent::None };
        self
    }

    /// Declares these methods as safe to run more than once, by method name
    /// (`GetRoom`) or service and method (`RoomService.GetRoom`).
    ///
    /// ```
    /// let policy = psrpc::retry::RetryPolicy::default().idempotent_methods(["GetRoom", "RoomService.ListRooms"]);
    /// # let _ = policy;
    /// ```
    #[must_use]
    pub fn idempotent_methods(mut self, methods: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.idempotent = Idempotent::Methods(Arc::new(methods.into_iter().map(Into::into).collect()));
        self
    }

    /// Whether calls of `info` may run more than once.
    ///
    /// ```
    /// use psrpc::{MethodInfo, MethodKind, RpcInfo, Selection};
    /// use psrpc::retry::RetryPolicy;
    ///
    /// let policy = RetryPolicy::default().idempotent_methods(["Rooms.Get"]);
    /// let get = RpcInfo::new("Rooms".into(), &MethodInfo::new("Get", MethodKind::Unary(Selection::Queue { topics: false })), vec![]);
    /// let delete = RpcInfo::new("Rooms".into(), &MethodInfo::new("Delete", MethodKind::Unary(Selection::Queue { topics: false })), vec![]);
    /// assert!(policy.is_idempotent(&get) && !policy.is_idempotent(&delete));
    /// ```
    pub fn is_idempotent(&self, info: &RpcInfo) -> bool {
        match &self.idempotent {
            Idempotent::None => false,
            Idempotent::All => true,
            Idempotent::Methods(methods) => {
                methods.contains(info.method.as_ref())
                    || methods
                        .iter()
                        .any(|m| m.split_once('.').is_some_and(|(s, name)| s == &*info.service && name == info.method))
            }
        }
    }

    /// The next attempt after attempt number `failed` (1 for the first)
    /// ended with `error`, whose timeout was `timeout`; `None` stops.
    fn next(&self, info: &RpcInfo, error: &Error, failed: u32, timeout: Option<Duration>) -> Option<Attempt> {
        if !never_ran(error) && !self.is_idempotent(info) {
            return None;
        }
        if let Some(parameters) = &self.parameters {
            return parameters(error, failed);
        }
        if failed >= self.max_attempts || !(self.retryable)(error) {
            return None;
        }
        let grown = timeout.unwrap_or(Duration::ZERO).saturating_add(self.timeout_growth);
        let wait = self.wait.map_or(Duration::ZERO, |b| b.delay(failed, rand::rng().random::<f64>()));
        Some(Attempt { timeout: (!grown.is_zero()).then_some(grown), wait })
    }

    /// Runs `attempt(timeout)` until it succeeds or the policy stops, and
    /// returns the last outcome. `timeout` is the attempt's timeout (`None`:
    /// the call's own). This is how a multi call is retried: wrap its start.
    ///
    /// ```
    /// # use psrpc::{ClientOptions, MethodInfo, MethodKind, RequestOptions, RpcClient};
    /// # use psrpc::retry::RetryPolicy;
    /// # static ALL: MethodInfo = MethodInfo::new("All", MethodKind::Multi { topics: false });
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: psrpc::SharedBus = std::sync::Arc::new(psrpc::local::LocalBus::new());
    /// # let client = RpcClient::new("Svc", bus, ClientOptions::default()).await?;
    /// let policy = RetryPolicy::default().idempotent(true);
    /// let info = psrpc::RpcInfo::new("Svc".into(), &ALL, vec![]);
    /// let responses = policy
    ///     .run(&info, |timeout| {
    ///         let options = match timeout {
    ///             Some(t) => RequestOptions::default().timeout(t),
    ///             None => RequestOptions::default(),
    ///         };
    ///         client.request_multi::<(), ()>(&ALL, vec![], &(), options)
    ///     })
    ///     .await?;
    /// # drop(responses);
    /// # Ok(()) }
    /// ```
    pub async fn run<T, F, Fut>(&self, info: &RpcInfo, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut(Option<Duration>) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut timeout = (!self.timeout.is_zero()).then(|| crate::deadline::within(self.timeout, None));
        let mut number = 1;
        loop {
            let error = match attempt(timeout).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let Some(next) = self.next(info, &error, number, timeout) else { return Err(error) };
            tracing::debug!(service = %info.service, method = %info.method, attempt = number, %error, "retrying");
            if !next.wait.is_zero() {
                tokio::time::sleep(next.wait).await;
            }
            if crate::deadline::current().is_some_and(|deadline| deadline <= tokio::time::Instant::now()) {
                return Err(error);
            }
            timeout = next.timeout.map(|t| crate::deadline::within(t, None));
            number += 1;
        }
    }
}

impl ClientUnaryInterceptor for RetryPolicy {
    fn intercept<'a>(
        &'a self,
        info: &'a RpcInfo,
        call: UnaryCall,
        next: ClientUnaryNext<'a>,
    ) -> BoxFuture<'a, Result<Reply<Bytes>, Error>> {
        async move {
            self.run(info, |timeout| {
                let mut attempt = call.clone();
                if let Some(timeout) = timeout {
                    attempt.timeout = timeout;
                }
                next.run(attempt)
            })
            .await
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::*;
    use crate::info::{MethodInfo, MethodKind, Selection};

    fn info(method: &'static str) -> RpcInfo {
        RpcInfo::new(
            "Rooms".into(),
            &MethodInfo::new(method, MethodKind::Unary(Selection::Queue { topics: false })),
            vec![],
        )
    }

    /// Calls `policy` as the interceptor of a unary call whose attempts end
    /// with `outcomes` in turn; returns each attempt's start and timeout.
    async fn attempts(
        policy: &RetryPolicy,
        info: &RpcInfo,
        outcomes: Vec<Result<(), Error>>,
    ) -> (Result<Reply<Bytes>, Error>, Vec<(Duration, Duration)>) {
        let start = Instant::now();
        let seen = Mutex::new(Vec::new());
        let outcomes = Mutex::new(outcomes.into_iter());
        let terminal = |call: UnaryCall| -> BoxFuture<'_, Result<Reply<Bytes>, Error>> {
            seen.lock().unwrap().push((start.elapsed(), call.timeout));
            let outcome = outcomes.lock().unwrap().next().expect("more attempts than outcomes");
            async move { outcome.map(|()| Reply { message: Bytes::from_static(b"ok"), server_id: "SRV_1".into() }) }
                .boxed()
        };
        let next = ClientUnaryNext { info, chain: &[], terminal: &terminal };
        let call = UnaryCall::new(Bytes::new(), OWN);
        let result = policy.intercept(info, call, next).await;
        (result, seen.into_inner().unwrap())
    }

    fn timed_out() -> Result<(), Error> {
        Err(Error::request_timed_out())
    }

    const MS: Duration = Duration::from_millis(1);
    /// The call's own timeout.
    const OWN: Duration = Duration::from_secs(3);

    #[tokio::test(start_paused = true)]
    async fn success_takes_one_attempt_with_the_first_timeout() {
        let policy = RetryPolicy::default().timeout(100 * MS).timeout_growth(200 * MS).idempotent(true);
        let (result, seen) = attempts(&policy, &info("Get"), vec![Ok(())]).await;
        assert!(result.is_ok());
        assert_eq!(seen, vec![(Duration::ZERO, 100 * MS)]);
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_failures_grow_the_timeout_until_the_attempts_run_out() {
        let policy = RetryPolicy::default().timeout(100 * MS).timeout_growth(200 * MS).idempotent(true);
        let (result, seen) = attempts(&policy, &info("Get"), vec![timed_out(), timed_out(), timed_out()]).await;
        assert_eq!(result.unwrap_err(), Error::request_timed_out());
        let timeouts: Vec<_> = seen.iter().map(|(_, t)| *t).collect();
        assert_eq!(timeouts, vec![100 * MS, 300 * MS, 500 * MS]);
        assert!(seen.iter().all(|(at, _)| at.is_zero()), "no wait by default: {seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn zero_timeout_keeps_the_calls_own_until_growth_sets_one() {
        let policy = RetryPolicy::default().timeout_growth(200 * MS).idempotent(true);
        let (_, seen) = attempts(&policy, &info("Get"), vec![timed_out(), timed_out(), Ok(())]).await;
        let timeouts: Vec<_> = seen.iter().map(|(_, t)| *t).collect();
        assert_eq!(timeouts, vec![OWN, 200 * MS, 400 * MS]);
    }

    #[tokio::test(start_paused = true)]
    async fn errors_not_retryable_end_the_call_at_once() {
        let policy = RetryPolicy::default().idempotent(true);
        let internal = Error::new(ErrorCode::Internal, "bug");
        let (result, seen) = attempts(&policy, &info("Get"), vec![Err(internal.clone())]).await;
        assert_eq!(result.unwrap_err(), internal);
        assert_eq!(seen.len(), 1);

        let everything = RetryPolicy::default().idempotent(true).retryable(|_| true);
        let (result, seen) = attempts(&everything, &info("Get"), vec![Err(internal), Ok(())]).await;
        assert!(result.is_ok());
        assert_eq!(seen.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn custom_parameters_set_each_timeout_and_wait() {
        let policy = RetryPolicy::default()
            .idempotent(true)
            .parameters(|_, attempt| (attempt < 3).then(|| Attempt::new(Some(100 * MS), 500 * MS)));
        let (_, seen) = attempts(&policy, &info("Get"), vec![timed_out(), timed_out(), timed_out()]).await;
        assert_eq!(seen, vec![(Duration::ZERO, OWN), (500 * MS, 100 * MS), (1000 * MS, 100 * MS)]);
    }

    #[tokio::test(start_paused = true)]
    async fn what_a_server_may_have_run_is_retried_only_when_idempotent() {
        let cautious = RetryPolicy::default();
        let (_, seen) = attempts(&cautious, &info("Delete"), vec![timed_out()]).await;
        assert_eq!(seen.len(), 1, "a timeout may come after the handler ran");
        let unavailable = Err(Error::new(ErrorCode::Unavailable, "handler says busy"));
        let (_, seen) = attempts(&cautious, &info("Delete"), vec![unavailable]).await;
        assert_eq!(seen.len(), 1, "a server's own unavailable came from a handler");
        // Parameters cannot lift the guard either.
        let eager = RetryPolicy::default().parameters(|_, _| Some(Attempt::default()));
        let (_, seen) = attempts(&eager, &info("Delete"), vec![timed_out()]).await;
        assert_eq!(seen.len(), 1);

        // No server chosen: nothing ran, so even a non-idempotent call retries.
        let outcomes = vec![Err(Error::no_response()), Err(Error::no_server_available(2)), Ok(())];
        let (result, seen) = attempts(&cautious, &info("Delete"), outcomes).await;
        assert!(result.is_ok());
        assert_eq!(seen.len(), 3);

        let by_name = RetryPolicy::default().idempotent_methods(["Get", "Other.Delete"]);
        let (_, seen) = attempts(&by_name, &info("Get"), vec![timed_out(), Ok(())]).await;
        assert_eq!(seen.len(), 2);
        let (_, seen) = attempts(&by_name, &info("Delete"), vec![timed_out()]).await;
        assert_eq!(seen.len(), 1, "Other.Delete names another service");
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_waits_grow_by_the_multiplier_up_to_the_cap() {
        let backoff = Backoff::new(100 * MS).multiplier(2.0).max(300 * MS);
        let policy = RetryPolicy::default().max_attempts(5).wait(backoff).idempotent(true);
        let (_, seen) = attempts(&policy, &info("Get"), vec![timed_out(); 5]).await;
        let starts: Vec<_> = seen.iter().map(|(at, _)| *at).collect();
        // Waits 100, 200, 300 (capped), 300.
        assert_eq!(starts, vec![Duration::ZERO, 100 * MS, 300 * MS, 600 * MS, 900 * MS]);
    }

    #[tokio::test(start_paused = true)]
    async fn no_attempt_outlives_the_callers_deadline() {
        let policy = RetryPolicy::default()
            .max_attempts(10)
            .timeout(100 * MS)
            .timeout_growth(100 * MS)
            .wait(Backoff::new(100 * MS))
            .idempotent(true);
        let deadline = Instant::now() + 250 * MS;
        let (result, seen) =
            crate::deadline::scope(deadline, attempts(&policy, &info("Get"), vec![timed_out(); 10])).await;
        assert_eq!(result.unwrap_err(), Error::request_timed_out());
        // Timeouts 100, 200 and 300 ms, cut to what is left of the 250 ms;
        // at 300 ms the deadline has passed and no fourth attempt starts.
        assert_eq!(seen, vec![(Duration::ZERO, 100 * MS), (100 * MS, 150 * MS), (200 * MS, 50 * MS)]);
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_only_shortens_waits() {
        let backoff = Backoff::new(100 * MS).multiplier(2.0).jitter(0.5);
        let policy = RetryPolicy::default().max_attempts(4).wait(backoff).idempotent(true);
        for _ in 0..20 {
            let (_, seen) = attempts(&policy, &info("Get"), vec![timed_out(); 4]).await;
            for (retry, pair) in (1..).zip(seen.windows(2)) {
                let wait = pair[1].0 - pair[0].0;
                let full = backoff.delay(retry, 0.0);
                assert!(wait <= full && wait >= full / 2, "retry {retry}: waited {wait:?} of {full:?}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn run_retries_any_call_such_as_a_multi_start() {
        let policy = RetryPolicy::default().timeout(50 * MS).idempotent(true);
        let mut timeouts = Vec::new();
        let result = policy
            .run(&info("All"), |timeout| {
                timeouts.push(timeout);
                let outcome = if timeouts.len() < 2 { Err(Error::request_timed_out()) } else { Ok(7) };
                async move { outcome }
            })
            .await;
        assert_eq!(result, Ok(7));
        assert_eq!(timeouts, vec![Some(50 * MS), Some(50 * MS)]);
    }

    #[test]
    fn never_ran_recognises_only_the_selection_errors() {
        assert!(never_ran(&Error::no_response()));
        assert!(never_ran(&Error::no_server_available(3)));
        assert!(!never_ran(&Error::request_timed_out()));
        assert!(!never_ran(&Error::new(ErrorCode::Unavailable, "busy")));
        assert!(!never_ran(&Error::new(ErrorCode::Internal, "no response from servers")));
    }
}
