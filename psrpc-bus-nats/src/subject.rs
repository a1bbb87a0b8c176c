//! The rules a channel's NATS subject must follow, checked before anything
//! reaches the server.
//!
//! A subject the server refuses is worse than a failed call: an oversized
//! `SUB` or `PUB` line makes nats-server close the whole connection (every
//! channel of the bus goes down with it), and a refused `SUB` kept by the
//! client is sent again on every reconnect. So the bus refuses such names
//! itself, with [`BusErrorKind::InvalidChannel`](psrpc_protocol::bus::BusErrorKind::InvalidChannel).

use psrpc_protocol::bus::BusError;

/// nats-server's default `max_control_line`: the longest protocol line
/// (`SUB`/`PUB` and their arguments) it accepts. The server does not
/// announce it in its `INFO`, so the bus assumes the default.
///
/// ```
/// assert_eq!(psrpc_bus_nats::MAX_CONTROL_LINE, 4096);
/// ```
pub const MAX_CONTROL_LINE: usize = 4096;

/// The longest subject the bus sends, in bytes: [`MAX_CONTROL_LINE`] less
/// 64 bytes for the rest of the longest line it sends with a subject
/// (` bus <subscription id>` after a queue `SUB`, ` <size>` after a `PUB`).
/// A longer subject is refused with `invalid_argument` before it is sent.
///
/// ```
/// use psrpc_bus_nats::{MAX_CONTROL_LINE, MAX_SUBJECT_LEN};
/// assert_eq!(MAX_SUBJECT_LEN, MAX_CONTROL_LINE - 64);
/// ```
pub const MAX_SUBJECT_LEN: usize = MAX_CONTROL_LINE - 64;

/// Checks `subject` against the server's rules: at most [`MAX_SUBJECT_LEN`]
/// bytes; dot-separated tokens, none empty; no whitespace or control
/// characters (they would split the protocol line); no token that is a
/// wildcard (`*`, `>`), which would subscribe to other channels' subjects.
pub(crate) fn check(subject: &str) -> Result<(), BusError> {
    if subject.len() > MAX_SUBJECT_LEN {
        let shown: String = subject.chars().take(64).collect();
        return Err(BusError::invalid_channel(format!(
            "NATS subject of {} bytes exceeds the limit of {MAX_SUBJECT_LEN} bytes ({shown}…)",
            subject.len()
        )));
    }
    if let Some(c) = subject.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(BusError::invalid_channel(format!("NATS subject {subject:?} contains {c:?}")));
    }
    for token in subject.split('.') {
        if token.is_empty() {
            return Err(BusError::invalid_channel(format!("NATS subject {subject:?} has an empty token")));
        }
        if token == "*" || token == ">" {
            return Err(BusError::invalid_channel(format!(
                "NATS subject {subject:?} has the wildcard token {token:?}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use psrpc_protocol::bus::BusErrorKind;
    use psrpc_protocol::channel::{request_channel, response_channel};

    fn refused(subject: &str) -> bool {
        check(subject).is_err_and(|e| e.kind() == BusErrorKind::InvalidChannel)
    }

    #[test]
    fn channels_built_from_any_topic_are_valid_subjects() {
        // Topics are sanitized into `[0-9A-Za-z_]` and `u+XXXX`.
        let ch = request_channel("Svc", "M", &["a b", "*", ">", "", "x.y", "é\n"], true);
        check(&ch.server).expect("valid");
        check(&response_channel("Svc", "CLI_abc").server).expect("valid");
    }

    proptest::proptest! {
        #[test]
        fn any_topics_give_a_valid_subject_within_the_limit(
            topics in proptest::collection::vec(".{0,12}", 0..4),
            queue: bool,
        ) {
            let ch = request_channel("Svc", "M", &topics, queue);
            proptest::prop_assert!(check(&ch.server).is_ok(), "{}", ch.server);
        }
    }

    #[test]
    fn the_length_limit_counts_bytes() {
        let at_limit = format!("SRV.{}", "a".repeat(MAX_SUBJECT_LEN - 4));
        check(&at_limit).expect("at the limit");
        assert!(refused(&format!("{at_limit}b")));
        let err = check(&"a".repeat(5000)).expect_err("too long");
        assert!(err.to_string().contains("5000 bytes"), "{err}");
    }

    #[test]
    fn protocol_breaking_and_wildcard_subjects_are_refused() {
        for bad in ["", "SRV.a b", "SRV.a\tb", "SRV.a\r\nPUB x 1", "SRV..a", ".SRV", "SRV.", "SRV.*", "CLI.>", "*"] {
            assert!(refused(bad), "{bad:?}");
        }
        for good in ["SRV.a*", "SRV.a>b", "CLI.Svc.CLI_x.RES", "SRV.u+002e"] {
            check(good).expect(good);
        }
    }
}
