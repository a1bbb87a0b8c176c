//! Every credential form, end to end against a real nats-server configured
//! for it (`psrpc_test_support::nats_auth`): a unary RPC through the
//! authenticated bus, given only by its URL; and each wrong credential or
//! untrusted certificate refused at connect, at once, with an error that
//! says what failed and repeats no secret.

use std::sync::Arc;

use psrpc_bus_nats::{ConnectOptions, NatsBus};
use psrpc_core::{BusErrorKind, SharedBus};
use psrpc_test_support::SameBus;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::nats_auth::{NATS_PASSWORD, NATS_TOKEN, NATS_USER, NatsAuth, SecuredNats};
use psrpc_test_support::tls::SelfSigned;

/// Connects with `url` (nothing but the URL) and makes one unary call.
async fn unary_call_through(url: &str) {
    let bus = NatsBus::connect(url, ConnectOptions::new()).await.expect("authenticated connection");
    assert!(!format!("{bus:?}").contains("s3cret"), "a secret in the bus's Debug output");
    let bus: SharedBus = Arc::new(bus);
    psrpc_test_support::rpc_suite::single_round_trip(&SameBus(bus)).await;
}

/// Connecting with `url` fails at once (async-nats does not retry a first
/// connection), saying `what`, without `secrets`.
async fn refused(url: &str, what: &str, secrets: &[&str]) {
    let error = NatsBus::connect(url, ConnectOptions::new()).await.expect_err("refused");
    assert_eq!(error.kind(), BusErrorKind::Unavailable, "{error}");
    let text = format!("{error} {error:?}");
    assert!(text.contains(what), "{what:?} not in {text}");
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

fn start(auth: NatsAuth, certs: Option<&SelfSigned>) -> Option<SecuredNats> {
    skip_or_fail(SecuredNats::start(auth, certs))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_password() {
    let Some(server) = start(NatsAuth::UserPassword, None) else { return };
    unary_call_through(&server.url()).await;
    let wrong = server.url().replace(NATS_PASSWORD, "not-it-s3cret");
    refused(&wrong, "NATS authentication failed", &["not-it-s3cret", NATS_PASSWORD]).await;
    refused(&server.bare_url(), "NATS authentication failed", &[]).await;
    assert!(server.url().contains(NATS_USER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token() {
    let Some(server) = start(NatsAuth::Token, None) else { return };
    unary_call_through(&server.url()).await;
    let wrong = server.url().replace(NATS_TOKEN, "wrong-t0ken-s3cret");
    refused(&wrong, "NATS authentication failed", &["wrong-t0ken-s3cret", NATS_TOKEN]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nkey() {
    let Some(server) = start(NatsAuth::Nkey, None) else { return };
    unary_call_through(&server.url()).await;
    let stranger = server.stranger_nkey().expect("a stranger's seed");
    let seed = std::fs::read_to_string(&stranger).expect("seed");
    let wrong = format!("{}?nkey={}", server.bare_url(), stranger.display());
    refused(&wrong, "NATS authentication failed", &[seed.trim()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creds_file_in_operator_mode() {
    let Some(server) = start(NatsAuth::Creds, None) else { return };
    unary_call_through(&server.url()).await;
    // The nkey alone (no JWT an account signed) is not a user here.
    let stranger = server.stranger_nkey().expect("a stranger's seed");
    refused(&format!("{}?nkey={}", server.bare_url(), stranger.display()), "NATS authentication failed", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca_and_a_client_certificate() {
    let Some(certs) = skip_or_fail(SelfSigned::create()) else { return };
    let Some(other) = skip_or_fail(SelfSigned::create()) else { return };
    let Some(server) = start(NatsAuth::Tls, Some(&certs)) else { return };
    unary_call_through(&server.url()).await;
    // A CA that did not sign the server's certificate.
    let untrusted = server
        .url()
        .replace(&format!("tls_ca={}", certs.cert().display()), &format!("tls_ca={}", other.cert().display()));
    refused(&untrusted, "NATS TLS failed", &[]).await;
    // No client certificate: the server ends the handshake.
    let anonymous = format!("{}?tls_ca={}", server.bare_url(), certs.cert().display());
    refused(&anonymous, "NATS TLS failed", &[]).await;
}
