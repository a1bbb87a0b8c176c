//! The physical limit of each bus: a request/response round trip with no
//! framework at all, at the same concurrency and payload.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::sync::{mpsc, oneshot};

/// One raw round trip, ready to be driven.
pub(crate) type RawCall =
    Arc<dyn Fn(usize) -> futures_util::future::BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// In-process: a tokio channel to a server task and a oneshot back.
pub(crate) fn local(payload: Bytes) -> RawCall {
    let (tx, mut rx) = mpsc::channel::<(Bytes, oneshot::Sender<Bytes>)>(1024);
    tokio::spawn(async move {
        while let Some((request, reply)) = rx.recv().await {
            let _ = reply.send(request);
        }
    });
    Arc::new(move |_| {
        let tx = tx.clone();
        let payload = payload.clone();
        Box::pin(async move {
            let (reply_tx, reply_rx) = oneshot::channel();
            tx.send((payload, reply_tx)).await.map_err(|e| e.to_string())?;
            reply_rx.await.map(drop).map_err(|e| e.to_string())
        })
    })
}

/// NATS: async-nats request/reply (publish to a subject, reply to the inbox),
/// client and server on separate connections (to `urls.0` and `urls.1`:
/// two nodes of a cluster, or the same server).
pub(crate) async fn nats(urls: (&str, &str), payload: Bytes) -> anyhow::Result<RawCall> {
    let server = async_nats::connect(urls.0).await?;
    let client = async_nats::connect(urls.1).await?;
    let mut requests = server.subscribe("psrpc.bench.raw").await?;
    server.flush().await?;
    tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            if let Some(reply) = message.reply {
                let _ = server.publish(reply, message.payload).await;
            }
        }
    });
    Ok(Arc::new(move |_| {
        let client = client.clone();
        let payload = payload.clone();
        Box::pin(async move { client.request("psrpc.bench.raw", payload).await.map(drop).map_err(|e| e.to_string()) })
    }))
}

/// Redis: PUBLISH to a request channel carrying the caller's reply channel;
/// the server PUBLISHes the payload back on it. RESP3 push connections with
/// TCP_NODELAY on both sides, separate connections for client and server.
/// With `lock`, the server first takes a queue lock the way Go psrpc's
/// queue subscriptions do (`SET <44-character key> 1 EX 5 NX`, a fresh key
/// per request so it always wins): the floor for a queue request on Redis.
/// The server's connections go to `urls.0`, the client's to `urls.1` (two
/// nodes of a cluster: classic pub/sub crosses them, or the same server).
pub(crate) async fn redis(
    urls: (&str, &str),
    payload: Bytes,
    concurrency: usize,
    lock: bool,
) -> anyhow::Result<RawCall> {
    let (client, server) = (resp3_client(urls.1)?, resp3_client(urls.0)?);

    // Server: one subscriber connection, one publisher connection.
    let (server_push, mut server_rx) = mpsc::unbounded_channel();
    let config = raw_config().set_push_sender(server_push);
    let mut server_sub = server.get_multiplexed_async_connection_with_config(&config).await?;
    server_sub.subscribe("psrpc.bench.raw").await?;
    let server_pub = server.get_multiplexed_async_connection_with_config(&raw_config()).await?;
    tokio::spawn(async move {
        let _keep = server_sub;
        let mut requests = 0u64;
        while let Some(push) = server_rx.recv().await {
            if let [_, redis::Value::BulkString(data)] = push.data.as_slice()
                && data.len() >= 4
            {
                let worker = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                let reply = redis::cmd("PUBLISH").arg(format!("psrpc.bench.rep.{worker}")).arg(&data[4..]).clone();
                // Replies go out concurrently, so the multiplexed connection pipelines them.
                let mut conn = server_pub.clone();
                requests += 1;
                let key = lock.then(|| format!("{requests:044}"));
                tokio::spawn(async move {
                    if let Some(key) = key {
                        let set = redis::cmd("SET").arg(key).arg(1).arg("EX").arg(5).arg("NX").clone();
                        let _: redis::RedisResult<Option<String>> = set.query_async(&mut conn).await;
                    }
                    let _: redis::RedisResult<i64> = reply.query_async(&mut conn).await;
                });
            }
        }
    });

    // Client: one subscriber connection routing replies to workers.
    let (client_push, mut client_rx) = mpsc::unbounded_channel();
    let config = raw_config().set_push_sender(client_push);
    let mut client_sub = client.get_multiplexed_async_connection_with_config(&config).await?;
    let mut waiting: HashMap<String, mpsc::Sender<()>> = HashMap::new();
    let mut receivers = Vec::new();
    for worker in 0..concurrency {
        let channel = format!("psrpc.bench.rep.{worker}");
        client_sub.subscribe(&channel).await?;
        let (tx, rx) = mpsc::channel(1);
        waiting.insert(channel, tx);
        receivers.push(Arc::new(tokio::sync::Mutex::new(rx)));
    }
    tokio::spawn(async move {
        let _keep = client_sub;
        while let Some(push) = client_rx.recv().await {
            if let [redis::Value::BulkString(channel), _] = push.data.as_slice()
                && let Some(tx) = std::str::from_utf8(channel).ok().and_then(|c| waiting.get(c))
            {
                let _ = tx.try_send(());
            }
        }
    });
    let publisher = client.get_multiplexed_async_connection_with_config(&raw_config()).await?;
    Ok(Arc::new(move |worker| {
        let mut publisher = publisher.clone();
        let receiver = Arc::clone(&receivers[worker]);
        let mut request = (worker as u32).to_le_bytes().to_vec();
        request.extend_from_slice(&payload);
        Box::pin(async move {
            let mut replies = receiver.lock().await;
            let _: i64 = redis::cmd("PUBLISH")
                .arg("psrpc.bench.raw")
                .arg(request)
                .query_async(&mut publisher)
                .await
                .map_err(|e| e.to_string())?;
            replies.recv().await.ok_or_else(|| "reply channel closed".to_owned())
        })
    }))
}

/// The raw round trip's connection settings: redis-rs's default 500 ms
/// response timeout fails megabyte publishes queued behind each other, so
/// it is 30 s, long enough for the largest payloads a run takes.
fn raw_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new().set_response_timeout(Some(std::time::Duration::from_secs(30)))
}

/// A RESP3 client with `TCP_NODELAY` for `url`.
fn resp3_client(url: &str) -> anyhow::Result<redis::Client> {
    let info = redis::Client::open(url)?.get_connection_info().clone();
    let settings = info.redis_settings().clone().set_protocol(redis::ProtocolVersion::RESP3);
    let info =
        info.set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true)).set_redis_settings(settings);
    Ok(redis::Client::open(info)?)
}
