//! The wire error: a code, a message and protobuf details (docs/WIRE.md section 8).

pub(crate) mod code;

use std::fmt;
use std::sync::Arc;

use prost::Name;
use prost_types::Any;

pub use code::{ErrorCode, GrpcCode};

use crate::bus::BusError;

/// An RPC error as it travels on the wire: a code, a message and details.
///
/// Details are protobuf messages packed as `google.protobuf.Any`, carried in
/// `Response.error_details`; use [`Error::with_detail`] and [`Error::detail`].
///
/// An error made in this process can also keep its cause
/// ([`Error::with_source`]), returned by [`std::error::Error::source`] for
/// logs and error reports. The source stays local: it is never sent on the
/// wire, an error received from a peer has none, and equality compares the
/// wire fields only.
///
/// ```
/// use psrpc::{Error, ErrorCode};
///
/// // What a handler returns; the caller receives the same code and message.
/// fn find_user(id: u64) -> Result<String, Error> {
///     Err(Error::new(ErrorCode::NotFound, format!("no user {id}")))
/// }
/// let err = find_user(7).unwrap_err();
/// assert_eq!(err.to_string(), "not_found: no user 7");
/// assert_eq!(err.to_http(), 404);
/// ```
#[derive(Clone, Debug)]
pub struct Error {
    code: ErrorCode,
    message: String,
    details: Vec<Any>,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl PartialEq for Error {
    /// Compares code, message and details (what the wire carries).
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.message == other.message && self.details == other.details
    }
}

impl Error {
    /// A new error with a code and a message.
    ///
    /// ```
    /// use psrpc::{Error, ErrorCode};
    /// let err = Error::new(ErrorCode::PermissionDenied, "admins only");
    /// assert_eq!((err.code(), err.message()), (ErrorCode::PermissionDenied, "admins only"));
    /// ```
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), details: Vec::new(), source: None }
    }

    /// Rebuilds an error from the fields of a wire response.
    ///
    /// ```
    /// use psrpc::{Error, ErrorCode};
    /// let err = Error::from_wire("not_found", "no such room", vec![]);
    /// assert_eq!(err, Error::new(ErrorCode::NotFound, "no such room"));
    /// ```
    pub fn from_wire(code: &str, message: impl Into<String>, details: Vec<Any>) -> Self {
        Error { code: ErrorCode::from_wire(code), message: message.into(), details, source: None }
    }

    /// Keeps `source` as the cause of this error, for this process only (it is
    /// never sent on the wire; see the [type docs](Error)).
    ///
    /// ```
    /// use std::error::Error as _;
    /// use psrpc_protocol::{Error, ErrorCode};
    ///
    /// let cause = std::io::Error::other("disk full");
    /// let err = Error::new(ErrorCode::Internal, "could not store the order").with_source(cause);
    /// assert_eq!(err.to_string(), "internal: could not store the order");
    /// assert_eq!(err.source().map(|s| s.to_string()).as_deref(), Some("disk full"));
    /// ```
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// Adds a protobuf message as a detail.
    ///
    /// ```
    /// use psrpc::{Error, ErrorCode};
    /// let retry = prost_types::Duration { seconds: 30, nanos: 0 };
    /// let err = Error::new(ErrorCode::ResourceExhausted, "slow down").with_detail(&retry);
    /// assert_eq!(err.detail::<prost_types::Duration>(), Some(retry));
    /// ```
    #[must_use]
    pub fn with_detail<M: Name>(mut self, detail: &M) -> Self {
        self.details.push(Any { type_url: crate::frame::type_url_of::<M>(), value: detail.encode_to_vec() });
        self
    }

    /// Adds already packed details.
    ///
    /// ```
    /// use psrpc::{Error, ErrorCode};
    /// let received = Error::new(ErrorCode::Aborted, "upstream").with_detail(&prost_types::Duration { seconds: 1, nanos: 0 });
    /// let forwarded = Error::new(ErrorCode::Aborted, "relayed").with_details(received.details().to_vec());
    /// assert_eq!(forwarded.details(), received.details());
    /// ```
    #[must_use]
    pub fn with_details(mut self, details: impl IntoIterator<Item = Any>) -> Self {
        self.details.extend(details);
        self
    }

    /// The error code.
    ///
    /// ```
    /// use psrpc::{Error, ErrorCode};
    /// assert_eq!(Error::request_timed_out().code(), ErrorCode::DeadlineExceeded);
    /// ```
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message (the wire `error` string).
    ///
    /// ```
    /// assert_eq!(psrpc::Error::request_timed_out().message(), "request timed out");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The packed details.
    ///
    /// ```
    /// use psrpc::{Error, ErrorCode};
    /// let err = Error::new(ErrorCode::Internal, "boom").with_detail(&prost_types::Timestamp::default());
    /// assert_eq!(err.details()[0].type_url, "type.googleapis.com/google.protobuf.Timestamp");
    /// ```
    pub fn details(&self) -> &[Any] {
        &self.details
    }

    /// The first detail of type `M`, decoded.
    ///
    /// ```
    /// use psrpc::{Error, ErrorCode};
    /// let err = Error::new(ErrorCode::Unavailable, "busy").with_detail(&prost_types::Duration { seconds: 5, nanos: 0 });
    /// assert_eq!(err.detail::<prost_types::Duration>().map(|d| d.seconds), Some(5));
    /// assert_eq!(err.detail::<prost_types::Timestamp>(), None);
    /// ```
    pub fn detail<M: Name + Default>(&self) -> Option<M> {
        let url = crate::frame::type_url_of::<M>();
        self.details.iter().find(|d| d.type_url == url).and_then(|d| M::decode(d.value.as_slice()).ok())
    }

    /// The HTTP status for this error.
    ///
    /// ```
    /// assert_eq!(psrpc::Error::unimplemented().to_http(), 501);
    /// ```
    pub fn to_http(&self) -> u16 {
        self.code.to_http()
    }

    /// The gRPC status code for this error.
    ///
    /// ```
    /// assert_eq!(psrpc::Error::no_response().to_grpc(), psrpc::GrpcCode::Unavailable);
    /// ```
    pub fn to_grpc(&self) -> GrpcCode {
        self.code.to_grpc()
    }

    /// The request was canceled by the caller (`canceled`).
    ///
    /// ```
    /// assert_eq!(psrpc::Error::request_canceled().code(), psrpc::ErrorCode::Canceled);
    /// ```
    pub fn request_canceled() -> Self {
        Error::new(ErrorCode::Canceled, "request canceled")
    }

    /// The request timed out (`deadline_exceeded`).
    ///
    /// ```
    /// assert_eq!(psrpc::Error::request_timed_out().code(), psrpc::ErrorCode::DeadlineExceeded);
    /// ```
    pub fn request_timed_out() -> Self {
        Error::new(ErrorCode::DeadlineExceeded, "request timed out")
    }

    /// No server answered within the selection timeout (`unavailable`).
    ///
    /// ```
    /// assert_eq!(psrpc::Error::no_response().to_string(), "unavailable: no response from servers");
    /// ```
    pub fn no_response() -> Self {
        Error::new(ErrorCode::Unavailable, "no response from servers")
    }

    /// Servers answered but none qualified under the selection options (`unavailable`).
    ///
    /// ```
    /// assert_eq!(psrpc::Error::no_server_available(2).message(), "no servers available (received 2 responses)");
    /// ```
    pub fn no_server_available(claims: usize) -> Self {
        Error::new(ErrorCode::Unavailable, format!("no servers available (received {claims} responses)"))
    }

    /// The method is not implemented (`unimplemented`).
    ///
    /// ```
    /// assert_eq!(psrpc::Error::unimplemented().code(), psrpc::ErrorCode::Unimplemented);
    /// ```
    pub fn unimplemented() -> Self {
        Error::new(ErrorCode::Unimplemented, "method is not implemented")
    }

    /// The client was closed (`canceled`), what pending and later calls of a
    /// closed `RpcClient` return.
    ///
    /// ```
    /// assert_eq!(psrpc::Error::client_closed().message(), "client is closed");
    /// ```
    pub fn client_closed() -> Self {
        Error::new(ErrorCode::Canceled, "client is closed")
    }

    /// The server was closed (`canceled`).
    ///
    /// ```
    /// assert_eq!(psrpc::Error::server_closed().code(), psrpc::ErrorCode::Canceled);
    /// ```
    pub fn server_closed() -> Self {
        Error::new(ErrorCode::Canceled, "server is closed")
    }

    /// The stream was closed without a cause (`canceled`, "stream closed").
    ///
    /// ```
    /// assert_eq!(psrpc::Error::stream_closed().to_string(), "canceled: stream closed");
    /// ```
    pub fn stream_closed() -> Self {
        Error::new(ErrorCode::Canceled, "stream closed")
    }

    /// The stream's peer went away (`unavailable`, "EOF").
    ///
    /// ```
    /// assert_eq!(psrpc::Error::stream_eof().to_string(), "unavailable: EOF");
    /// ```
    pub fn stream_eof() -> Self {
        Error::new(ErrorCode::Unavailable, "EOF")
    }

    /// A message was discarded because the receiver did not keep up (`unavailable`).
    ///
    /// ```
    /// assert_eq!(psrpc::Error::slow_consumer().code(), psrpc::ErrorCode::Unavailable);
    /// ```
    pub fn slow_consumer() -> Self {
        Error::new(ErrorCode::Unavailable, "stream message discarded by slow consumer")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<BusError> for Error {
    fn from(err: BusError) -> Self {
        Error::new(err.code(), err.to_string()).with_source(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_string() {
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_wire(code.as_str()), code);
        }
        assert_eq!(ErrorCode::from_wire("no_such_code"), ErrorCode::Unknown);
        assert_eq!(ErrorCode::from_wire(""), ErrorCode::Unknown);
    }

    #[test]
    fn http_statuses_follow_wire_md() {
        let expected = [
            ("canceled", 503),
            ("malformed_request", 400),
            ("malformed_result", 500),
            ("deadline_exceeded", 503),
            ("unavailable", 503),
            ("unknown", 500),
            ("invalid_argument", 400),
            ("not_found", 404),
            ("not_acceptable", 406),
            ("already_exists", 409),
            ("permission_denied", 403),
            ("resource_exhausted", 429),
            ("failed_precondition", 412),
            ("aborted", 409),
            ("out_of_range", 416),
            ("unimplemented", 501),
            ("internal", 500),
            ("data_loss", 500),
            ("unauthenticated", 401),
            ("unprocessable_entity", 422),
            ("upstream_server_error", 502),
            ("upstream_client_error", 424),
        ];
        assert_eq!(expected.len(), ErrorCode::ALL.len());
        for (wire, status) in expected {
            assert_eq!(ErrorCode::from_wire(wire).to_http(), status, "{wire}");
            assert_eq!(ErrorCode::from_wire(wire).as_str(), wire);
        }
    }

    #[test]
    fn grpc_mapping_follows_the_names() {
        assert_eq!(ErrorCode::Canceled.to_grpc(), GrpcCode::Canceled);
        assert_eq!(ErrorCode::MalformedRequest.to_grpc(), GrpcCode::InvalidArgument);
        assert_eq!(ErrorCode::MalformedResponse.to_grpc(), GrpcCode::Internal);
        assert_eq!(ErrorCode::NotAcceptable.to_grpc(), GrpcCode::Unknown);
        assert_eq!(ErrorCode::UnprocessableEntity.to_grpc(), GrpcCode::Unknown);
        assert_eq!(ErrorCode::UpstreamServerError.to_grpc(), GrpcCode::Internal);
        assert_eq!(ErrorCode::UpstreamClientError.to_grpc(), GrpcCode::InvalidArgument);
        for &code in ErrorCode::ALL {
            let grpc = code.to_grpc();
            if grpc != GrpcCode::Unknown && grpc != GrpcCode::InvalidArgument && grpc != GrpcCode::Internal {
                assert_eq!(ErrorCode::from_grpc(grpc), code, "{code}");
            }
            assert_eq!(GrpcCode::from_i32(grpc as i32), grpc);
        }
        assert_eq!(GrpcCode::from_i32(99), GrpcCode::Unknown);
    }

    #[test]
    fn details_round_trip_as_any() {
        let detail = prost_types::Duration { seconds: 5, nanos: 0 };
        let err = Error::new(ErrorCode::ResourceExhausted, "slow down").with_detail(&detail);
        assert_eq!(err.details()[0].type_url, "type.googleapis.com/google.protobuf.Duration");
        assert_eq!(err.detail::<prost_types::Duration>(), Some(detail));
        assert_eq!(err.detail::<prost_types::Timestamp>(), None);
        let back = Error::from_wire(err.code().as_str(), err.message(), err.details().to_vec());
        assert_eq!(back, err);
        assert_eq!(back.to_string(), "resource_exhausted: slow down");
    }

    #[test]
    fn a_source_stays_local_and_leaves_the_wire_fields_alone() {
        use prost::Message as _;
        use std::error::Error as _;
        let detail = prost_types::Duration { seconds: 1, nanos: 0 };
        let plain = Error::new(ErrorCode::Internal, "store failed").with_detail(&detail);
        let sourced = plain.clone().with_source(std::io::Error::other("disk full"));
        assert_eq!(sourced.source().map(ToString::to_string).as_deref(), Some("disk full"));
        assert!(plain.source().is_none());
        assert_eq!(sourced, plain, "equality compares the wire fields");
        assert_eq!(sourced.to_string(), plain.to_string());

        // The fields a response carries, encoded: identical bytes.
        let encode = |e: &Error| {
            crate::envelope::Response {
                request_id: "REQ_x".into(),
                error: e.message().to_owned(),
                code: e.code().as_str().to_owned(),
                error_details: e.details().to_vec(),
                ..Default::default()
            }
            .encode_to_vec()
        };
        assert_eq!(encode(&sourced), encode(&plain));
        let back = Error::from_wire(sourced.code().as_str(), sourced.message(), sourced.details().to_vec());
        assert!(back.source().is_none(), "a received error has no source");
        assert_eq!(back, plain);
    }
}
