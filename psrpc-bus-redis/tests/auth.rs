//! ACL users and TLS with client certificates against real Redis servers,
//! one server and a Redis Cluster (Sentinel: `tests/sentinel.rs`): a unary
//! RPC through the bus given only its URL, and each wrong password or
//! untrusted certificate refused at connect with an error that says what
//! failed and repeats no secret.

use std::sync::Arc;

use psrpc_bus_redis::{RedisBus, RedisBusOptions};
use psrpc_core::SharedBus;
use psrpc_test_support::SameBus;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::redis::RedisServer;
use psrpc_test_support::tls::SelfSigned;
use psrpc_test_support::topology::{DATA_PASSWORD, DATA_USER, RedisCluster};

/// Connects with `url` and makes one unary call.
async fn unary_call_through(url: &str) {
    let bus = RedisBus::connect(url, RedisBusOptions::default()).await.expect("authenticated connection");
    assert!(!format!("{bus:?}").contains("s3cret"), "a secret in the bus's Debug output");
    let bus: SharedBus = Arc::new(bus);
    psrpc_test_support::rpc_suite::single_round_trip(&SameBus(bus)).await;
}

/// Connecting with `url` fails, saying `what`, without `secrets`.
async fn refused(url: &str, what: &str, secrets: &[&str]) {
    let error = RedisBus::connect(url, RedisBusOptions::default()).await.expect_err("refused");
    let text = format!("{error} {error:?}");
    assert!(text.contains(what), "{what:?} not in {text}");
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

/// `url` with its `tls_ca=` naming `other`'s certificate.
fn with_ca(url: &str, certs: &SelfSigned, other: &SelfSigned) -> String {
    url.replace(&format!("tls_ca={}", certs.cert().display()), &format!("tls_ca={}", other.cert().display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_with_an_acl_user() {
    let acl = ["--user", "default", "off", "--user", DATA_USER, "on", "~*", "&*", "+@all"];
    let password = format!(">{DATA_PASSWORD}");
    let mut args = acl.to_vec();
    args.push(&password);
    let Some(redis) = skip_or_fail(RedisServer::start_with(&args)) else { return };
    let url = redis.url().replace("redis://", &format!("redis://{DATA_USER}:{DATA_PASSWORD}@"));
    unary_call_through(&url).await;
    let wrong = url.replace(DATA_PASSWORD, "not-it-s3cret");
    refused(&wrong, "authentication failed", &["not-it-s3cret", DATA_PASSWORD]).await;
    refused(redis.url(), "authentication", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_over_tls_with_a_client_certificate() {
    let Some(certs) = skip_or_fail(SelfSigned::create()) else { return };
    let Some(other) = skip_or_fail(SelfSigned::create()) else { return };
    let Some(redis) = skip_or_fail(RedisServer::start_mutual_tls(&certs)) else { return };
    let (cert, key) = (certs.cert().display().to_string(), certs.key().display().to_string());
    let url = format!("{}?tls_ca={cert}&tls_cert={cert}&tls_key={key}", redis.url());
    unary_call_through(&url).await;
    refused(&with_ca(&url, &certs, &other), "TLS", &[]).await;
    refused(&format!("{}?tls_ca={cert}", redis.url()), "TLS", &[]).await;
}

/// Every node with only the ACL user, TLS only on clients, the cluster bus
/// and replication, and client certificates required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_with_an_acl_user_over_tls_with_client_certificates() {
    let Some(certs) = skip_or_fail(SelfSigned::create()) else { return };
    let Some(other) = skip_or_fail(SelfSigned::create()) else { return };
    let Some(cluster) = skip_or_fail(RedisCluster::start_secured(3, Some(&certs))) else { return };
    let url = cluster.url();
    assert!(url.starts_with("rediss+cluster://"), "{url}");
    unary_call_through(&url).await;
    unary_call_through(&format!("{url}&pubsub=sharded")).await;
    let wrong = url.replace(DATA_PASSWORD, "not-it-s3cret");
    refused(&wrong, "authentication failed", &["not-it-s3cret", DATA_PASSWORD]).await;
    refused(&with_ca(&url, &certs, &other), "TLS", &[DATA_PASSWORD]).await;
}
