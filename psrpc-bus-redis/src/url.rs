//! Bus URLs: which servers a URL names, how to reach them (credentials,
//! TLS), and how a URL reads in messages (without its secrets).
//!
//! | form | servers |
//! |---|---|
//! | `redis://…`, `rediss://…`, `unix://…` | one server (redis-rs's URL) |
//! | `redis+sentinel://[user:password@]host:port[,host:port…]/master[/db]` | the master the Sentinels name |
//! | `redis+cluster://[user:password@]host:port[,host:port…]` | a Redis Cluster |
//!
//! `rediss+sentinel://` and `rediss+cluster://` use TLS to every node, and
//! to the Sentinels. The query adds what a URL of redis-rs cannot say:
//!
//! | parameter | forms | meaning |
//! |---|---|---|
//! | `tls_ca=PATH` | `rediss…` | the CA that signed the servers' certificates (PEM), instead of the system roots |
//! | `tls_cert=PATH`, `tls_key=PATH` | `rediss…` | a client certificate and its key (PEM), for servers that ask for one |
//! | `tls_insecure=true` | `rediss…` | no certificate check (tests only) |
//! | `sentinel_username=U`, `sentinel_password=P` | Sentinel | the Sentinels' own credentials (the `user:password@` are the data nodes') |
//! | `pubsub=classic\|sharded` | Cluster | how frames travel (see [`ClusterPubSub`]) |
//! | `namespace=NS` | all | the bus's namespace (see [`RedisBusOptions::namespace`](crate::RedisBusOptions::namespace)) |
//!
//! Values are percent-decoded. Any other parameter of a one-server URL goes
//! to redis-rs (`protocol=…`); on the other forms it is refused.

use psrpc_protocol::namespace::Namespace;
use redis::{ClientTlsConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo as _, TlsCertificates};

use crate::endpoint::{ClusterPubSub, ClusterTarget, SentinelTarget, Target};

/// The servers `url` names and how to reach them, and the namespace it
/// gives, or why it is not a bus URL (the reason never repeats a secret).
pub(crate) fn parse(url: &str) -> Result<(Target, Option<Namespace>), String> {
    let (scheme, rest) = url.split_once("://").ok_or("expected scheme://…")?;
    let (body, query) = split_query(rest);
    let mut query = Query::parse(query)?;
    let namespace = query.namespace.take();
    let target = match scheme {
        "redis" | "rediss" | "unix" | "redis+unix" => direct(scheme, body, query),
        "redis+sentinel" | "rediss+sentinel" => sentinel(scheme.starts_with("rediss"), body, query),
        "redis+cluster" | "rediss+cluster" => cluster(scheme.starts_with("rediss"), body, query),
        other => Err(format!(
            "unknown scheme {other:?}: expected redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster"
        )),
    }?;
    Ok((target, namespace))
}

/// `url` with every password replaced by `***` (the one in `user:password@`,
/// and the value of every query parameter that may hold a secret:
/// `sentinel_password`, and ones psrpc does not take, such as `password`
/// or `token`, which a URL in error may carry), for messages and logs.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "***".into() };
    let (body, query) = split_query(rest);
    let body = match body.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{hosts}"),
            None => format!("{userinfo}@{hosts}"),
        },
        None => body.to_owned(),
    };
    if query.is_empty() {
        return format!("{scheme}://{body}");
    }
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if secret_parameter(key) => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{scheme}://{body}?{}", query.join("&"))
}

/// Whether the query parameter `key` may hold a secret.
fn secret_parameter(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "pass", "passwd", "pwd", "token", "secret", "auth", "seed"].iter().any(|s| key.ends_with(s))
}

/// Splits `rest` (after `scheme://`) at the query's `?`, looking only after
/// the credentials so that a `?` in a password does not end the path.
fn split_query(rest: &str) -> (&str, &str) {
    let after_auth = rest.rfind('@').map_or(0, |at| at + 1);
    match rest[after_auth..].find('?') {
        Some(q) => (&rest[..after_auth + q], &rest[after_auth + q + 1..]),
        None => (rest, ""),
    }
}

/// The query parameters this crate reads, and the others.
#[derive(Default)]
struct Query {
    tls_ca: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    tls_insecure: bool,
    sentinel_username: Option<String>,
    sentinel_password: Option<String>,
    pubsub: Option<ClusterPubSub>,
    namespace: Option<Namespace>,
    /// Other `key=value` pairs, as written.
    others: Vec<String>,
}

impl Query {
    fn parse(query: &str) -> Result<Self, String> {
        let mut parsed = Query::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = || percent_decoded(value).ok_or_else(|| format!("{key}: bad percent-encoding"));
            match key {
                "tls_ca" => parsed.tls_ca = Some(decoded()?),
                "tls_cert" => parsed.tls_cert = Some(decoded()?),
                "tls_key" => parsed.tls_key = Some(decoded()?),
                "tls_insecure" => {
                    parsed.tls_insecure = match value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(format!("tls_insecure={value:?}: expected true or false")),
                    }
                }
                "sentinel_username" => parsed.sentinel_username = Some(decoded()?),
                "sentinel_password" => parsed.sentinel_password = Some(decoded()?),
                "namespace" => parsed.namespace = Some(Namespace::new(value).map_err(|e| e.to_string())?),
                "pubsub" => {
                    parsed.pubsub = Some(match value {
                        "classic" => ClusterPubSub::Classic,
                        "sharded" => ClusterPubSub::Sharded,
                        _ => return Err(format!("pubsub={value:?}: expected classic or sharded")),
                    })
                }
                _ => parsed.others.push(pair.to_owned()),
            }
        }
        Ok(parsed)
    }

    /// Refuses what the form (`what`) does not take.
    fn only(&self, what: &str, tls: bool, sentinel: bool, cluster: bool) -> Result<(), String> {
        let tls_given = self.tls_ca.is_some() || self.tls_cert.is_some() || self.tls_key.is_some() || self.tls_insecure;
        if tls_given && !tls {
            return Err("tls_… parameters need a rediss scheme".into());
        }
        if !sentinel && (self.sentinel_username.is_some() || self.sentinel_password.is_some()) {
            return Err(format!("sentinel_… parameters are for Sentinel URLs, not {what}"));
        }
        if !cluster && self.pubsub.is_some() {
            return Err(format!("pubsub is for cluster URLs, not {what}"));
        }
        if (sentinel || cluster)
            && let Some(other) = self.others.first()
        {
            let key = other.split_once('=').map_or(other.as_str(), |(k, _)| k);
            return Err(format!("unknown parameter {key:?} of a {what} URL"));
        }
        Ok(())
    }

    /// The certificates the `tls_…` files hold, if any was given.
    fn certificates(&self) -> Result<Option<TlsCertificates>, String> {
        let read = |name: &str, path: &str| std::fs::read(path).map_err(|e| format!("{name} {path:?}: {e}"));
        let root_cert = self.tls_ca.as_deref().map(|path| read("tls_ca", path)).transpose()?;
        let client_tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                Some(ClientTlsConfig { client_cert: read("tls_cert", cert)?, client_key: read("tls_key", key)? })
            }
            (None, None) => None,
            _ => return Err("tls_cert and tls_key go together".into()),
        };
        Ok((root_cert.is_some() || client_tls.is_some()).then_some(TlsCertificates { client_tls, root_cert }))
    }
}

/// Percent-decodes `value`; `None` if an escape is malformed or the
/// result is not UTF-8.
fn percent_decoded(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `info` with the query's TLS settings: no certificate check if
/// `tls_insecure`, and the certificates of the `tls_…` files.
fn with_tls(
    info: ConnectionInfo,
    certificates: Option<&TlsCertificates>,
    insecure: bool,
) -> Result<ConnectionInfo, String> {
    let info = match info.addr().clone() {
        ConnectionAddr::TcpTls { host, port, tls_params, .. } if insecure => {
            info.set_addr(ConnectionAddr::TcpTls { host, port, insecure: true, tls_params })
        }
        _ => info,
    };
    match certificates {
        Some(certificates) => redis::Client::build_with_tls(info, certificates.clone())
            .map(|client| client.get_connection_info().clone())
            .map_err(|e| format!("TLS certificates: {e}")),
        None => Ok(info),
    }
}

/// The connection info of `scheme://[auth]host` (`rediss` if `tls`).
fn node(tls: bool, auth: &str, host: &str, db: &str, query: &Query) -> Result<ConnectionInfo, String> {
    let scheme = if tls { "rediss" } else { "redis" };
    let info = format!("{scheme}://{auth}{host}/{db}")
        .into_connection_info()
        .map_err(|_| format!("{host:?} is not host:port (or the credentials are not percent-encoded)"))?;
    with_tls(info, query.certificates()?.as_ref(), query.tls_insecure)
}

/// Splits `[auth@]hosts` into `auth@` (empty if none) and the hosts.
fn split_auth(body: &str) -> (String, &str) {
    match body.rsplit_once('@') {
        Some((auth, rest)) => (format!("{auth}@"), rest),
        None => (String::new(), body),
    }
}

fn direct(scheme: &str, body: &str, query: Query) -> Result<Target, String> {
    query.only("one-server", scheme == "rediss", false, false)?;
    let mut url = format!("{scheme}://{body}");
    if !query.others.is_empty() {
        url = format!("{url}?{}", query.others.join("&"));
    }
    let info = url.into_connection_info().map_err(|e| e.to_string())?;
    Ok(Target::Direct(with_tls(info, query.certificates()?.as_ref(), query.tls_insecure)?))
}

fn sentinel(tls: bool, body: &str, query: Query) -> Result<Target, String> {
    query.only("Sentinel", tls, true, false)?;
    let shape = "expected host:port[,host:port…]/master[/db]";
    let (auth, rest) = split_auth(body);
    let (hosts, path) = rest.split_once('/').ok_or_else(|| format!("no master name: {shape}"))?;
    let mut path = path.split('/');
    let master = path.next().filter(|m| !m.is_empty()).ok_or_else(|| format!("no master name: {shape}"))?.to_owned();
    let db = path.next().filter(|d| !d.is_empty()).unwrap_or("0");
    let sentinels: Vec<String> = hosts.split(',').map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned).collect();
    let first = sentinels.first().ok_or_else(|| format!("no Sentinel: {shape}"))?;
    let data = node(tls, &auth, first, db, &query)?;
    let mut access = node(tls, "", first, "0", &query)?;
    let mut settings = access.redis_settings().clone();
    if let Some(username) = &query.sentinel_username {
        settings = settings.set_username(username);
    }
    if let Some(password) = &query.sentinel_password {
        settings = settings.set_password(password);
    }
    access = access.set_redis_settings(settings);
    Ok(Target::Sentinel(Box::new(SentinelTarget::new(sentinels, master, data, access))))
}

fn cluster(tls: bool, body: &str, query: Query) -> Result<Target, String> {
    query.only("cluster", tls, false, true)?;
    let (auth, hosts) = split_auth(body.trim_end_matches('/'));
    let seeds = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|host| node(tls, &auth, host, "0", &query))
        .collect::<Result<Vec<_>, _>>()?;
    if seeds.is_empty() {
        return Err("no node: expected host:port[,host:port…]".into());
    }
    let pubsub = query.pubsub.unwrap_or_default();
    Ok(Target::Cluster(ClusterTarget { seeds, pubsub, certificates: query.certificates()? }))
}

#[cfg(test)]
mod tests {
    use super::{parse, redacted};
    use crate::endpoint::{ClusterPubSub, Target};

    #[test]
    fn sentinel_urls_name_sentinels_master_credentials_database_and_sentinel_credentials() {
        let Ok((Target::Sentinel(t), _)) = parse("redis+sentinel://a:26379,b:26380/mymaster") else {
            panic!("sentinel")
        };
        assert_eq!((t.sentinels(), t.master()), (&["a:26379".to_owned(), "b:26380".to_owned()][..], "mymaster"));
        let url = "redis+sentinel://ada:pw@a:26379/m/3?sentinel_username=sam&sentinel_password=p%26q";
        let Ok((Target::Sentinel(t), _)) = parse(url) else { panic!("sentinel with credentials") };
        let node = t.node().redis_settings();
        assert_eq!((node.username(), node.password(), node.db()), (Some("ada"), Some("pw"), 3));
        let access = t.access().redis_settings();
        assert_eq!((access.username(), access.password()), (Some("sam"), Some("p&q")));
        assert!(parse("redis+sentinel://a:26379/").is_err(), "a master name is required");
        assert!(parse("redis+sentinel://a:26379/m?pubsub=sharded").is_err());
        assert!(parse("redis+sentinel://a:26379/m?tls_insecure=true").is_err(), "TLS needs rediss");
        let Ok((Target::Sentinel(t), _)) = parse("rediss+sentinel://a:26379/m?tls_insecure=true") else {
            panic!("tls")
        };
        for info in [t.node(), t.access()] {
            assert!(matches!(info.addr(), redis::ConnectionAddr::TcpTls { insecure: true, .. }), "{:?}", info.addr());
        }
    }

    #[test]
    fn cluster_urls_name_seeds_credentials_and_pubsub() {
        let Ok((Target::Cluster(c), _)) = parse("redis+cluster://u:p@a:7000,b:7001?pubsub=sharded") else {
            panic!("cluster")
        };
        assert_eq!((c.seeds.len(), c.pubsub), (2, ClusterPubSub::Sharded));
        assert_eq!(c.seeds[1].redis_settings().password(), Some("p"));
        assert!(parse("redis+cluster://a:7000?pubsub=other").is_err());
        assert!(parse("redis+cluster://a:7000?sentinel_password=x").is_err());
        assert!(parse("redis+cluster://").is_err());
    }

    #[test]
    fn tls_files_are_read_and_named_when_missing() {
        let why = parse("rediss://h:6379?tls_ca=/nonexistent/ca.pem").expect_err("missing file");
        assert!(why.contains("tls_ca \"/nonexistent/ca.pem\""), "{why}");
        let why = parse("rediss+cluster://h:6379?tls_cert=/c.pem").expect_err("cert without key");
        assert!(why.contains("go together"), "{why}");
        assert!(parse("redis://h:6379?tls_ca=/ca.pem").is_err(), "TLS needs rediss");
        assert!(matches!(parse("redis://h:6379?protocol=resp3"), Ok((Target::Direct(_), _))), "others go to redis-rs");
        assert!(parse("nats://h:4222").is_err());
    }

    #[test]
    fn every_form_takes_a_namespace_and_refuses_a_bad_one() {
        for url in [
            "redis://h:6379?namespace=blue",
            "redis+sentinel://a:26379/m?namespace=blue",
            "redis+cluster://a:7000?namespace=blue",
        ] {
            let (_, ns) = parse(url).expect(url);
            assert_eq!(ns.map(|ns| ns.as_str().to_owned()).as_deref(), Some("blue"), "{url}");
        }
        let why = parse("redis://h:6379?namespace=a|b").expect_err("bad namespace");
        assert!(why.contains("[A-Za-z0-9_-]"), "{why}");
        assert!(parse("redis+cluster://a:7000?namespace=").is_err());
    }

    #[test]
    fn redacted_urls_hide_every_password() {
        assert_eq!(redacted("redis://ada:s3cret@h:6379/0"), "redis://ada:***@h:6379/0");
        assert_eq!(redacted("redis://:s3cret@h:6379"), "redis://:***@h:6379");
        assert_eq!(
            redacted("rediss+sentinel://u:a?b@s1,s2/m?sentinel_username=sam&sentinel_password=top"),
            "rediss+sentinel://u:***@s1,s2/m?sentinel_username=sam&sentinel_password=***"
        );
        assert_eq!(redacted("redis://h:6379"), "redis://h:6379");
        assert_eq!(
            redacted("redis://h:6379/0?password=p1&token=t1&tls_key=/k.pem&AUTH=a1"),
            "redis://h:6379/0?password=***&token=***&tls_key=/k.pem&AUTH=***"
        );
        assert_eq!(redacted("garbage"), "***");
    }
}
