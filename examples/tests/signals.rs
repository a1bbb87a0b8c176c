//! `shutdown_signal` sees SIGTERM and SIGINT sent to the process (its own
//! test binary: once handled, neither signal ends this process any more).
#![cfg(unix)]

use std::process::Command;
use std::time::Duration;

use psrpc_examples::{Signal, shutdown_signal};

fn send(signal: &str) {
    let status = Command::new("kill").args([signal, &std::process::id().to_string()]).status().expect("run kill");
    assert!(status.success(), "kill {signal}: {status}");
}

#[tokio::test]
async fn sigterm_and_sigint_each_resolve_the_shutdown_signal() {
    for (flag, expected) in [("-TERM", Signal::Terminate), ("-INT", Signal::Interrupt)] {
        let stop = shutdown_signal().expect("install handlers");
        send(flag);
        let got = tokio::time::timeout(Duration::from_secs(10), stop).await.expect("the signal arrives");
        assert_eq!(got, expected);
    }
}
