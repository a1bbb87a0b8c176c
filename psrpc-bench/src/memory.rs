//! Memory per idle subscription and per in-flight call.

use std::sync::Arc;
use std::time::Duration;

use psrpc::{
    ClientOptions, Delivery, Error, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer,
    Selection, ServerOptions, TypedSubscription,
};
use tokio::sync::Semaphore;

use crate::Buses;
use crate::kinds::Blob;
use crate::stats::status_kib;

static HOLD: MethodInfo = MethodInfo::new("Hold", MethodKind::Unary(Selection::SingleServer));

/// The idle subscription method: one topic per subscription.
pub(crate) static IDLE: MethodInfo =
    MethodInfo::new("Idle", MethodKind::Subscription { delivery: Delivery::Every, topics: true });

/// The topic of idle subscription number `i`.
pub(crate) fn idle_topic(i: usize) -> Vec<String> {
    vec![i.to_string()]
}

/// Subscribes `client` to `count` topics of [`IDLE`] (topics `0..count`).
pub(crate) async fn subscribe_idle(client: &RpcClient, count: usize) -> anyhow::Result<Vec<TypedSubscription<Blob>>> {
    let mut subscriptions = Vec::with_capacity(count);
    for i in 0..count {
        subscriptions.push(client.subscribe::<Blob>(&IDLE, idle_topic(i)).await?);
    }
    Ok(subscriptions)
}

/// Measures RSS growth for `count` idle subscriptions and `count` calls held
/// in flight by the server, and returns a JSON report.
pub(crate) async fn measure(buses: &Buses, count: usize) -> anyhow::Result<serde_json::Value> {
    let client_options = ClientOptions::default().channel_capacity(16).timeout(Duration::from_secs(120));
    let client = RpcClient::new("Memory", buses.connect().await?, client_options).await?;

    let before = status_kib("VmRSS");
    let subscriptions = subscribe_idle(&client, count).await?;
    let with_subscriptions = status_kib("VmRSS");
    drop(subscriptions);

    let release = Arc::new(Semaphore::new(0));
    let started = Arc::new(Semaphore::new(0));
    let server =
        RpcServer::new("Memory", buses.connect().await?, ServerOptions::default().channel_capacity(count + 16));
    let (hold, arrived) = (Arc::clone(&release), Arc::clone(&started));
    server
        .register_unary(
            &HOLD,
            vec!["t".into()],
            move |_ctx: RequestContext, blob: Blob| {
                let (hold, arrived) = (Arc::clone(&hold), Arc::clone(&arrived));
                async move {
                    arrived.add_permits(1);
                    let _permit =
                        hold.acquire().await.map_err(|e| Error::new(psrpc::ErrorCode::Internal, e.to_string()))?;
                    Ok::<_, Error>(blob)
                }
            },
            None,
        )
        .await?;
    let idle = status_kib("VmRSS");
    let calls: Vec<_> = (0..count)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let blob = Blob { data: bytes::Bytes::from(vec![0u8; 128]) };
                client.request_single::<Blob, Blob>(&HOLD, vec!["t".into()], &blob, RequestOptions::default()).await
            })
        })
        .collect();
    let all_arrived = started.acquire_many(u32::try_from(count)?).await?;
    let in_flight = status_kib("VmRSS");
    all_arrived.forget();
    release.add_permits(count);
    let mut ok = 0;
    for call in calls {
        if matches!(call.await, Ok(Ok(_))) {
            ok += 1;
        }
    }
    Ok(serde_json::json!({
        "count": count,
        "kib_per_idle_subscription": (with_subscriptions.saturating_sub(before)) as f64 / count as f64,
        "kib_per_in_flight_call": (in_flight.saturating_sub(idle)) as f64 / count as f64,
        "calls_completed": ok,
    }))
}
