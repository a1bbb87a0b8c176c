//! [`ErrorCode`], the codes of the psrpc protocol, and [`GrpcCode`], the
//! gRPC status codes they map to. Neither knows [`Error`](super::Error), so
//! the bus can name a code without depending on the error type.

use std::fmt;

/// Error codes of the psrpc protocol, with their wire strings.
///
/// Any code string not listed here decodes as [`ErrorCode::Unknown`].
///
/// ```
/// use psrpc::{Error, ErrorCode};
/// fn describe(err: &Error) -> &'static str {
///     match err.code() {
///         ErrorCode::NotFound => "missing",
///         ErrorCode::DeadlineExceeded | ErrorCode::Unavailable => "try again",
///         _ => "failed",
///     }
/// }
/// assert_eq!(describe(&Error::new(ErrorCode::NotFound, "no such user")), "missing");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `canceled`: the caller gave up, or the client or server was closed.
    Canceled,
    /// `malformed_request`: the request payload could not be decoded.
    MalformedRequest,
    /// `malformed_result`: the response payload could not be decoded.
    MalformedResponse,
    /// `deadline_exceeded`: the request timed out.
    DeadlineExceeded,
    /// `unavailable`: no server could take the request.
    Unavailable,
    /// `unknown`: an error without a psrpc code.
    Unknown,
    /// `invalid_argument`.
    InvalidArgument,
    /// `not_found`.
    NotFound,
    /// `not_acceptable`.
    NotAcceptable,
    /// `already_exists`.
    AlreadyExists,
    /// `permission_denied`.
    PermissionDenied,
    /// `resource_exhausted`: a quota, buffer or size limit was hit.
    ResourceExhausted,
    /// `failed_precondition`.
    FailedPrecondition,
    /// `aborted`.
    Aborted,
    /// `out_of_range`.
    OutOfRange,
    /// `unimplemented`: the server does not implement the method.
    Unimplemented,
    /// `internal`: a bug or an invariant broken on the server.
    Internal,
    /// `data_loss`.
    DataLoss,
    /// `unauthenticated`.
    Unauthenticated,
    /// `unprocessable_entity`.
    UnprocessableEntity,
    /// `upstream_server_error`.
    UpstreamServerError,
    /// `upstream_client_error`.
    UpstreamClientError,
}

/// gRPC status codes, numbered as in `google.rpc.Code`.
///
/// ```
/// use psrpc::{ErrorCode, GrpcCode};
/// assert_eq!(ErrorCode::NotFound.to_grpc(), GrpcCode::NotFound);
/// assert_eq!(GrpcCode::NotFound as i32, 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum GrpcCode {
    Ok = 0,
    Canceled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl GrpcCode {
    /// The code for a numeric gRPC status (unknown numbers give `Unknown`).
    ///
    /// ```
    /// use psrpc::GrpcCode;
    /// assert_eq!(GrpcCode::from_i32(14), GrpcCode::Unavailable);
    /// assert_eq!(GrpcCode::from_i32(99), GrpcCode::Unknown);
    /// ```
    pub fn from_i32(code: i32) -> Self {
        use GrpcCode as G;
        [
            G::Ok,
            G::Canceled,
            G::Unknown,
            G::InvalidArgument,
            G::DeadlineExceeded,
            G::NotFound,
            G::AlreadyExists,
            G::PermissionDenied,
            G::ResourceExhausted,
            G::FailedPrecondition,
            G::Aborted,
            G::OutOfRange,
            G::Unimplemented,
            G::Internal,
            G::Unavailable,
            G::DataLoss,
            G::Unauthenticated,
        ]
        .into_iter()
        .find(|g| *g as i32 == code)
        .unwrap_or(G::Unknown)
    }
}

impl ErrorCode {
    /// Every code, in the order of docs/WIRE.md section 8. A slice, so a code
    /// added later changes no type.
    ///
    /// ```
    /// use psrpc::ErrorCode;
    /// assert_eq!(ErrorCode::ALL[0], ErrorCode::Canceled);
    /// assert!(ErrorCode::ALL.contains(&ErrorCode::UpstreamClientError));
    /// ```
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::Canceled,
        ErrorCode::MalformedRequest,
        ErrorCode::MalformedResponse,
        ErrorCode::DeadlineExceeded,
        ErrorCode::Unavailable,
        ErrorCode::Unknown,
        ErrorCode::InvalidArgument,
        ErrorCode::NotFound,
        ErrorCode::NotAcceptable,
        ErrorCode::AlreadyExists,
        ErrorCode::PermissionDenied,
        ErrorCode::ResourceExhausted,
        ErrorCode::FailedPrecondition,
        ErrorCode::Aborted,
        ErrorCode::OutOfRange,
        ErrorCode::Unimplemented,
        ErrorCode::Internal,
        ErrorCode::DataLoss,
        ErrorCode::Unauthenticated,
        ErrorCode::UnprocessableEntity,
        ErrorCode::UpstreamServerError,
        ErrorCode::UpstreamClientError,
    ];

    /// The wire string of the code.
    ///
    /// ```
    /// use psrpc::ErrorCode;
    /// assert_eq!(ErrorCode::MalformedResponse.as_str(), "malformed_result");
    /// assert_eq!(ErrorCode::NotFound.to_string(), "not_found"); // `Display` prints the same
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Canceled => "canceled",
            ErrorCode::MalformedRequest => "malformed_request",
            ErrorCode::MalformedResponse => "malformed_result",
            ErrorCode::DeadlineExceeded => "deadline_exceeded",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Unknown => "unknown",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotAcceptable => "not_acceptable",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::ResourceExhausted => "resource_exhausted",
            ErrorCode::FailedPrecondition => "failed_precondition",
            ErrorCode::Aborted => "aborted",
            ErrorCode::OutOfRange => "out_of_range",
            ErrorCode::Unimplemented => "unimplemented",
            ErrorCode::Internal => "internal",
            ErrorCode::DataLoss => "data_loss",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::UnprocessableEntity => "unprocessable_entity",
            ErrorCode::UpstreamServerError => "upstream_server_error",
            ErrorCode::UpstreamClientError => "upstream_client_error",
        }
    }

    /// Parses a wire string; unknown and empty strings give [`ErrorCode::Unknown`].
    ///
    /// ```
    /// use psrpc::ErrorCode;
    /// assert_eq!(ErrorCode::from_wire("deadline_exceeded"), ErrorCode::DeadlineExceeded);
    /// assert_eq!(ErrorCode::from_wire("brand_new_code"), ErrorCode::Unknown);
    /// ```
    pub fn from_wire(code: &str) -> Self {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code).unwrap_or(ErrorCode::Unknown)
    }

    /// The HTTP status that represents this code.
    ///
    /// ```
    /// use psrpc::ErrorCode;
    /// assert_eq!(ErrorCode::NotFound.to_http(), 404);
    /// assert_eq!(ErrorCode::ResourceExhausted.to_http(), 429);
    /// ```
    pub fn to_http(self) -> u16 {
        match self {
            ErrorCode::Canceled | ErrorCode::DeadlineExceeded | ErrorCode::Unavailable => 503,
            ErrorCode::MalformedRequest | ErrorCode::InvalidArgument => 400,
            ErrorCode::MalformedResponse | ErrorCode::Unknown | ErrorCode::Internal | ErrorCode::DataLoss => 500,
            ErrorCode::NotFound => 404,
            ErrorCode::NotAcceptable => 406,
            ErrorCode::AlreadyExists | ErrorCode::Aborted => 409,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::ResourceExhausted => 429,
            ErrorCode::FailedPrecondition => 412,
            ErrorCode::OutOfRange => 416,
            ErrorCode::Unimplemented => 501,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::UnprocessableEntity => 422,
            ErrorCode::UpstreamServerError => 502,
            ErrorCode::UpstreamClientError => 424,
        }
    }

    /// The gRPC status code that represents this code. Codes without a gRPC
    /// twin map as Go psrpc maps them.
    ///
    /// ```
    /// use psrpc::{ErrorCode, GrpcCode};
    /// assert_eq!(ErrorCode::MalformedRequest.to_grpc(), GrpcCode::InvalidArgument);
    /// ```
    pub fn to_grpc(self) -> GrpcCode {
        match self {
            ErrorCode::Canceled => GrpcCode::Canceled,
            ErrorCode::MalformedRequest | ErrorCode::InvalidArgument | ErrorCode::UpstreamClientError => {
                GrpcCode::InvalidArgument
            }
            ErrorCode::MalformedResponse | ErrorCode::Internal | ErrorCode::UpstreamServerError => GrpcCode::Internal,
            ErrorCode::DeadlineExceeded => GrpcCode::DeadlineExceeded,
            ErrorCode::Unavailable => GrpcCode::Unavailable,
            ErrorCode::Unknown | ErrorCode::NotAcceptable | ErrorCode::UnprocessableEntity => GrpcCode::Unknown,
            ErrorCode::NotFound => GrpcCode::NotFound,
            ErrorCode::AlreadyExists => GrpcCode::AlreadyExists,
            ErrorCode::PermissionDenied => GrpcCode::PermissionDenied,
            ErrorCode::ResourceExhausted => GrpcCode::ResourceExhausted,
            ErrorCode::FailedPrecondition => GrpcCode::FailedPrecondition,
            ErrorCode::Aborted => GrpcCode::Aborted,
            ErrorCode::OutOfRange => GrpcCode::OutOfRange,
            ErrorCode::Unimplemented => GrpcCode::Unimplemented,
            ErrorCode::DataLoss => GrpcCode::DataLoss,
            ErrorCode::Unauthenticated => GrpcCode::Unauthenticated,
        }
    }

    /// The psrpc code for a gRPC status code (`Ok` has no psrpc code and maps to `Unknown`).
    ///
    /// ```
    /// use psrpc::{ErrorCode, GrpcCode};
    /// assert_eq!(ErrorCode::from_grpc(GrpcCode::Unauthenticated), ErrorCode::Unauthenticated);
    /// assert_eq!(ErrorCode::from_grpc(GrpcCode::Ok), ErrorCode::Unknown);
    /// ```
    pub fn from_grpc(code: GrpcCode) -> Self {
        match code {
            GrpcCode::Canceled => ErrorCode::Canceled,
            GrpcCode::InvalidArgument => ErrorCode::InvalidArgument,
            GrpcCode::DeadlineExceeded => ErrorCode::DeadlineExceeded,
            GrpcCode::NotFound => ErrorCode::NotFound,
            GrpcCode::AlreadyExists => ErrorCode::AlreadyExists,
            GrpcCode::PermissionDenied => ErrorCode::PermissionDenied,
            GrpcCode::ResourceExhausted => ErrorCode::ResourceExhausted,
            GrpcCode::FailedPrecondition => ErrorCode::FailedPrecondition,
            GrpcCode::Aborted => ErrorCode::Aborted,
            GrpcCode::OutOfRange => ErrorCode::OutOfRange,
            GrpcCode::Unimplemented => ErrorCode::Unimplemented,
            GrpcCode::Internal => ErrorCode::Internal,
            GrpcCode::Unavailable => ErrorCode::Unavailable,
            GrpcCode::DataLoss => ErrorCode::DataLoss,
            GrpcCode::Unauthenticated => ErrorCode::Unauthenticated,
            GrpcCode::Ok | GrpcCode::Unknown => ErrorCode::Unknown,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
