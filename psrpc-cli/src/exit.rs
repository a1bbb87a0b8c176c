//! Failures and the exit codes they map to (listed in `psrpc --help`).

use std::fmt;
use std::process::ExitCode;

use psrpc::{BusError, Error, ErrorCode};

/// Why the command failed, and with which exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Exit code 2: bad arguments.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure { code: 2, message: message.into() }
    }

    /// Exit code 3: unknown service or method.
    pub(crate) fn unknown(message: impl Into<String>) -> Self {
        Failure { code: 3, message: message.into() }
    }

    /// Exit code 4: bad input.
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Failure { code: 4, message: message.into() }
    }

    /// Exit code 130: stopped by a signal, after closing what was open.
    pub(crate) fn interrupted(signal: &str) -> Self {
        Failure { code: 130, message: format!("{signal}: closed the stream") }
    }

    /// Exit code 5: the servers answered with errors.
    pub(crate) fn server(message: impl Into<String>) -> Self {
        Failure { code: 5, message: message.into() }
    }

    /// Exit code 6: nothing reachable or nobody answered.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Failure { code: 6, message: message.into() }
    }

    /// The bus could not be reached.
    pub(crate) fn bus(error: BusError) -> Self {
        Failure::unavailable(format!("cannot reach the bus: {error}"))
    }

    /// Whoever read stdout went away (`psrpc sub … | head -1`): the
    /// command ends with exit code 0 and says nothing.
    pub(crate) fn pipe_closed() -> Self {
        Failure { code: 0, message: String::new() }
    }

    /// Whether the failure is only a closed stdout.
    pub(crate) fn is_quiet(&self) -> bool {
        self.code == 0
    }

    pub(crate) fn code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// RPC errors: `unimplemented` from the registry check is an unknown method
/// (3), `unavailable` and `deadline_exceeded` are 6, a bad argument the
/// client refused is 2, anything else is the server's answer (5).
impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let code = match error.code() {
            ErrorCode::Unimplemented => 3,
            ErrorCode::Unavailable | ErrorCode::DeadlineExceeded => 6,
            _ => 5,
        };
        Failure { code, message: error.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_errors_map_to_exit_codes() {
        let code = |c| Failure::from(Error::new(c, "x")).code;
        assert_eq!(code(ErrorCode::Unimplemented), 3);
        assert_eq!(code(ErrorCode::Unavailable), 6);
        assert_eq!(code(ErrorCode::DeadlineExceeded), 6);
        assert_eq!(code(ErrorCode::NotFound), 5);
    }
}
