//! Channel naming: the three names of every logical channel (docs/WIRE.md section 4).
//!
//! A [`Channel`] carries its **Legacy** name (Redis and the in-process bus),
//! its **Server** name (the NATS subject) and its **Local** name (the routing
//! key written into `Msg.channel` on NATS; empty for client channels).

use std::fmt::{self, Write as _};
use std::sync::Arc;

/// The three names of one logical channel.
///
/// Names are reference-counted so that channels can be cloned into
/// subscriptions and routing tables without copying.
///
/// ```
/// use psrpc_protocol::channel;
/// let ch = channel::request_channel("Rooms", "Join", &["eu"], true);
/// assert_eq!((&*ch.legacy, &*ch.server, &*ch.local), ("Rooms|Join|eu|REQ", "SRV.Rooms.eu.Q", "Join.REQ"));
/// assert_eq!(ch.to_string(), "Rooms|Join|eu|REQ");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Channel {
    /// `Svc|M|topics|REQ`-style name used by Redis and the in-process bus.
    pub legacy: Arc<str>,
    /// `SRV.…`/`CLI.…` NATS subject.
    pub server: Arc<str>,
    /// Routing key inside a shared NATS subject (`M.REQ`); empty for client channels.
    pub local: Arc<str>,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.legacy)
    }
}

/// Which server-side channel of a method to name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerSuffix {
    Request,
    ClaimResponse,
    Stream,
    NativeQueue,
    NativeDirect,
    NativeDirectClaim,
}

impl ServerSuffix {
    fn as_str(self) -> &'static str {
        match self {
            ServerSuffix::Request => "REQ",
            ServerSuffix::ClaimResponse => "RCLAIM",
            ServerSuffix::Stream => "STR",
            ServerSuffix::NativeQueue => "QREQ",
            ServerSuffix::NativeDirect => "SREQ",
            ServerSuffix::NativeDirectClaim => "SCLAIM",
        }
    }
}

/// Requests and subscription messages of a method: `Svc|M|t…|REQ`,
/// `SRV.Svc.t…[.Q]`, `M.REQ`.
///
/// ```
/// use psrpc_protocol::channel;
/// let ch = channel::request_channel("Svc", "M", &["a", "b"], false);
/// assert_eq!((&*ch.legacy, &*ch.server, &*ch.local), ("Svc|M|a|b|REQ", "SRV.Svc.a.b", "M.REQ"));
/// ```
pub fn request_channel(service: &str, method: &str, topics: &[impl AsRef<str>], queue: bool) -> Channel {
    server_side(service, method, topics, queue, ServerSuffix::Request)
}

/// Claim responses from a client to the servers of a method: `Svc|M|t…|RCLAIM`
/// (never a queue subject).
///
/// ```
/// use psrpc_protocol::channel;
/// let ch = channel::claim_response_channel("Svc", "M", &["t"]);
/// assert_eq!((&*ch.legacy, &*ch.server, &*ch.local), ("Svc|M|t|RCLAIM", "SRV.Svc.t", "M.RCLAIM"));
/// ```
pub fn claim_response_channel(service: &str, method: &str, topics: &[impl AsRef<str>]) -> Channel {
    server_side(service, method, topics, false, ServerSuffix::ClaimResponse)
}

/// Stream frames from a client to the servers of a method: `Svc|M|t…|STR`
/// (never a queue subject).
///
/// ```
/// use psrpc_protocol::channel;
/// let ch = channel::stream_server_channel("Svc", "M", &[] as &[&str]);
/// assert_eq!((&*ch.legacy, &*ch.server), ("Svc|M|STR", "SRV.Svc"));
/// ```
pub fn stream_server_channel(service: &str, method: &str, topics: &[impl AsRef<str>]) -> Channel {
    server_side(service, method, topics, false, ServerSuffix::Stream)
}

/// The queue request channel of a method in the native wire mode
/// (psrpc's `WireMode::Native`):
/// `Svc|M|t…|QREQ`, `SRVQ.Svc.M[.t…]`, `M.QREQ`.
///
/// Each method has a NATS subject of its own, so a process in a queue group
/// takes only requests of methods it serves. No Go-compatible name can
/// equal one of these: Go-compatible Legacy names end in another suffix and
/// subjects start with `SRV.` or `CLI.`.
///
/// ```
/// use psrpc_protocol::channel;
/// let ch = channel::native_queue_channel("Svc", "M", &["a", "b"]);
/// assert_eq!((&*ch.legacy, &*ch.server, &*ch.local), ("Svc|M|a|b|QREQ", "SRVQ.Svc.M.a.b", "M.QREQ"));
/// ```
pub fn native_queue_channel(service: &str, method: &str, topics: &[impl AsRef<str>]) -> Channel {
    let mut ch = server_side(service, method, topics, false, ServerSuffix::NativeQueue);
    let mut server = String::with_capacity(ch.server.len() + method.len() + 2);
    server.push_str("SRVQ.");
    server.push_str(service);
    server.push('.');
    push_sanitized(&mut server, method);
    push_topic_tokens(&mut server, topics);
    ch.server = server.into();
    ch
}

/// The channels of one server in the native wire mode (psrpc's
/// `WireMode::Native`) for the claimed requests of a method sent to it
/// alone (a sampled claim): requests `Svc|M|t…|ServerID|SREQ` and claim
/// responses `Svc|M|t…|ServerID|SCLAIM`, both on the NATS subject
/// `SRVS.Svc.ServerID.M[.t…]` with Local names `M.SREQ` and `M.SCLAIM`.
///
/// No Go-compatible or native queue name can equal one of these: the Legacy
/// suffixes differ and the subject starts with `SRVS.`.
///
/// ```
/// use psrpc_protocol::channel;
/// let (requests, claims) = channel::native_server_channels("Svc", "M", &["a"], "SRV_x");
/// assert_eq!((&*requests.legacy, &*requests.server, &*requests.local), ("Svc|M|a|SRV_x|SREQ", "SRVS.Svc.SRV_x.M.a", "M.SREQ"));
/// assert_eq!((&*claims.legacy, &*claims.server, &*claims.local), ("Svc|M|a|SRV_x|SCLAIM", "SRVS.Svc.SRV_x.M.a", "M.SCLAIM"));
/// ```
pub fn native_server_channels(
    service: &str,
    method: &str,
    topics: &[impl AsRef<str>],
    server_id: &str,
) -> (Channel, Channel) {
    let mut subject = String::with_capacity(service.len() + server_id.len() + method.len() + 16);
    subject.push_str("SRVS.");
    subject.push_str(service);
    subject.push('.');
    push_sanitized(&mut subject, server_id);
    subject.push('.');
    push_sanitized(&mut subject, method);
    push_topic_tokens(&mut subject, topics);
    let subject: Arc<str> = subject.into();
    let named = |suffix: ServerSuffix| {
        let mut legacy = String::with_capacity(service.len() + method.len() + server_id.len() + 16);
        let wrote = push_part(&mut legacy, false, service);
        let wrote = push_part(&mut legacy, wrote, method);
        let wrote = push_topic_group(&mut legacy, wrote, topics);
        let wrote = push_part(&mut legacy, wrote, server_id);
        push_part(&mut legacy, wrote, suffix.as_str());
        let local = format!("{method}.{}", suffix.as_str());
        Channel { legacy: legacy.into(), server: Arc::clone(&subject), local: local.into() }
    };
    (named(ServerSuffix::NativeDirect), named(ServerSuffix::NativeDirectClaim))
}

/// Responses to a client: `Svc|ClientID|RES`, `CLI.Svc.ClientID.RES`.
///
/// ```
/// use psrpc_protocol::channel;
/// let ch = channel::response_channel("Svc", "CLI_a");
/// assert_eq!((&*ch.legacy, &*ch.server, &*ch.local), ("Svc|CLI_a|RES", "CLI.Svc.CLI_a.RES", ""));
/// ```
pub fn response_channel(service: &str, client_id: &str) -> Channel {
    client_side(service, client_id, "RES")
}

/// Claim requests to a client: `Svc|ClientID|CLAIM`, `CLI.Svc.ClientID.CLAIM`.
///
/// ```
/// use psrpc_protocol::channel;
/// let ch = channel::claim_request_channel("Svc", "CLI_a");
/// assert_eq!(&*ch.server, "CLI.Svc.CLI_a.CLAIM");
/// ```
pub fn claim_request_channel(service: &str, client_id: &str) -> Channel {
    client_side(service, client_id, "CLAIM")
}

/// Stream frames to a client node: `Svc|NodeID|STR`, `CLI.Svc.NodeID.STR`.
///
/// ```
/// use psrpc_protocol::channel;
/// let ch = channel::stream_client_channel("Svc", "CLI_a");
/// assert_eq!(&*ch.legacy, "Svc|CLI_a|STR");
/// ```
pub fn stream_client_channel(service: &str, node_id: &str) -> Channel {
    client_side(service, node_id, "STR")
}

fn server_side(service: &str, method: &str, topics: &[impl AsRef<str>], queue: bool, suffix: ServerSuffix) -> Channel {
    let mut legacy = String::with_capacity(service.len() + method.len() + 16);
    let wrote = push_part(&mut legacy, false, service);
    let wrote = push_part(&mut legacy, wrote, method);
    let wrote = push_topic_group(&mut legacy, wrote, topics);
    push_part(&mut legacy, wrote, suffix.as_str());

    let mut server = String::with_capacity(service.len() + 16);
    server.push_str("SRV.");
    server.push_str(service);
    push_topic_tokens(&mut server, topics);
    if queue {
        server.push_str(".Q");
    }

    let local = format!("{method}.{}", suffix.as_str());
    Channel { legacy: legacy.into(), server: server.into(), local: local.into() }
}

/// Appends the non-empty topics as subject tokens, sanitized.
fn push_topic_tokens(subject: &mut String, topics: &[impl AsRef<str>]) {
    for topic in topics {
        let topic = topic.as_ref();
        if !topic.is_empty() {
            subject.push('.');
            push_sanitized(subject, topic);
        }
    }
}

fn client_side(service: &str, id: &str, suffix: &str) -> Channel {
    let mut legacy = String::with_capacity(service.len() + id.len() + 8);
    let wrote = push_part(&mut legacy, false, service);
    let wrote = push_part(&mut legacy, wrote, id);
    push_part(&mut legacy, wrote, suffix);
    let server = format!("CLI.{service}.{id}.{suffix}");
    Channel { legacy: legacy.into(), server: server.into(), local: Arc::from("") }
}

/// Appends one Legacy part. The delimiter goes before a part only if the
/// previous part wrote something; returns whether this part wrote something.
/// This reproduces Go psrpc exactly, including `Svc|M|a||REQ` for topics
/// `["a", ""]` (docs/WIRE.md section 4.2).
fn push_part(buf: &mut String, delimit: bool, part: &str) -> bool {
    if delimit {
        buf.push('|');
    }
    let before = buf.len();
    push_sanitized(buf, part);
    buf.len() > before
}

/// Appends the topic list as one nested part group (same rule as [`push_part`]
/// inside the group; the group as a whole "wrote something" if any byte was
/// written after its leading delimiter).
fn push_topic_group(buf: &mut String, delimit: bool, topics: &[impl AsRef<str>]) -> bool {
    if delimit {
        buf.push('|');
    }
    let before = buf.len();
    let mut wrote = false;
    for topic in topics {
        wrote = push_part(buf, wrote, topic.as_ref());
    }
    buf.len() > before
}

/// Appends `part` sanitized: `[0-9A-Za-z_]` stay, any other character becomes
/// `u+XXXX` (below U+10000) or `U+XXXXXXXX`, lowercase hex.
///
/// ```
/// let mut name = String::from("SRV.Svc.");
/// psrpc_protocol::channel::push_sanitized(&mut name, "a.b");
/// assert_eq!(name, "SRV.Svc.au+002eb");
/// ```
pub fn push_sanitized(buf: &mut String, part: &str) {
    for c in part.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            buf.push(c);
        } else if (c as u32) < 0x10000 {
            // Writing to a String cannot fail.
            let _ = write!(buf, "u+{:04x}", c as u32);
        } else {
            let _ = write!(buf, "U+{:08x}", c as u32);
        }
    }
}

/// Returns `part` sanitized as by [`push_sanitized`].
///
/// ```
/// use psrpc_protocol::channel::sanitize;
/// assert_eq!(sanitize("room-1"), "roomu+002d1");
/// assert_eq!(sanitize("ok_42"), "ok_42");
/// ```
pub fn sanitize(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    push_sanitized(&mut out, part);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_TOPICS: &[&str] = &[];

    #[test]
    fn wire_md_examples() {
        assert_eq!(&*response_channel("foo", "bar").legacy, "foo|bar|RES");
        assert_eq!(&*response_channel("foo", "bar").server, "CLI.foo.bar.RES");
        assert_eq!(&*response_channel("foo", "bar").local, "");
        let c = request_channel("foo", "bar", &["a", "b", "c"], false);
        assert_eq!(&*c.legacy, "foo|bar|a|b|c|REQ");
        assert_eq!(&*c.server, "SRV.foo.a.b.c");
        assert_eq!(&*c.local, "bar.REQ");
        let q = request_channel("foo", "bar", &["a", "b", "c"], true);
        assert_eq!(&*q.server, "SRV.foo.a.b.c.Q");
    }

    #[test]
    fn trailing_empty_topic_doubles_the_delimiter() {
        assert_eq!(&*request_channel("Svc", "M", &["a", ""], false).legacy, "Svc|M|a||REQ");
        assert_eq!(&*request_channel("Svc", "M", &["", "a"], false).legacy, "Svc|M|a|REQ");
        assert_eq!(&*request_channel("Svc", "M", &["", ""], false).legacy, "Svc|M|REQ");
        assert_eq!(&*request_channel("Svc", "M", NO_TOPICS, false).legacy, "Svc|M|REQ");
        assert_eq!(&*request_channel("Svc", "M", &["a", ""], false).server, "SRV.Svc.a");
    }

    #[test]
    fn claim_and_stream_channels_never_use_the_queue_subject() {
        let c = claim_response_channel("Svc", "M", &["t"]);
        assert_eq!((&*c.legacy, &*c.server, &*c.local), ("Svc|M|t|RCLAIM", "SRV.Svc.t", "M.RCLAIM"));
        let s = stream_server_channel("Svc", "M", NO_TOPICS);
        assert_eq!((&*s.legacy, &*s.server, &*s.local), ("Svc|M|STR", "SRV.Svc", "M.STR"));
        let n = stream_client_channel("Svc", "CLI_x");
        assert_eq!((&*n.legacy, &*n.server), ("Svc|CLI_x|STR", "CLI.Svc.CLI_x.STR"));
        let cl = claim_request_channel("Svc", "CLI_x");
        assert_eq!((&*cl.legacy, &*cl.server), ("Svc|CLI_x|CLAIM", "CLI.Svc.CLI_x.CLAIM"));
    }

    #[test]
    fn native_queue_channels_are_per_method_and_never_go_names() {
        let a = native_queue_channel("Svc", "A", &["t"]);
        let b = native_queue_channel("Svc", "B", &["t"]);
        assert_ne!(a.server, b.server, "one subject per method");
        assert_eq!((&*a.legacy, &*a.server, &*a.local), ("Svc|A|t|QREQ", "SRVQ.Svc.A.t", "A.QREQ"));
        // A Go-compatible name with the same parts differs in every name.
        let go = request_channel("Svc", "A", &["t"], true);
        assert!(go.legacy != a.legacy && go.server != a.server && go.local != a.local);
        // Method names and topics are sanitized into single tokens.
        assert_eq!(&*native_queue_channel("Svc", "M.x", &["a b", ""]).server, "SRVQ.Svc.Mu+002ex.au+0020b");
    }

    #[test]
    fn sanitizer_escapes_by_code_point_width() {
        assert_eq!(sanitize("🚀_É"), "U+0001f680_u+00c9");
        assert_eq!(sanitize("us-west"), "usu+002dwest");
        assert_eq!(sanitize("a.b c"), "au+002ebu+0020c");
        assert_eq!(sanitize("软件"), "u+8f6fu+4ef6");
        assert_eq!(sanitize(""), "");
    }

    #[test]
    fn service_and_client_ids_are_not_sanitized_in_subjects() {
        let c = response_channel("my-svc", "id.1");
        assert_eq!(&*c.server, "CLI.my-svc.id.1.RES");
        assert_eq!(&*c.legacy, "myu+002dsvc|idu+002e1|RES");
        let r = request_channel("my-svc", "M-1", &["x y"], false);
        assert_eq!(&*r.server, "SRV.my-svc.xu+0020y");
        assert_eq!(&*r.local, "M-1.REQ");
    }

    mod properties {
        use super::super::sanitize;
        use proptest::prelude::*;

        fn unsanitize(s: &str) -> Option<String> {
            let mut out = String::new();
            let mut rest = s;
            while let Some(c) = rest.chars().next() {
                if let Some(hex) = rest.strip_prefix("u+") {
                    let cp = u32::from_str_radix(hex.get(..4)?, 16).ok()?;
                    out.push(char::from_u32(cp)?);
                    rest = &hex[4..];
                } else if let Some(hex) = rest.strip_prefix("U+") {
                    let cp = u32::from_str_radix(hex.get(..8)?, 16).ok()?;
                    out.push(char::from_u32(cp)?);
                    rest = &hex[8..];
                } else {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
            Some(out)
        }

        proptest! {
            #[test]
            fn output_uses_only_the_safe_alphabet(s in any::<String>()) {
                let out = sanitize(&s);
                prop_assert!(out.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '+'));
            }

            #[test]
            fn safe_input_is_unchanged(s in "[0-9A-Za-z_]*") {
                prop_assert_eq!(sanitize(&s), s);
            }

            #[test]
            fn sanitizing_is_reversible(s in any::<String>()) {
                // 'u'/'U' followed by '+' cannot come from a safe character,
                // because '+' itself is always escaped.
                prop_assert_eq!(unsanitize(&sanitize(&s)), Some(s));
            }

            #[test]
            fn no_delimiters_survive(s in any::<String>()) {
                let out = sanitize(&s);
                prop_assert!(!out.contains('|') && !out.contains('.') && !out.contains(' '));
            }
        }
    }
}
