//! Credentials and TLS settings carried by a NATS URL, moved into
//! async-nats [`ConnectOptions`] before the URL reaches async-nats.
//!
//! | in the URL | becomes |
//! |---|---|
//! | `nats://user:password@host` | `user_and_password` |
//! | `nats://token@host` | `token` |
//! | `?creds=FILE` | `credentials_file` (a `.creds` file: user JWT and nkey seed) |
//! | `?nkey=FILE` | `nkey` (a file holding the user's nkey seed, `SU…`) |
//! | `?tls_ca=FILE` | `add_root_certificates` (PEM) |
//! | `?tls_cert=FILE&tls_key=FILE` | `add_client_certificate` (PEM) |
//! | `?tls_required=true` | `require_tls` |
//!
//! Secrets are never in the URL's query (only file names are), and no
//! message of this module repeats a password, a token or a seed.

use std::path::PathBuf;

use async_nats::ConnectOptions;
use psrpc_protocol::bus::{BusError, BusErrorKind};

/// The query parameters this module reads.
const KNOWN: &[&str] = &["creds", "nkey", "tls_ca", "tls_cert", "tls_key", "tls_required"];

/// The credential and TLS parameters of a bus's URLs (several URLs of one
/// cluster add up; a file named twice is used once).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct UrlAuth {
    creds: Option<PathBuf>,
    nkey: Option<PathBuf>,
    tls_ca: Vec<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_required: bool,
}

impl UrlAuth {
    /// Removes this module's parameters from `url`'s query and adds them to
    /// `self`; other parameters stay in the query. Fails on a malformed
    /// value (the message names the parameter, never a secret).
    pub(crate) fn take(&mut self, url: &mut url::Url) -> Result<(), String> {
        let mut rest = Vec::new();
        for (key, value) in url.query_pairs() {
            let path = || -> Result<PathBuf, String> {
                if value.is_empty() { Err(format!("{key}= needs a file name")) } else { Ok(PathBuf::from(&*value)) }
            };
            match &*key {
                "creds" => self.creds = Some(path()?),
                "nkey" => self.nkey = Some(path()?),
                "tls_ca" => {
                    let ca = path()?;
                    if !self.tls_ca.contains(&ca) {
                        self.tls_ca.push(ca);
                    }
                }
                "tls_cert" => self.tls_cert = Some(path()?),
                "tls_key" => self.tls_key = Some(path()?),
                "tls_required" => {
                    self.tls_required |= match &*value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err("tls_required: expected true or false".into()),
                    }
                }
                _ => rest.push((key.into_owned(), value.into_owned())),
            }
        }
        if rest.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(rest);
        }
        Ok(())
    }

    /// `options` with these settings. Fails if a file cannot be read or a
    /// `.creds` file cannot be parsed (the message names the parameter and
    /// the file, never its contents).
    pub(crate) async fn apply(self, mut options: ConnectOptions) -> Result<ConnectOptions, BusError> {
        let bad = |what: String| BusError::with_source(BusErrorKind::Transport, format!("NATS URL: {what}"));
        if self.creds.is_some() && self.nkey.is_some() {
            return Err(bad("creds and nkey exclude each other".into()));
        }
        if let Some(creds) = self.creds {
            options = options.credentials_file(&creds).await.map_err(|e| bad(format!("creds {creds:?}: {e}")))?;
        }
        if let Some(nkey) = self.nkey {
            let seed = std::fs::read_to_string(&nkey).map_err(|e| bad(format!("nkey {nkey:?}: {e}")))?;
            options = options.nkey(seed.trim().to_owned());
        }
        for ca in self.tls_ca {
            if let Err(e) = std::fs::metadata(&ca) {
                return Err(bad(format!("tls_ca {ca:?}: {e}")));
            }
            options = options.add_root_certificates(ca);
        }
        match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => {
                for (name, path) in [("tls_cert", &cert), ("tls_key", &key)] {
                    if let Err(e) = std::fs::metadata(path) {
                        return Err(bad(format!("{name} {path:?}: {e}")));
                    }
                }
                options = options.add_client_certificate(cert, key);
            }
            (None, None) => {}
            _ => return Err(bad("tls_cert and tls_key go together".into())),
        }
        if self.tls_required {
            options = options.require_tls(true);
        }
        Ok(options)
    }
}

/// Fails if `url` still has query parameters (after every module took its
/// own): the message names the first unknown one, not its value.
pub(crate) fn refuse_unknown(url: &url::Url) -> Result<(), String> {
    match url.query_pairs().next() {
        Some((key, _)) => Err(format!("unknown parameter {key:?} (known: {})", KNOWN.join(", "))),
        None => Ok(()),
    }
}

/// Moves `user:password@` or `token@` from `url` into the options.
pub(crate) fn credentials_from_url(url: &mut url::Url, options: ConnectOptions) -> ConnectOptions {
    let user = url.username().to_owned();
    if user.is_empty() {
        return options;
    }
    let options = match url.password() {
        Some(password) => options.user_and_password(user, password.to_owned()),
        None => options.token(user),
    };
    // Cannot fail: the URL has a host (it had credentials).
    let _ = url.set_username("");
    let _ = url.set_password(None);
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(url: &str) -> Result<(UrlAuth, String), String> {
        let mut url = url::Url::parse(url).expect("a URL");
        let mut auth = UrlAuth::default();
        auth.take(&mut url)?;
        refuse_unknown(&url)?;
        Ok((auth, url.to_string()))
    }

    #[test]
    fn parameters_are_read_and_stripped() {
        let (auth, url) = taken(
            "nats://h:4222?creds=/a.creds&tls_ca=/ca.pem&tls_cert=/c.pem&tls_key=/k.pem&tls_required=true&tls_ca=/ca.pem",
        )
        .expect("known parameters");
        assert_eq!(url, "nats://h:4222");
        assert_eq!(auth.creds.as_deref(), Some(std::path::Path::new("/a.creds")));
        assert_eq!(auth.tls_ca, [PathBuf::from("/ca.pem")], "a CA named twice counts once");
        assert!(auth.tls_required && auth.tls_cert.is_some() && auth.tls_key.is_some());
        let (auth, url) = taken("nats://h:4222?nkey=/seed%20file").expect("nkey");
        assert_eq!((auth.nkey, url.as_str()), (Some(PathBuf::from("/seed file")), "nats://h:4222"));
        assert_eq!(taken("nats://h:4222").expect("none").0, UrlAuth::default());
    }

    #[test]
    fn unknown_and_malformed_parameters_are_refused_without_their_values() {
        let why = taken("nats://h:4222?pasword=hunter2").expect_err("unknown");
        assert!(why.contains("\"pasword\"") && why.contains("known: creds") && !why.contains("hunter2"), "{why}");
        let why = taken("nats://h:4222?tls_required=hunter2").expect_err("not a boolean");
        assert!(why.starts_with("tls_required") && !why.contains("hunter2"), "{why}");
        assert!(taken("nats://h:4222?creds=").is_err(), "a file name is required");
    }

    #[test]
    fn user_password_and_token_leave_the_url() {
        for (given, left) in [("nats://u:p%40ss@h:4222", "nats://h:4222"), ("nats://tok@h:4222", "nats://h:4222")] {
            let mut url = url::Url::parse(given).expect("a URL");
            let options = credentials_from_url(&mut url, ConnectOptions::new());
            assert_eq!(url.as_str(), left);
            for secret in ["p%40ss", "p@ss", "tok"] {
                assert!(!format!("{options:?}").contains(secret), "{secret} in {options:?}");
            }
        }
    }

    #[tokio::test]
    async fn file_errors_name_the_parameter_and_file_but_never_the_contents() {
        let auth = UrlAuth { tls_cert: Some("/c.pem".into()), ..UrlAuth::default() };
        let why = auth.apply(ConnectOptions::new()).await.expect_err("cert without key").to_string();
        assert!(why.contains("tls_cert and tls_key go together"), "{why}");
        let auth = UrlAuth { nkey: Some("/nonexistent/seed".into()), ..UrlAuth::default() };
        let why = auth.apply(ConnectOptions::new()).await.expect_err("no seed file").to_string();
        assert!(why.contains("nkey \"/nonexistent/seed\""), "{why}");
        let dir = std::env::temp_dir().join(psrpc_protocol::id::new_id("psrpc-creds-"));
        std::fs::write(&dir, "SUsecretseedthatisnotacredsfile").expect("write");
        let auth = UrlAuth { creds: Some(dir.clone()), ..UrlAuth::default() };
        let error = auth.apply(ConnectOptions::new()).await.expect_err("not a creds file");
        let _ = std::fs::remove_file(&dir);
        assert!(error.to_string().contains("creds"), "{error}");
        assert!(!format!("{error} {error:?}").contains("SUsecret"), "{error:?}");
    }
}
