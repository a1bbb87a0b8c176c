//! Bidirectional streams.

use std::time::Duration;

use psrpc_core::options::{RequestOptions, ServerOptions, StreamKeepalive};
use psrpc_core::stream::ServerStream;
use psrpc_core::{Error, ErrorCode, RpcServer};
use tokio::sync::mpsc;

use super::fixtures::*;
use crate::BusFactory;
use crate::faulty::CuttableBus;

/// Echoes every message back, prefixed, after a greeting naming the caller.
async fn echo_stream(mut stream: ServerStream<Pong, Ping>) -> Result<(), Error> {
    let ctx = stream.context().cloned().expect("server end has a context");
    let user = ctx.metadata().get("user").cloned().unwrap_or_default();
    stream
        .send(&Pong { text: format!("hello {user} from {}", ctx.caller_id()), server: ctx.server_id().into() })
        .await?;
    while let Some(ping) = stream.recv().await {
        if ping.text == "fail" {
            return Err(Error::new(ErrorCode::NotFound, "no such thing"));
        }
        stream.send(&Pong { text: format!("echo {}", ping.text), server: ctx.server_id().into() }).await?;
    }
    Ok(())
}

/// Messages flow both ways; sends complete on the peer's ack; the server
/// sees the caller's id and metadata.
pub async fn streams_exchange_both_ways(factory: &dyn BusFactory) {
    let svc = unique_service();
    let s = server(factory, &svc).await;
    s.register_stream(&CHAT, vec![], echo_stream, None).await.expect("register");
    let client = client(factory, &svc).await;
    let mut stream = client
        .open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default().metadata("user", "ada"))
        .await
        .expect("open");
    let greeting = stream.recv().await.expect("greeting");
    assert_eq!(greeting.text, format!("hello ada from {}", client.id()));
    assert_eq!(greeting.server, s.id());
    for i in 0..5 {
        stream.send(&ping(&i.to_string())).await.expect("acked");
        let got = stream.recv().await;
        assert_eq!(got.unwrap_or_else(|| panic!("closed: {:?}", stream.err())).text, format!("echo {i}"));
    }
    stream.close(None).await.expect("close");
    assert_eq!(stream.err(), Some(Error::stream_closed()));
    assert!(stream.close(None).await.is_err(), "closing twice reports the first cause");
    // The client's routes for the stream are gone.
    assert_eq!(client.pending_routes(), 0);
}

/// A handler's error closes the stream with that cause at the client; a
/// client's close cause reaches the server.
pub async fn stream_close_causes_reach_the_peer(factory: &dyn BusFactory) {
    let svc = unique_service();
    let s = server(factory, &svc).await;
    let (causes_tx, mut causes) = mpsc::unbounded_channel();
    s.register_stream(
        &CHAT,
        vec![],
        move |mut stream: ServerStream<Pong, Ping>| {
            let causes = causes_tx.clone();
            async move {
                while let Some(p) = stream.recv().await {
                    if p.text == "fail" {
                        return Err(Error::new(ErrorCode::NotFound, "no such thing"));
                    }
                }
                let _ = causes.send(stream.err());
                Ok(())
            }
        },
        None,
    )
    .await
    .expect("register");
    let client = client(factory, &svc).await;

    let mut failing = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    failing.send(&ping("fail")).await.expect("acked");
    assert!(failing.recv().await.is_none(), "closed by the server");
    let cause = failing.err().expect("closed");
    assert_eq!((cause.code(), cause.message()), (ErrorCode::NotFound, "no such thing"));

    let closing = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    closing.send(&ping("hi")).await.expect("acked");
    closing.close(Some(Error::new(ErrorCode::Aborted, "user left"))).await.expect("close");
    let seen =
        tokio::time::timeout(Duration::from_secs(3), causes.recv()).await.expect("server saw the close").flatten();
    let seen = seen.expect("cause");
    assert_eq!((seen.code(), seen.message()), (ErrorCode::Aborted, "user left"));
}

/// A server that vanishes without a word is noticed by keepalive expiry: the
/// client's stream closes with `unavailable` and frees its routes.
pub async fn stream_notices_a_vanished_peer(factory: &dyn BusFactory) {
    let svc = unique_service();
    let keepalive = StreamKeepalive::new(Duration::from_millis(100), Duration::from_millis(500));
    let cuttable = CuttableBus::new(factory.connect().await);
    let s = RpcServer::new(svc.clone(), cuttable.clone(), ServerOptions::default().stream_keepalive(keepalive));
    s.register_stream(&CHAT, vec![], echo_stream, None).await.expect("register");
    let client = client_on(factory.connect().await, &svc, client_options().stream_keepalive(keepalive)).await;
    let mut stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    stream.recv().await.expect("greeting");
    stream.send(&ping("a")).await.expect("acked");
    stream.recv().await.expect("echo");
    // Let at least one keepalive arrive, then the server goes silent.
    tokio::time::sleep(Duration::from_millis(250)).await;
    cuttable.cut();
    let ended = tokio::time::timeout(Duration::from_secs(3), stream.recv()).await.expect("noticed within the expiry");
    assert!(ended.is_none());
    assert_eq!(stream.err().map(|e| e.code()), Some(ErrorCode::Unavailable));
    assert_eq!(client.pending_routes(), 0);
}

/// A stream and a multi-RPC keep working after the last client handle is dropped.
pub async fn calls_keep_their_client_alive(factory: &dyn BusFactory) {
    let svc = unique_service();
    let s = server(factory, &svc).await;
    s.register_stream(&CHAT, vec![], echo_stream, None).await.expect("register");
    serve_echo(&s, &MULTI, &[], None).await;
    let client = client(factory, &svc).await;
    let mut stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    let multi = client
        .request_multi::<Ping, Pong>(&MULTI, vec![], &ping("m"), RequestOptions::default().expected_responses(1))
        .await
        .expect("sent");
    drop(client);
    stream.recv().await.expect("greeting");
    stream.send(&ping("still here")).await.expect("acked");
    assert_eq!(stream.recv().await.expect("echo").text, "echo still here");
    assert_eq!(multi.collect_all().await.len(), 1);
}
