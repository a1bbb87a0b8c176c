//! Namespaces: an opt-in prefix on every broker name a bus uses, so that two
//! deployments sharing one broker never see each other's traffic
//! (docs/WIRE.md section 14).
//!
//! A [`Namespace`] is 1–64 characters of `[A-Za-z0-9_-]`. Without one, every
//! name is exactly the Go-compatible name of section 4. With namespace `ns`:
//!
//! | bus | name |
//! |---|---|
//! | Redis, in-process | `ns\|` + the Legacy name; Redis queue lock keys `ns\|` + the 44-character key |
//! | NATS | `ns.` + the subject; queue group `ns.bus` |
//!
//! Local names (inside NATS frames) never change. [`broker_names`] maps a
//! namespace and a [`Channel`] to the names a broker sees, for tools that
//! print broker permissions.
//!
//! ```
//! use psrpc_protocol::{channel, namespace::{Namespace, broker_names}};
//! let ns: Namespace = "blue".parse().unwrap();
//! let names = broker_names(Some(&ns), &channel::response_channel("Svc", "CLI_a"));
//! assert_eq!((&*names.redis, &*names.nats), ("blue|Svc|CLI_a|RES", "blue.CLI.Svc.CLI_a.RES"));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::channel::Channel;

/// The longest namespace, in characters (all ASCII).
///
/// ```
/// use psrpc_protocol::namespace::{MAX_NAMESPACE_LEN, Namespace};
/// assert!(Namespace::new(&"a".repeat(MAX_NAMESPACE_LEN)).is_ok());
/// assert!(Namespace::new(&"a".repeat(MAX_NAMESPACE_LEN + 1)).is_err());
/// ```
pub const MAX_NAMESPACE_LEN: usize = 64;

/// The queue group of NATS queue subscriptions outside any namespace (Go
/// psrpc's).
///
/// ```
/// assert_eq!(psrpc_protocol::namespace::NATS_QUEUE_GROUP, "bus");
/// ```
pub const NATS_QUEUE_GROUP: &str = "bus";

/// A validated namespace: 1–[`MAX_NAMESPACE_LEN`] characters of
/// `[A-Za-z0-9_-]`. Cheap to clone.
///
/// ```
/// use psrpc_protocol::namespace::Namespace;
/// let ns = Namespace::new("staging-2").unwrap();
/// assert_eq!(ns.as_str(), "staging-2");
/// assert!(Namespace::new("a.b").is_err(), "a dot would split NATS tokens");
/// assert!(Namespace::new("").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Namespace(Arc<str>);

/// Why a string is not a [`Namespace`]; its text says what is allowed.
///
/// ```
/// let err = psrpc_protocol::namespace::Namespace::new("a|b").unwrap_err();
/// assert!(err.to_string().contains("[A-Za-z0-9_-]"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceError(String);

impl fmt::Display for NamespaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NamespaceError {}

impl Namespace {
    /// Checks `name` and makes it a namespace.
    ///
    /// ```
    /// use psrpc_protocol::namespace::Namespace;
    /// assert!(Namespace::new("team_a").is_ok());
    /// assert!(Namespace::new("team a").is_err());
    /// ```
    pub fn new(name: &str) -> Result<Self, NamespaceError> {
        if name.is_empty() || name.len() > MAX_NAMESPACE_LEN {
            return Err(NamespaceError(format!(
                "namespace {name:?} must be 1 to {MAX_NAMESPACE_LEN} characters of [A-Za-z0-9_-], not {}",
                name.chars().count()
            )));
        }
        if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
            return Err(NamespaceError(format!("namespace {name:?} contains {c:?}: only [A-Za-z0-9_-] are allowed")));
        }
        Ok(Namespace(name.into()))
    }

    /// The namespace's name.
    ///
    /// ```
    /// assert_eq!(psrpc_protocol::namespace::Namespace::new("x").unwrap().as_str(), "x");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Namespace {
    type Err = NamespaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Namespace::new(s)
    }
}

/// A Redis (or in-process) name in `namespace`: `<ns>|name`, or `name`
/// unchanged without a namespace. Used for channel names and for the
/// Redis bus's queue lock keys.
///
/// ```
/// use psrpc_protocol::namespace::{Namespace, redis_name};
/// let ns = Namespace::new("a").unwrap();
/// assert_eq!(redis_name(Some(&ns), "Svc|M|REQ"), "a|Svc|M|REQ");
/// assert_eq!(redis_name(None, "Svc|M|REQ"), "Svc|M|REQ");
/// ```
pub fn redis_name<'a>(namespace: Option<&Namespace>, name: &'a str) -> Cow<'a, str> {
    prefixed(namespace, '|', name)
}

/// A NATS subject in `namespace`: `<ns>.subject`, or `subject` unchanged
/// without a namespace.
///
/// ```
/// use psrpc_protocol::namespace::{Namespace, nats_subject};
/// let ns = Namespace::new("a").unwrap();
/// assert_eq!(nats_subject(Some(&ns), "SRV.Svc.Q"), "a.SRV.Svc.Q");
/// assert_eq!(nats_subject(None, "SRV.Svc.Q"), "SRV.Svc.Q");
/// ```
pub fn nats_subject<'a>(namespace: Option<&Namespace>, subject: &'a str) -> Cow<'a, str> {
    prefixed(namespace, '.', subject)
}

/// The NATS queue group of queue subscriptions in `namespace`: `<ns>.bus`,
/// or `bus` without a namespace.
///
/// ```
/// use psrpc_protocol::namespace::{Namespace, nats_queue_group};
/// assert_eq!(nats_queue_group(Some(&Namespace::new("a").unwrap())), "a.bus");
/// assert_eq!(nats_queue_group(None), "bus");
/// ```
pub fn nats_queue_group(namespace: Option<&Namespace>) -> String {
    nats_subject(namespace, NATS_QUEUE_GROUP).into_owned()
}

/// The Redis (and in-process) name of `channel` in `namespace`, shared:
/// the channel's own Legacy name without a namespace.
///
/// ```
/// use std::sync::Arc;
/// use psrpc_protocol::{channel, namespace::{Namespace, channel_redis_name}};
/// let ch = channel::response_channel("Svc", "CLI_a");
/// assert!(Arc::ptr_eq(&channel_redis_name(None, &ch), &ch.legacy));
/// assert_eq!(&*channel_redis_name(Some(&Namespace::new("b").unwrap()), &ch), "b|Svc|CLI_a|RES");
/// ```
pub fn channel_redis_name(namespace: Option<&Namespace>, channel: &Channel) -> Arc<str> {
    shared(redis_name(namespace, &channel.legacy), &channel.legacy)
}

/// The NATS subject of `channel` in `namespace`, shared: the channel's own
/// Server name without a namespace.
///
/// ```
/// use psrpc_protocol::{channel, namespace::{Namespace, channel_nats_subject}};
/// let ch = channel::response_channel("Svc", "CLI_a");
/// assert_eq!(&*channel_nats_subject(Some(&Namespace::new("b").unwrap()), &ch), "b.CLI.Svc.CLI_a.RES");
/// ```
pub fn channel_nats_subject(namespace: Option<&Namespace>, channel: &Channel) -> Arc<str> {
    shared(nats_subject(namespace, &channel.server), &channel.server)
}

/// `name` as an `Arc`, reusing `original` when it was not changed.
fn shared(name: Cow<'_, str>, original: &Arc<str>) -> Arc<str> {
    match name {
        Cow::Borrowed(_) => Arc::clone(original),
        Cow::Owned(name) => name.into(),
    }
}

fn prefixed<'a>(namespace: Option<&Namespace>, separator: char, name: &'a str) -> Cow<'a, str> {
    match namespace {
        None => Cow::Borrowed(name),
        Some(ns) => {
            let mut out = String::with_capacity(ns.0.len() + 1 + name.len());
            out.push_str(&ns.0);
            out.push(separator);
            out.push_str(name);
            Cow::Owned(out)
        }
    }
}

/// The names a broker sees for one channel in a namespace
/// (see [`broker_names`]).
///
/// ```
/// use psrpc_protocol::{channel, namespace::broker_names};
/// let names = broker_names(None, &channel::request_channel("Svc", "M", &["t"], true));
/// assert_eq!(&*names.redis, "Svc|M|t|REQ");
/// assert_eq!(&*names.nats, "SRV.Svc.t.Q");
/// assert_eq!(&*names.local, "M.REQ");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerNames {
    /// The Redis channel (and in-process key): `<ns>|Legacy`.
    pub redis: Arc<str>,
    /// The NATS subject: `<ns>.Server`.
    pub nats: Arc<str>,
    /// The Local name inside NATS frames (never namespaced).
    pub local: Arc<str>,
}

/// Maps `namespace` and `channel` to the names the brokers see: a pure
/// function, the one every bus applies.
///
/// ```
/// use psrpc_protocol::{channel, namespace::{Namespace, broker_names}};
/// let ns = Namespace::new("green").unwrap();
/// let names = broker_names(Some(&ns), &channel::request_channel("Svc", "M", &[] as &[&str], false));
/// assert_eq!((&*names.redis, &*names.nats, &*names.local), ("green|Svc|M|REQ", "green.SRV.Svc", "M.REQ"));
/// ```
pub fn broker_names(namespace: Option<&Namespace>, channel: &Channel) -> BrokerNames {
    BrokerNames {
        redis: channel_redis_name(namespace, channel),
        nats: channel_nats_subject(namespace, channel),
        local: Arc::clone(&channel.local),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel;

    #[test]
    fn only_short_names_of_the_safe_alphabet_are_namespaces() {
        for good in ["a", "A-z_09", &"x".repeat(64)] {
            assert_eq!(Namespace::new(good).expect(good).as_str(), good);
        }
        for bad in ["", "a.b", "a|b", "a b", "a*", "a>", "é", "a\n", &"x".repeat(65)] {
            assert!(Namespace::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn no_namespace_keeps_every_name() {
        let ch = channel::request_channel("Svc", "M", &["a"], true);
        let names = broker_names(None, &ch);
        assert!(Arc::ptr_eq(&names.redis, &ch.legacy) && Arc::ptr_eq(&names.nats, &ch.server));
        assert_eq!(names.local, ch.local);
        assert!(matches!(redis_name(None, "x"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_namespace_prefixes_broker_names_but_not_local_names() {
        let ns = Namespace::new("ns-1").unwrap();
        let ch = channel::native_queue_channel("Svc", "M", &["a"]);
        let names = broker_names(Some(&ns), &ch);
        assert_eq!(&*names.redis, "ns-1|Svc|M|a|QREQ");
        assert_eq!(&*names.nats, "ns-1.SRVQ.Svc.M.a");
        assert_eq!(&*names.local, "M.QREQ");
        assert_eq!(nats_queue_group(Some(&ns)), "ns-1.bus");
    }
}
