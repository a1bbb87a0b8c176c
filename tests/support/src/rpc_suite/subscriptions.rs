//! Subscriptions: server-side publish, queue and multi subscribers.

use std::time::Duration;

use psrpc_core::RpcClient;

use super::fixtures::*;
use crate::BusFactory;

async fn drain(sub: &mut psrpc_core::client::TypedSubscription<Pong>, window: Duration) -> Vec<Pong> {
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(window, sub.recv()).await {
        got.push(m);
    }
    got
}

/// A queue subscription delivers each published message to exactly one subscriber.
pub async fn queue_subscription_delivers_each_message_once(factory: &dyn BusFactory) {
    let svc = unique_service();
    let publisher = server(factory, &svc).await;
    let a = client(factory, &svc).await;
    let b = client(factory, &svc).await;
    let mut sub_a = a.subscribe::<Pong>(&UPDATES, vec![]).await.expect("subscribe");
    let mut sub_b = b.subscribe::<Pong>(&UPDATES, vec![]).await.expect("subscribe");
    for i in 0..40 {
        publisher
            .publish(&UPDATES, vec![], &Pong { text: i.to_string(), server: String::new() })
            .await
            .expect("publish");
    }
    let (got_a, got_b) =
        tokio::join!(drain(&mut sub_a, Duration::from_millis(400)), drain(&mut sub_b, Duration::from_millis(400)));
    let mut all: Vec<u32> = got_a.iter().chain(&got_b).map(|p| p.text.parse().expect("number")).collect();
    all.sort_unstable();
    assert_eq!(all, (0..40).collect::<Vec<_>>(), "every message exactly once");
}

/// A multi subscription delivers every message to every subscriber, per topic.
pub async fn multi_subscription_reaches_every_subscriber(factory: &dyn BusFactory) {
    let svc = unique_service();
    let publisher = server(factory, &svc).await;
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
    for sub in &mut subs {
        let got: Vec<String> = drain(sub, Duration::from_millis(300)).await.into_iter().map(|p| p.text).collect();
        assert_eq!(got, (0..10).map(|i| i.to_string()).collect::<Vec<_>>(), "in order, all of them");
    }
}
