//! Running a benchmark binary in a test: psrpc-bench and its Go twin both end
//! their output with a one-line JSON summary.

use std::process::Command;

/// Runs `command` to completion, asserts that it succeeded, and returns the
/// JSON summary on the last line of its standard output.
///
/// ```
/// let mut command = std::process::Command::new("echo");
/// command.arg(r#"{"calls": 3}"#);
/// assert_eq!(psrpc_test_support::bench_summary::run(&mut command)["calls"], 3);
/// ```
pub fn run(command: &mut Command) -> serde_json::Value {
    let out = command.output().unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(out.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let last = stdout.lines().last().expect("a summary line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("summary {last:?} is not JSON: {e}"))
}
