//! Subscriptions: server-side publish, queue and multi subscribers.

use std::time::Duration;

use psrpc_core::RpcClient;
use psrpc_core::client::TypedSubscription;

use super::fixtures::*;
use crate::BusFactory;

/// How long after the expected messages a test waits for one too many.
const QUIET: Duration = Duration::from_millis(400);

/// The messages of `subs`, in the order each delivered them: until `count`
/// came in all (each within [`WAIT_LIMIT`]: a loaded machine may be slow),
/// then whatever else comes within [`QUIET`] (a duplicate or a stray).
async fn receive(subs: Vec<TypedSubscription<Pong>>, count: usize) -> Vec<Pong> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let forwarders: Vec<_> = subs
        .into_iter()
        .map(|mut sub| {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(m) = sub.recv().await {
                    let _ = tx.send(m);
                }
            })
        })
        .collect();
    let mut got = Vec::new();
    while got.len() < count {
        match tokio::time::timeout(WAIT_LIMIT, rx.recv()).await {
            Ok(Some(m)) => got.push(m),
            _ => break,
        }
    }
    while let Ok(Some(m)) = tokio::time::timeout(QUIET, rx.recv()).await {
        got.push(m);
    }
    forwarders.iter().for_each(tokio::task::JoinHandle::abort);
    got
}

/// A queue subscription delivers each published message to exactly one subscriber.
pub async fn queue_subscription_delivers_each_message_once(factory: &dyn BusFactory) {
    let (svc, publisher) = own_server(factory).await;
    let a = client(factory, &svc).await;
    let b = client(factory, &svc).await;
    let sub_a = a.subscribe::<Pong>(&UPDATES, vec![]).await.expect("subscribe");
    let sub_b = b.subscribe::<Pong>(&UPDATES, vec![]).await.expect("subscribe");
    for i in 0..40 {
        publisher
            .publish(&UPDATES, vec![], &Pong { text: i.to_string(), server: String::new() })
            .await
            .expect("publish");
    }
    let got = receive(vec![sub_a, sub_b], 40).await;
    let mut all: Vec<u32> = got.iter().map(|p| p.text.parse().expect("number")).collect();
    all.sort_unstable();
    assert_eq!(all, (0..40).collect::<Vec<_>>(), "every message exactly once");
}

/// A multi subscription delivers every message to every subscriber, per topic.
pub async fn multi_subscription_reaches_every_subscriber(factory: &dyn BusFactory) {
    let (svc, publisher) = own_server(factory).await;
    let mut subs = Vec::new();
    let mut clients: Vec<RpcClient> = Vec::new();
    for _ in 0..3 {
        let c = client(factory, &svc).await;
        subs.push(c.subscribe::<Pong>(&BROADCAST, vec![]).await.expect("subscribe"));
        clients.push(c);
    }
    for i in 0..10 {
        publisher
            .publish(&BROADCAST, vec![], &Pong { text: i.to_string(), server: String::new() })
            .await
            .expect("publish");
    }
    for sub in subs {
        let got: Vec<String> = receive(vec![sub], 10).await.into_iter().map(|p| p.text).collect();
        assert_eq!(got, (0..10).map(|i| i.to_string()).collect::<Vec<_>>(), "in order, all of them");
    }
}
