//! The discovery messages and channels.
//!
//! Discovery frames are ordinary `internal.Msg` frames whose type URLs name
//! the messages below (`type.googleapis.com/psrpc.discovery.Query`, …), on
//! channels of their own (see [`query_channel`], [`heartbeat_channel`],
//! [`reply_channel`]).
//!
//! Decision on the channel names: every name starts with `$psrpc` (Legacy:
//! Redis and the in-process bus) or `$PSRPC.` (NATS subject). A service's
//! Legacy names are built from sanitized parts, which never contain `$`, and
//! its NATS subjects start with `SRV.` or `CLI.`, so no service channel can
//! collide with these. Go psrpc peers subscribe only to their own services'
//! channels, so they never see discovery traffic, and nothing a Go peer
//! publishes lands on a discovery channel.

use std::collections::HashMap;

use psrpc_method::{Delivery, MethodKind, Selection};

use crate::transport::channel::Channel;

/// The channel servers take [`Query`]s on.
pub fn query_channel() -> Channel {
    fixed("$psrpc|discovery|query", "$PSRPC.DISCOVERY.QUERY")
}

/// The channel servers publish their periodic [`Report`]s (heartbeats) on.
pub fn heartbeat_channel() -> Channel {
    fixed("$psrpc|discovery|heartbeat", "$PSRPC.DISCOVERY.HEARTBEAT")
}

/// The channel the answers to the queries of the asker `asker_id` go to.
pub fn reply_channel(asker_id: &str) -> Channel {
    let legacy = format!("$psrpc|discovery|{asker_id}|reply");
    let server = format!("$PSRPC.DISCOVERY.REPLY.{asker_id}");
    Channel { legacy: legacy.into(), server: server.into(), local: "".into() }
}

/// The channel sticky calls of a unary queue method go to: every psrpc-rs
/// server of the method (with discovery on) subscribes it as a plain
/// subscription and claims the requests that come on it, so the client's
/// selection can pick one server by id, which the method's own queue channel
/// does not allow. Legacy `$psrpc|sticky|Svc|M|t…|REQ`, NATS subject
/// `$PSRPC.STICKY.Svc.t…` with Local name `M.REQ`.
pub fn sticky_channel(service: &str, method: &str, topics: &[String]) -> Channel {
    let own = crate::transport::channel::request_channel(service, method, topics, false);
    let legacy = format!("$psrpc|sticky|{}", own.legacy);
    let server = format!("$PSRPC.STICKY.{}", own.server.strip_prefix("SRV.").unwrap_or(&own.server));
    Channel { legacy: legacy.into(), server: server.into(), local: own.local }
}

fn fixed(legacy: &str, server: &str) -> Channel {
    Channel { legacy: legacy.into(), server: server.into(), local: "".into() }
}

/// What a [`Query`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Want {
    /// Identity only: id, service, version, uptime, metadata.
    Ping = 0,
    /// Identity and the methods with their kinds and topics.
    Info = 1,
    /// Identity and the statistics of each method.
    Stats = 2,
}

/// A question to every server on the bus (or those of one service, or one server).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    /// Chosen by the asker; copied into every [`Report`] that answers.
    #[prost(string, tag = "1")]
    pub request_id: String,
    /// The asker's id: answers go to [`reply_channel`] of it.
    #[prost(string, tag = "2")]
    pub reply_to: String,
    /// What to report.
    #[prost(enumeration = "Want", tag = "3")]
    pub want: i32,
    /// Only servers of this service answer (empty: every service).
    #[prost(string, tag = "4")]
    pub service: String,
    /// Only this server answers (empty: every server).
    #[prost(string, tag = "5")]
    pub server_id: String,
}

/// Whether a server takes new work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum State {
    /// Taking requests.
    Serving = 0,
    /// Shutting down: in-flight work finishes, no new work should be sent.
    Draining = 1,
    /// Stopped: this is its last report.
    Gone = 2,
}

/// A server's report: a heartbeat, or the answer to a [`Query`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Report {
    /// The [`Query::request_id`] answered (empty for heartbeats).
    #[prost(string, tag = "1")]
    pub request_id: String,
    /// The server id.
    #[prost(string, tag = "2")]
    pub server_id: String,
    /// The service it serves.
    #[prost(string, tag = "3")]
    pub service: String,
    /// The version the server declared (`DiscoveryOptions::version`).
    #[prost(string, tag = "4")]
    pub version: String,
    /// When the server started (Unix nanoseconds).
    #[prost(int64, tag = "5")]
    pub started_at: i64,
    /// When this report was sent (Unix nanoseconds).
    #[prost(int64, tag = "6")]
    pub sent_at: i64,
    /// The metadata the server declared.
    #[prost(map = "string, string", tag = "7")]
    pub metadata: HashMap<String, String>,
    /// Milliseconds between this server's heartbeats.
    #[prost(uint64, tag = "8")]
    pub heartbeat_interval_ms: u64,
    /// Whether it takes new work.
    #[prost(enumeration = "State", tag = "9")]
    pub state: i32,
    /// Its methods (heartbeats and [`Want::Info`] answers).
    #[prost(message, repeated, tag = "10")]
    pub methods: Vec<MethodReport>,
    /// Statistics per method ([`Want::Stats`] answers).
    #[prost(message, repeated, tag = "11")]
    pub stats: Vec<MethodStats>,
}

/// One method a server serves, with the topics registered now.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct MethodReport {
    /// The method name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its kind, as [`kind_name`] writes it (`unary:queue`, `multi:topics`, …).
    #[prost(string, tag = "2")]
    pub kind: String,
    /// Each topic list it is registered on (one empty list for methods without topics).
    #[prost(message, repeated, tag = "3")]
    pub topics: Vec<Topics>,
    /// The server takes this method's claimed requests sent to it alone,
    /// on its own channels (the native wire mode's sampled claims, see
    /// `psrpc_protocol::channel::native_server_channels`).
    #[prost(bool, tag = "4")]
    pub direct: bool,
}

/// One topic list.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Topics {
    /// The topic parts.
    #[prost(string, repeated, tag = "1")]
    pub parts: Vec<String>,
}

/// The counters of one method since the server started.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MethodStats {
    /// The method name.
    #[prost(string, tag = "1")]
    pub method: String,
    /// Requests (and streams) handled to the end.
    #[prost(uint64, tag = "2")]
    pub requests: u64,
    /// Of those, how many ended in an error.
    #[prost(uint64, tag = "3")]
    pub errors: u64,
    /// Requests and streams being handled now.
    #[prost(uint64, tag = "4")]
    pub in_flight: u64,
    /// Median handling time of unary and multi requests, in microseconds.
    #[prost(uint64, tag = "5")]
    pub p50_micros: u64,
    /// 99th percentile handling time, in microseconds.
    #[prost(uint64, tag = "6")]
    pub p99_micros: u64,
}

macro_rules! type_urls {
    ($($ty:ident),*) => {$(
        impl $ty {
            /// The type URL of this message in a frame.
            pub const TYPE_URL: &'static str = concat!("type.googleapis.com/psrpc.discovery.", stringify!($ty));
        }
    )*};
}

type_urls!(Query, Report);

/// A method kind as written in [`MethodReport::kind`]: `unary:queue`,
/// `unary:affinity`, `unary:single_server`, `multi`, `stream:…`,
/// `subscription:every` or `subscription:queue`, with `:topics` appended
/// when the method takes topics.
///
/// ```
/// use psrpc::discovery::wire::{kind_name, parse_kind};
/// use psrpc::{MethodKind, Selection};
/// let kind = MethodKind::Unary(Selection::Affinity { topics: true });
/// assert_eq!(kind_name(kind), "unary:affinity:topics");
/// assert_eq!(parse_kind("unary:affinity:topics"), Some(kind));
/// ```
pub fn kind_name(kind: MethodKind) -> String {
    let selection = |s: Selection| match s {
        Selection::Queue { .. } => "queue",
        Selection::Affinity { .. } => "affinity",
        Selection::SingleServer => "single_server",
    };
    let base = match kind {
        MethodKind::Unary(s) => format!("unary:{}", selection(s)),
        MethodKind::Multi { .. } => "multi".to_owned(),
        MethodKind::Stream(s) => format!("stream:{}", selection(s)),
        MethodKind::Subscription { delivery: Delivery::Every, .. } => "subscription:every".to_owned(),
        MethodKind::Subscription { delivery: Delivery::Queue, .. } => "subscription:queue".to_owned(),
    };
    let single_server =
        matches!(kind, MethodKind::Unary(Selection::SingleServer) | MethodKind::Stream(Selection::SingleServer));
    if kind.has_topics() && !single_server { format!("{base}:topics") } else { base }
}

/// Reads a kind written by [`kind_name`] (`None` for anything else).
pub fn parse_kind(name: &str) -> Option<MethodKind> {
    let (base, topics) = match name.strip_suffix(":topics") {
        Some(base) => (base, true),
        None => (name, false),
    };
    let selection = |s: &str| match s {
        "queue" => Some(Selection::Queue { topics }),
        "affinity" => Some(Selection::Affinity { topics }),
        "single_server" if !topics => Some(Selection::SingleServer),
        _ => None,
    };
    let kind = match base.split_once(':') {
        None if base == "multi" => MethodKind::Multi { topics },
        Some(("unary", s)) => MethodKind::Unary(selection(s)?),
        Some(("stream", s)) => MethodKind::Stream(selection(s)?),
        Some(("subscription", "every")) => MethodKind::Subscription { delivery: Delivery::Every, topics },
        Some(("subscription", "queue")) => MethodKind::Subscription { delivery: Delivery::Queue, topics },
        _ => return None,
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        let selections = |topics| [Selection::Queue { topics }, Selection::Affinity { topics }];
        let mut kinds = vec![MethodKind::Unary(Selection::SingleServer), MethodKind::Stream(Selection::SingleServer)];
        for topics in [false, true] {
            for s in selections(topics) {
                kinds.extend([MethodKind::Unary(s), MethodKind::Stream(s)]);
            }
            kinds.push(MethodKind::Multi { topics });
            for delivery in [Delivery::Every, Delivery::Queue] {
                kinds.push(MethodKind::Subscription { delivery, topics });
            }
        }
        let names: std::collections::HashSet<_> = kinds.iter().map(|k| kind_name(*k)).collect();
        assert_eq!(names.len(), kinds.len(), "names are distinct");
        for kind in kinds {
            assert_eq!(parse_kind(&kind_name(kind)), Some(kind), "{kind:?}");
        }
        for bad in ["", "unary", "unary:single_server:topics", "stream:other", "multi:x", "subscription:all"] {
            assert_eq!(parse_kind(bad), None, "{bad}");
        }
    }

    #[test]
    fn discovery_channels_cannot_be_service_channels() {
        for c in [query_channel(), heartbeat_channel(), reply_channel("DSC_a")] {
            assert!(c.legacy.starts_with("$psrpc|") && c.server.starts_with("$PSRPC.") && c.local.is_empty());
        }
        let service = crate::transport::channel::request_channel("$psrpc", "discovery", &["query"], false);
        assert_ne!(service.legacy, query_channel().legacy, "a service named `$psrpc` is sanitized");
    }
}
