//! Arguments shared by several commands, and their value parsers.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use psrpc::{MethodInfo, RequestOptions, WireMode};

use crate::exit::Failure;

/// A method and where its types come from.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// SERVICE.METHOD
    pub(crate) method: String,
    #[command(flatten)]
    pub(crate) proto: ProtoArgs,
    /// A topic part (repeat for several).
    #[arg(long = "topic")]
    pub(crate) topics: Vec<String>,
    /// The service runs in the psrpc-rs native wire mode (`psrpc::WireMode::Native`).
    #[arg(long)]
    pub(crate) native: bool,
}

impl Target {
    /// The wire mode to reach the service in.
    pub(crate) fn wire_mode(&self) -> WireMode {
        if self.native { WireMode::Native } else { WireMode::GoCompatible }
    }
}

/// The `.proto` file declaring a service.
#[derive(Debug, Args)]
pub(crate) struct ProtoArgs {
    /// The .proto file declaring the service.
    #[arg(long)]
    pub(crate) proto: PathBuf,
    /// Directories to resolve imports in (default: the .proto file's directory).
    #[arg(long = "include", short = 'I')]
    pub(crate) includes: Vec<PathBuf>,
}

/// How a call is made.
#[derive(Debug, Args)]
pub(crate) struct CallOptions {
    /// Metadata sent with the call, KEY=VALUE (repeatable).
    #[arg(long = "metadata", short = 'H', value_parser = parse_pair)]
    pub(crate) metadata: Vec<(String, String)>,
    /// Skip the registry check (for servers that send no heartbeats, such as Go psrpc servers).
    #[arg(long)]
    pub(crate) no_check: bool,
}

impl CallOptions {
    /// Request options with the call's timeout and metadata.
    pub(crate) fn request_options(&self, timeout: Duration) -> RequestOptions {
        let mut options = RequestOptions::default().timeout(timeout);
        for (key, value) in &self.metadata {
            options = options.metadata(key.clone(), value.clone());
        }
        options
    }
}

/// A method that takes topics needs at least one non-empty `--topic`; one
/// that takes none refuses them.
pub(crate) fn check_topics(name: &str, method: &MethodInfo, topics: &[String]) -> Result<(), Failure> {
    let given = topics.iter().any(|t| !t.is_empty());
    match (method.has_topics(), given) {
        (true, false) => Err(Failure::usage(format!("{name} takes topics: pass each part with --topic"))),
        (false, true) => Err(Failure::usage(format!("{name} takes no topics: drop --topic"))),
        _ => Ok(()),
    }
}

/// A duration such as `500ms`, `3s` or `1m` (a bare number is seconds).
///
/// ```text
/// parse_duration("250ms") == Ok(Duration::from_millis(250))
/// ```
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 500ms, 3s or 1m"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" | "" => number,
        "m" => number * 60.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

/// `KEY=VALUE`.
pub(crate) fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn pairs_split_at_the_first_equals_sign() {
        assert_eq!(parse_pair("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_pair("ab").is_err());
    }
}
