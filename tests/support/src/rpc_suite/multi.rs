//! Multi RPCs: every server answers.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::{FutureExt as _, StreamExt as _};
use tokio::time::Instant;

use super::fixtures::*;
use crate::BusFactory;

async fn three_servers(factory: &dyn BusFactory, svc: &str) -> Vec<psrpc_core::RpcServer> {
    let mut servers = Vec::new();
    for _ in 0..3 {
        let s = server(factory, svc).await;
        serve_echo(&s, &MULTI, &[], None).await;
        servers.push(s);
    }
    servers
}

/// Without an expected count, a multi-RPC collects one answer per server until the timeout.
pub async fn multi_collects_every_server(factory: &dyn BusFactory) {
    let svc = unique_service();
    let servers = three_servers(factory, &svc).await;
    let client = client(factory, &svc).await;
    let started = Instant::now();
    let responses = client
        .request_multi::<Ping, Pong>(&MULTI, vec![], &ping("all"), within(Duration::from_millis(500)))
        .await
        .expect("sent")
        .collect_all()
        .await;
    assert!(started.elapsed() >= Duration::from_millis(500), "ran until the timeout");
    let answered: HashSet<String> = responses.iter().map(|r| r.server_id.clone()).collect();
    let expected: HashSet<String> = servers.iter().map(|s| s.id().to_owned()).collect();
    assert_eq!(answered, expected);
    assert!(responses.iter().all(|r| r.result.as_ref().is_ok_and(|p| p.text == "all")));
    assert_eq!(client.pending_routes(), 0);
}

/// With an expected count, the stream ends as soon as that many answered.
pub async fn multi_ends_early_with_expected_count(factory: &dyn BusFactory) {
    let svc = unique_service();
    let _servers = three_servers(factory, &svc).await;
    let client = client(factory, &svc).await;
    let mut stream = client
        .request_multi::<Ping, Pong>(&MULTI, vec![], &ping("n"), within(Duration::from_secs(30)).expected_responses(3))
        .await
        .expect("sent");
    for _ in 0..3 {
        stream.next().await.expect("an answer").result.expect("ok");
    }
    // Ended by the third answer: the stream is over without waiting for anything.
    assert!(matches!(stream.next().now_or_never(), Some(None)), "ended at the third answer, not at the timeout");
}

/// With an expected server set, the stream reports who did not answer.
pub async fn multi_reports_missing_expected_servers(factory: &dyn BusFactory) {
    let svc = unique_service();
    let servers = three_servers(factory, &svc).await;
    let client = client(factory, &svc).await;
    let mut expected: Vec<String> = servers.iter().map(|s| s.id().to_owned()).collect();
    expected.push("SRV_gone00000000".into());
    let mut stream = client
        .request_multi::<Ping, Pong>(
            &MULTI,
            vec![],
            &ping("n"),
            within(Duration::from_millis(600)).expected_servers(expected),
        )
        .await
        .expect("sent");
    let mut count = 0;
    while stream.next().await.is_some() {
        count += 1;
    }
    assert_eq!(count, 3);
    assert_eq!(stream.missing(), vec!["SRV_gone00000000".to_owned()]);
}
