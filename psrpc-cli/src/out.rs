//! Where commands print: human tables by default, one JSON object per line
//! with `--json`. A closed stdout (`psrpc sub … | head -1`) ends the command
//! quietly with exit code 0 instead of a panic.

use std::io::{ErrorKind, Write as _};

use crate::exit::Failure;

/// The output format chosen on the command line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Out {
    /// One JSON object per line instead of human tables.
    pub(crate) json: bool,
}

impl Out {
    /// Prints `text` as is (a table, several lines).
    pub(crate) fn text(&self, text: &str) -> Result<(), Failure> {
        write(text.as_bytes())
    }

    /// Prints one line.
    pub(crate) fn line(&self, line: &str) -> Result<(), Failure> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        write(&bytes)
    }

    /// Prints one JSON object on a line of its own.
    pub(crate) fn json(&self, value: &serde_json::Value) -> Result<(), Failure> {
        self.line(&value.to_string())
    }

    /// Prints `value()` as a JSON line with `--json`, else the line `human()`.
    pub(crate) fn either(
        &self,
        value: impl FnOnce() -> serde_json::Value,
        human: impl FnOnce() -> String,
    ) -> Result<(), Failure> {
        if self.json { self.json(&value()) } else { self.line(&human()) }
    }
}

/// Writes `bytes` to stdout (see the module docs for a closed stdout).
pub(crate) fn write(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(Failure::pipe_closed()),
        Err(e) => Err(Failure::unavailable(format!("stdout: {e}"))),
    }
}
