//! Client, server, request, selection and stream options.
//!
//! Defaults follow Go psrpc: 3 s request timeout, 1 s server selection
//! timeout, 200 ms short-circuit for affinity methods, buffers of 100 frames.
//!
//! One style for every options type of every psrpc crate (these, the
//! [`discovery`](crate::discovery) and [`retry`](crate::retry) options and
//! the buses' options): private fields, [`Default`] (or a named constructor
//! such as [`SelectionOptions::best_affinity`]), and `#[must_use]` by-value
//! builder methods named after the setting they change. A builder stores
//! what the engines read: where it normalizes its input (a zero buffer size
//! becomes 1, a zero keepalive period [`MIN_KEEPALIVE_PERIOD`]), its
//! documentation says so, and since the fields are private it is the only
//! way to set them. Values are read by the engines, not by users:
//! [`Debug`](std::fmt::Debug) shows every setting (interceptors and hooks as
//! counts, functions and observers as present or not).
//!
//! ```
//! use std::time::Duration;
//! use psrpc_core::options::{ClientOptions, RequestOptions, SelectionOptions};
//!
//! let client = ClientOptions::default().timeout(Duration::from_secs(5)).channel_capacity(0);
//! let debug = format!("{client:?}");
//! assert!(debug.contains(" timeout: 5s") && debug.contains("channel_capacity: 1"), "{debug}");
//! let call = RequestOptions::default().metadata("tenant", "acme").selection(SelectionOptions::default());
//! # let _ = call;
//! ```
//!
//! Durations are never a reason to panic: a deadline beyond what the clock
//! can represent (`Duration::MAX`) saturates to "practically never".

mod admit;
mod client;
mod request;
mod selection;
mod server;
mod stream;

use std::time::Duration;

pub(crate) use admit::Call;
pub use client::ClientOptions;
pub use request::RequestOptions;
pub use selection::{Claim, SelectionFn, SelectionOptions};
pub use server::ServerOptions;
pub use stream::{MIN_KEEPALIVE_PERIOD, StreamKeepalive, StreamOptions};

/// Default request timeout.
///
/// ```
/// use psrpc_core::options::{ClientOptions, DEFAULT_TIMEOUT};
/// assert_eq!(DEFAULT_TIMEOUT, std::time::Duration::from_secs(3));
/// assert!(format!("{:?}", ClientOptions::default()).contains(" timeout: 3s"));
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default server selection (affinity) timeout.
///
/// ```
/// use psrpc_core::options::{ClientOptions, DEFAULT_SELECTION_TIMEOUT};
/// assert_eq!(DEFAULT_SELECTION_TIMEOUT, std::time::Duration::from_secs(1));
/// assert!(format!("{:?}", ClientOptions::default()).contains("selection_timeout: 1s"));
/// ```
pub const DEFAULT_SELECTION_TIMEOUT: Duration = Duration::from_secs(1);
/// Default short-circuit after the first claim, for affinity methods.
///
/// ```
/// use psrpc_core::options::{DEFAULT_SELECTION_TIMEOUT, DEFAULT_SHORT_CIRCUIT};
/// let selection = psrpc::SelectionOptions::best_affinity(DEFAULT_SELECTION_TIMEOUT);
/// assert_eq!(DEFAULT_SHORT_CIRCUIT, std::time::Duration::from_millis(200));
/// assert!(format!("{selection:?}").contains("short_circuit_timeout: Some(200ms)"));
/// ```
pub const DEFAULT_SHORT_CIRCUIT: Duration = Duration::from_millis(200);
/// Default number of servers a sampled claimed call asks
/// ([`ClientOptions::claim_candidates`]): the power of two choices.
///
/// ```
/// use psrpc_core::options::DEFAULT_CLAIM_CANDIDATES;
/// assert_eq!(DEFAULT_CLAIM_CANDIDATES, 2);
/// assert!(format!("{:?}", psrpc::ClientOptions::default()).contains("claim_candidates: 2"));
/// ```
pub const DEFAULT_CLAIM_CANDIDATES: usize = 2;
/// Default time a sampled claimed call waits for a qualifying claim from
/// its candidates before asking every server
/// ([`ClientOptions::candidate_window`]).
///
/// ```
/// use psrpc_core::options::DEFAULT_CANDIDATE_WINDOW;
/// assert_eq!(DEFAULT_CANDIDATE_WINDOW, std::time::Duration::from_millis(250));
/// ```
pub const DEFAULT_CANDIDATE_WINDOW: Duration = Duration::from_millis(250);
/// Default stream keepalive interval between psrpc-rs peers.
///
/// ```
/// use psrpc_core::options::DEFAULT_STREAM_KEEPALIVE;
/// assert_eq!(psrpc::StreamKeepalive::default(), psrpc::StreamKeepalive::new(DEFAULT_STREAM_KEEPALIVE, DEFAULT_STREAM_KEEPALIVE * 3));
/// ```
pub const DEFAULT_STREAM_KEEPALIVE: Duration = Duration::from_secs(5);
/// Default bound of a server's drain ([`ServerOptions::drain_timeout`]):
/// below the 30 s a Kubernetes pod gets between SIGTERM and SIGKILL, so a
/// server told to stop still closes what remains itself.
///
/// ```
/// use psrpc_core::options::DEFAULT_DRAIN_TIMEOUT;
/// assert_eq!(DEFAULT_DRAIN_TIMEOUT, std::time::Duration::from_secs(20));
/// assert!(format!("{:?}", psrpc::ServerOptions::default()).contains("drain_timeout: 20s"));
/// ```
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// `Debug` for an options type whose fields are not all `Debug`: every
/// listed field by name, in order, either as it is or, after `=>`, as the
/// view given (an expression of the field's name: interceptors and hooks as
/// counts, functions and observers as present or not).
macro_rules! debug_fields {
    ($options:ident { $($field:ident $(=> $view:expr)?),* $(,)? }) => {
        impl std::fmt::Debug for $options {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let $options { $($field,)* .. } = self;
                f.debug_struct(stringify!($options))
                    $(.field(stringify!($field), &debug_fields!(@view $field $(=> $view)?)))*
                    .finish()
            }
        }
    };
    (@view $field:ident) => { $field };
    (@view $field:ident => $view:expr) => { $view };
}
pub(crate) use debug_fields;

/// The builder methods [`ClientOptions`] and [`ServerOptions`] share: the
/// settings both engines read the same way (both types have these fields).
/// `timeout` says what the type's timeout bounds, `observed` what its
/// observer hears of, `peers` who must use the same wire mode.
macro_rules! shared_builders {
    ($options:ident { timeout: $timeout:literal, observed: $observed:literal, peers: $peers:literal $(,)? }) => {
        impl $options {
            #[doc = concat!("Sets the ", $timeout, ".")]
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let options = psrpc::", stringify!($options), "::default().timeout(Duration::from_secs(10));")]
            /// assert!(format!("{options:?}").contains(" timeout: 10s"));
            /// ```
            #[must_use]
            pub fn timeout(mut self, timeout: Duration) -> Self {
                self.timeout = timeout;
                self
            }

            /// Sets the buffer size of the subscriptions and queues, in
            /// frames; zero is stored as 1.
            ///
            /// ```
            #[doc = concat!("let options = psrpc::", stringify!($options), "::default().channel_capacity(0);")]
            /// assert!(format!("{options:?}").contains("channel_capacity: 1,"));
            /// ```
            #[must_use]
            pub fn channel_capacity(mut self, capacity: usize) -> Self {
                self.channel_capacity = capacity.max(1);
                self
            }

            /// Sets the keepalive of streams (see [`StreamKeepalive`]).
            ///
            /// ```
            /// use psrpc::StreamKeepalive;
            #[doc = concat!("let options = psrpc::", stringify!($options), "::default().stream_keepalive(StreamKeepalive::disabled());")]
            /// assert!(format!("{options:?}").contains("interval: None"));
            /// ```
            #[must_use]
            pub fn stream_keepalive(mut self, keepalive: StreamKeepalive) -> Self {
                self.stream_keepalive = keepalive;
                self
            }

            /// Adds a stream interceptor; the first added sees events first.
            /// See [`StreamInterceptor`] for one that runs.
            ///
            /// ```
            /// struct Quiet; // every method has a default
            /// impl psrpc::StreamInterceptor for Quiet {}
            #[doc = concat!("let options = psrpc::", stringify!($options), "::default().stream_interceptor(Quiet);")]
            /// assert!(format!("{options:?}").contains("stream_interceptors: 1"));
            /// ```
            #[must_use]
            pub fn stream_interceptor(mut self, interceptor: impl StreamInterceptor) -> Self {
                self.stream_interceptors.push(Arc::new(interceptor));
                self
            }

            #[doc = concat!("Sets the observer that receives a report of ", $observed, " (see")]
            /// [`Observer`](crate::observe::Observer) for one that counts). A
            /// panic in it is logged, and the call goes on with its outcome
            /// (see [`observe`](crate::observe)).
            ///
            /// ```
            /// use std::sync::Arc;
            /// struct Nothing;
            /// impl psrpc::observe::Observer for Nothing {}
            #[doc = concat!("let options = psrpc::", stringify!($options), "::default().observer(Arc::new(Nothing));")]
            /// assert!(format!("{options:?}").contains("observer: true"));
            /// ```
            #[must_use]
            pub fn observer(mut self, observer: SharedObserver) -> Self {
                self.observer = Some(crate::user_code::guard_observer(observer));
                self
            }

            /// Sets the wire mode (default: Go-compatible; see
            #[doc = concat!("[`wire_mode`](crate::wire_mode)); ", $peers, " must use the same.")]
            ///
            /// ```
            #[doc = concat!("let options = psrpc::", stringify!($options), "::default().wire_mode(psrpc::WireMode::Native);")]
            /// assert!(format!("{options:?}").contains("wire_mode: Native"));
            /// ```
            #[must_use]
            pub fn wire_mode(mut self, mode: WireMode) -> Self {
                self.wire_mode = mode;
                self
            }
        }
    };
}
use shared_builders;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_store_what_the_engines_read() {
        assert_eq!(ClientOptions::default().channel_capacity(0).channel_capacity, 1);
        let zero = StreamKeepalive::new(Duration::ZERO, Duration::ZERO);
        let server = ServerOptions::default().channel_capacity(0).stream_keepalive(zero);
        assert_eq!(server.channel_capacity, 1);
        assert_eq!(server.stream_keepalive.interval, Some(MIN_KEEPALIVE_PERIOD));
        assert_eq!(server.stream_keepalive.expiry, MIN_KEEPALIVE_PERIOD);
        assert_eq!(StreamKeepalive::disabled().expiry(Duration::ZERO).interval, None);
    }
}
