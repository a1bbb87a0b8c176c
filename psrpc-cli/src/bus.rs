//! Connecting to the bus a URL names, and showing URLs without their secrets.

use std::sync::Arc;
use std::time::Duration;

use psrpc::SharedBus;
use tokio::sync::OnceCell;

use crate::exit::Failure;

/// The bus a command talks to, connected on first use: commands check
/// their arguments and the `.proto` first, so that a mistake is named
/// without a broker, and before a broker that is down is waited for.
#[derive(Debug)]
pub(crate) struct Connection {
    url: String,
    timeout: Duration,
    bus: OnceCell<SharedBus>,
}

impl Connection {
    /// A connection to `url`, to be made within `timeout`.
    pub(crate) fn new(url: String, timeout: Duration) -> Self {
        Connection { url, timeout, bus: OnceCell::new() }
    }

    /// The bus, connecting within the timeout the first time.
    pub(crate) async fn get(&self) -> Result<&SharedBus, Failure> {
        self.bus
            .get_or_try_init(|| async {
                tokio::time::timeout(self.timeout, connect(&self.url)).await.map_err(|_| {
                    Failure::unavailable(format!(
                        "cannot reach the {} bus within --timeout {:?}",
                        scheme(&self.url),
                        self.timeout
                    ))
                })?
            })
            .await
    }

    /// The URL's scheme, for display.
    pub(crate) fn scheme(&self) -> &'static str {
        scheme(&self.url)
    }

    /// Hands what is still buffered (a stream's close, say) to the broker,
    /// if a connection was made.
    pub(crate) async fn close(&self) {
        if let Some(bus) = self.bus.get() {
            bus.close().await;
        }
    }
}

/// Connects to the bus at `url`: every NATS and Redis form the library takes
/// (`nats://`, `tls://`, several comma-separated NATS servers, `redis://`,
/// `rediss://`, `redis+sentinel://`, `redis+cluster://` and their TLS
/// forms, with credentials and TLS settings in the URL).
async fn connect(url: &str) -> Result<SharedBus, Failure> {
    let bus: SharedBus = if url.starts_with("nats://") || url.starts_with("tls://") {
        Arc::new(psrpc::nats::NatsBus::connect(url, Default::default()).await.map_err(Failure::bus)?)
    } else if url.starts_with("redis") || url.starts_with("unix://") {
        Arc::new(psrpc::redis::RedisBus::connect(url, Default::default()).await.map_err(Failure::bus)?)
    } else {
        // Nothing of the URL is repeated: it may hold a password.
        return Err(Failure::usage(
            "--bus: unknown scheme: use nats://, tls://, redis://, rediss://, redis+sentinel:// or redis+cluster://",
        ));
    };
    Ok(bus)
}

/// Query parameters whose values are secrets.
const SECRET_PARAMS: [&str; 4] = ["password", "sentinel_password", "token", "nkey_seed"];

/// `url` (or several, comma-separated) with every secret replaced by `***`:
/// the password of `user:password@`, a NATS token (`token@`) and secret
/// query parameters. For `context ls` and messages.
///
/// ```text
/// redact("redis://app:s3cret@h:6379")  == "redis://app:***@h:6379"
/// redact("nats://t0ken@h:4222")        == "nats://***@h:4222"
/// ```
pub(crate) fn redact(url: &str) -> String {
    // Several NATS URLs each start with a scheme; a Redis host list does not.
    let mut urls: Vec<String> = Vec::new();
    for part in url.split(',') {
        match urls.last_mut() {
            Some(last) if !part.contains("://") => {
                last.push(',');
                last.push_str(part);
            }
            _ => urls.push(part.to_owned()),
        }
    }
    urls.iter().map(|u| redact_one(u)).collect::<Vec<_>>().join(",")
}

fn redact_one(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "***".into() };
    // Credentials end at the last `@` before the path. A `?` or `@` that a
    // password holds unencoded may make this hide more than the password,
    // never less.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (userinfo, hosts_and_rest) = match rest[..authority_end].rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (hosts, query) = match hosts_and_rest.split_once('?') {
        Some((hosts, query)) => (hosts, Some(query)),
        None => (hosts_and_rest, None),
    };
    let credentials = match userinfo {
        None => String::new(),
        Some(userinfo) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@"),
            // A NATS token, or a Redis user without a password: hidden either way.
            None if scheme.starts_with("nats") || scheme == "tls" => "***@".to_owned(),
            None => format!("{userinfo}@"),
        },
    };
    let query = query.map(|query| {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if SECRET_PARAMS.contains(&key) => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        format!("?{}", pairs.join("&"))
    });
    format!("{scheme}://{credentials}{hosts}{}", query.unwrap_or_default())
}

/// The scheme of `url` alone (`nats`, `redis+sentinel`…), safe to show
/// anywhere; `bus` for anything else (whatever precedes `://` in a
/// malformed URL may be part of a password).
pub(crate) fn scheme(url: &str) -> &'static str {
    const KNOWN: [&str; 10] = [
        "nats",
        "tls",
        "redis",
        "rediss",
        "redis+sentinel",
        "rediss+sentinel",
        "redis+cluster",
        "rediss+cluster",
        "unix",
        "redis+unix",
    ];
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    KNOWN.into_iter().find(|known| *known == scheme).unwrap_or("bus")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_every_secret_and_keeps_the_rest() {
        assert_eq!(redact("redis://app:s3cret@h:6379/0"), "redis://app:***@h:6379/0");
        assert_eq!(redact("redis://:s3cret@h:6379"), "redis://:***@h:6379");
        assert_eq!(redact("nats://t0ken@h:4222"), "nats://***@h:4222");
        assert_eq!(redact("nats://u:p@a:4222,nats://u:p@b:4222"), "nats://u:***@a:4222,nats://u:***@b:4222");
        assert_eq!(
            redact("redis+sentinel://w:pw@s1:26379,s2/mymaster?sentinel_password=x&tls_ca=/ca.pem"),
            "redis+sentinel://w:***@s1:26379,s2/mymaster?sentinel_password=***&tls_ca=/ca.pem"
        );
        assert!(!redact("redis://h:6379?password=p@ss").contains("p@ss"));
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
        assert_eq!(redact("garbage"), "***");
    }

    #[test]
    fn only_known_schemes_are_shown() {
        assert_eq!(scheme("nats://user:secret@host:4222"), "nats");
        assert_eq!(scheme("redis+sentinel://:pw@a,b/mymaster"), "redis+sentinel");
        assert_eq!(scheme("rediss+cluster://:pw@a,b"), "rediss+cluster");
        assert_eq!(scheme("secret-without-scheme"), "bus");
        assert_eq!(scheme("weird+secret://x"), "bus");
    }
}
