//! A `nats-server` that requires authentication or TLS client
//! certificates, configured by a file this module writes
//! (`nats-server -c FILE`), and the URLs that reach it.
//!
//! | form | server configuration | client URL |
//! |---|---|---|
//! | [`NatsAuth::UserPassword`] | `authorization { user, password }` | `nats://user:password@…` |
//! | [`NatsAuth::Token`] | `authorization { token }` | `nats://token@…` |
//! | [`NatsAuth::Nkey`] | `authorization { users: [{ nkey }] }` | `nats://…?nkey=SEED_FILE` |
//! | [`NatsAuth::Creds`] | operator mode: `operator`, `resolver: MEMORY`, `resolver_preload` | `nats://…?creds=FILE` |
//! | [`NatsAuth::Tls`] | `tls { cert_file, key_file, ca_file, verify: true }` | `nats://…?tls_ca=…&tls_cert=…&tls_key=…` |
//!
//! The nkeys are fresh for every server ([`nkeys::KeyPair`]); the operator,
//! account and user JWTs of the creds form are signed here, as `nsc` would.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;

use crate::broker::{BrokerError, BrokerProcess, free_port};
use crate::tls::SelfSigned;
use crate::topology::{Scratch, start_error, with_fresh_ports};

/// The user of [`NatsAuth::UserPassword`].
///
/// ```
/// use psrpc_test_support::nats_auth::{NATS_PASSWORD, NATS_USER};
/// let wrong = format!("nats://{NATS_USER}:not-{NATS_PASSWORD}@127.0.0.1:4222");
/// # let _ = wrong;
/// ```
pub const NATS_USER: &str = "orders";
/// [`NATS_USER`]'s password.
///
/// ```
/// assert!(psrpc_test_support::nats_auth::NATS_PASSWORD.contains("s3cret")); // easy to look for in messages
/// ```
pub const NATS_PASSWORD: &str = "orders-s3cret";
/// The token of [`NatsAuth::Token`].
///
/// ```
/// assert!(psrpc_test_support::nats_auth::NATS_TOKEN.contains("s3cret")); // easy to look for in messages
/// ```
pub const NATS_TOKEN: &str = "t0ken-s3cret";

/// How clients must prove who they are.
///
/// ```no_run
/// use psrpc_test_support::nats_auth::{NatsAuth, SecuredNats};
/// for auth in [NatsAuth::UserPassword, NatsAuth::Token, NatsAuth::Nkey, NatsAuth::Creds] {
///     let server = SecuredNats::start(auth, None)?;
///     println!("{auth:?}: {}", server.url());
/// }
/// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatsAuth {
    /// A user and password.
    UserPassword,
    /// A token.
    Token,
    /// A user nkey (the client signs the server's nonce with its seed).
    Nkey,
    /// A `.creds` file: a user JWT issued by an account the operator
    /// signed, and the user's seed (decentralized auth, operator mode).
    Creds,
    /// A TLS client certificate signed by the CA the server trusts.
    Tls,
}

/// A `nats-server` on a free loopback port requiring one [`NatsAuth`]
/// form. Killed, and its files removed, on drop.
///
/// ```no_run
/// use psrpc_test_support::nats_auth::{NatsAuth, SecuredNats};
/// let server = SecuredNats::start(NatsAuth::Nkey, None)?;
/// let url = server.url(); // "nats://127.0.0.1:p?nkey=/tmp/…/user.nk"
/// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
/// ```
#[derive(Debug)]
pub struct SecuredNats {
    _process: BrokerProcess,
    scratch: Scratch,
    port: u16,
    auth: NatsAuth,
    tls: Option<(PathBuf, PathBuf)>,
}

impl SecuredNats {
    /// Starts a server requiring `auth`; [`NatsAuth::Tls`] needs `certs`:
    /// the server's certificate, the CA it trusts, and the certificate
    /// clients present (one self-signed certificate plays every part).
    ///
    /// ```no_run
    /// use psrpc_test_support::nats_auth::{NatsAuth, SecuredNats};
    /// let certs = psrpc_test_support::tls::SelfSigned::create()?;
    /// let server = SecuredNats::start(NatsAuth::Tls, Some(&certs))?;
    /// # let _ = server;
    /// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
    /// ```
    pub fn start(auth: NatsAuth, certs: Option<&SelfSigned>) -> Result<Self, BrokerError> {
        let tls = certs.map(|c| (c.cert(), c.key()));
        if auth == NatsAuth::Tls && tls.is_none() {
            return Err(start_error("nats-server", "NatsAuth::Tls needs certificates"));
        }
        with_fresh_ports(|| Self::start_once(auth, tls.clone()))
    }

    fn start_once(auth: NatsAuth, tls: Option<(PathBuf, PathBuf)>) -> Result<Self, BrokerError> {
        let scratch = Scratch::new("nats-auth")?;
        let port = free_port();
        let write = |name: &str, text: &str| {
            let path = scratch.path().join(name);
            std::fs::write(&path, text).map_err(|e| start_error("nats-server", e.to_string()))?;
            Ok::<_, BrokerError>(path)
        };
        let mut config = format!("listen: \"127.0.0.1:{port}\"\n");
        match auth {
            NatsAuth::UserPassword => {
                config.push_str(&format!("authorization {{ user: \"{NATS_USER}\", password: \"{NATS_PASSWORD}\" }}\n"));
            }
            NatsAuth::Token => config.push_str(&format!("authorization {{ token: \"{NATS_TOKEN}\" }}\n")),
            NatsAuth::Nkey => {
                let user = KeyPair::new_user();
                write("user.nk", &seed(&user)?)?;
                config.push_str(&format!("authorization {{ users: [ {{ nkey: \"{}\" }} ] }}\n", user.public_key()));
            }
            NatsAuth::Creds => {
                let operator = KeyPair::new_operator();
                let account = KeyPair::new_account();
                let user = KeyPair::new_user();
                let operator_jwt = jwt(
                    &operator,
                    &operator.public_key(),
                    "psrpc",
                    serde_json::json!({"type": "operator", "version": 2}),
                )?;
                let limits = serde_json::json!({
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1,
                });
                let account_claims = serde_json::json!({"type": "account", "version": 2, "limits": limits});
                let account_jwt = jwt(&operator, &account.public_key(), "app", account_claims)?;
                let user_claims = serde_json::json!({"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1});
                let user_jwt = jwt(&account, &user.public_key(), "orders", user_claims)?;
                write("user.creds", &creds(&user_jwt, &seed(&user)?))?;
                config.push_str(&format!(
                    "operator: \"{operator_jwt}\"\nresolver: MEMORY\nresolver_preload: {{ {}: \"{account_jwt}\" }}\n",
                    account.public_key()
                ));
            }
            NatsAuth::Tls => {
                let Some((cert, key)) = &tls else {
                    return Err(start_error("nats-server", "NatsAuth::Tls needs certificates"));
                };
                let (cert, key) = (cert.display(), key.display());
                config.push_str(&format!(
                    "tls {{ cert_file: \"{cert}\", key_file: \"{key}\", ca_file: \"{cert}\", verify: true, timeout: 5 }}\n"
                ));
            }
        }
        let file = write("nats.conf", &config)?;
        let process = BrokerProcess::start("nats-server", vec!["-c".to_owned(), file.display().to_string()], port)?;
        Ok(SecuredNats { _process: process, scratch, port, auth, tls })
    }

    /// A URL that authenticates with the server's form.
    ///
    /// ```no_run
    /// use psrpc_test_support::nats_auth::{NatsAuth, SecuredNats};
    /// let server = SecuredNats::start(NatsAuth::Token, None)?;
    /// assert!(server.url().starts_with("nats://t0ken-s3cret@127.0.0.1:"));
    /// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
    /// ```
    pub fn url(&self) -> String {
        let host = format!("127.0.0.1:{}", self.port);
        let file = |name: &str| self.scratch.path().join(name).display().to_string();
        match (self.auth, &self.tls) {
            (NatsAuth::UserPassword, _) => format!("nats://{NATS_USER}:{NATS_PASSWORD}@{host}"),
            (NatsAuth::Token, _) => format!("nats://{NATS_TOKEN}@{host}"),
            (NatsAuth::Nkey, _) => format!("nats://{host}?nkey={}", file("user.nk")),
            (NatsAuth::Creds, _) => format!("nats://{host}?creds={}", file("user.creds")),
            (NatsAuth::Tls, Some((cert, key))) => {
                let (cert, key) = (cert.display(), key.display());
                format!("nats://{host}?tls_ca={cert}&tls_cert={cert}&tls_key={key}")
            }
            (NatsAuth::Tls, None) => unreachable!("a TLS server has certificates"),
        }
    }

    /// The server's address without credentials: `nats://127.0.0.1:port`.
    ///
    /// ```no_run
    /// use psrpc_test_support::nats_auth::{NatsAuth, SecuredNats};
    /// let server = SecuredNats::start(NatsAuth::Token, None)?;
    /// let anonymous = server.bare_url(); // refused: no token
    /// # let _ = anonymous;
    /// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
    /// ```
    pub fn bare_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Writes the seed of a user nkey the server does not know; the file's
    /// path (for `?nkey=`).
    ///
    /// ```no_run
    /// use psrpc_test_support::nats_auth::{NatsAuth, SecuredNats};
    /// let server = SecuredNats::start(NatsAuth::Nkey, None)?;
    /// let refused = format!("{}?nkey={}", server.bare_url(), server.stranger_nkey()?.display());
    /// # let _ = refused;
    /// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
    /// ```
    pub fn stranger_nkey(&self) -> Result<PathBuf, BrokerError> {
        let path = self.scratch.path().join("stranger.nk");
        std::fs::write(&path, seed(&KeyPair::new_user())?).map_err(|e| start_error("nats-server", e.to_string()))?;
        Ok(path)
    }
}

fn seed(key: &KeyPair) -> Result<String, BrokerError> {
    key.seed().map_err(|e| start_error("nats-server", format!("nkey seed: {e}")))
}

/// A NATS JWT (`alg: ed25519-nkey`) for `subject`, signed by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> Result<String, BrokerError> {
    let encode = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let header = encode(&serde_json::json!({"typ": "JWT", "alg": "ed25519-nkey"}));
    let issued = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let claims = serde_json::json!({
        "jti": psrpc_protocol::id::new_id("").to_uppercase(),
        "iat": issued,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let signed = format!("{header}.{}", encode(&claims));
    let signature = issuer.sign(signed.as_bytes()).map_err(|e| start_error("nats-server", format!("signing: {e}")))?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// A `.creds` file's text, as `nsc` writes it.
fn creds(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
}
