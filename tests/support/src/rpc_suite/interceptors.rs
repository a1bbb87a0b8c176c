//! Server unary, client multi and stream interceptors.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use psrpc_core::interceptor::{
    ClientMultiInterceptor, ServerUnaryInterceptor, ServerUnaryNext, StreamInterceptor, UnaryCall,
};
use psrpc_core::options::{RequestOptions, ServerOptions};
use psrpc_core::{Error, ErrorCode, RequestContext, RpcInfo, RpcServer};

use super::fixtures::*;
use crate::BusFactory;

type Log = Arc<Mutex<Vec<String>>>;

struct ServerTag(&'static str, Log);

impl ServerUnaryInterceptor for ServerTag {
    fn intercept<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: Bytes,
        next: ServerUnaryNext<'a>,
    ) -> BoxFuture<'a, Result<Bytes, Error>> {
        Box::pin(async move {
            self.1.lock().push(format!("{}>", self.0));
            if ctx.metadata().get("deny").is_some_and(|who| who == self.0) {
                return Err(Error::new(ErrorCode::PermissionDenied, format!("denied by {}", self.0)));
            }
            let out = next.run(request).await;
            self.1.lock().push(format!("<{}", self.0));
            out
        })
    }
}

struct MultiTag(&'static str, Log);

impl ClientMultiInterceptor for MultiTag {
    fn on_send(&self, _info: &RpcInfo, call: &mut UnaryCall) -> Result<(), Error> {
        self.1.lock().push(format!("send {}", self.0));
        call.metadata.insert("via".into(), self.0.into());
        Ok(())
    }

    fn on_response(&self, _info: &RpcInfo, _server_id: &str, response: &mut Result<Bytes, Error>) {
        if response.is_ok() {
            self.1.lock().push(format!("response {}", self.0));
        }
    }

    fn on_close(&self, _info: &RpcInfo) {
        self.1.lock().push(format!("close {}", self.0));
    }
}

struct StreamTag(Log);

impl StreamInterceptor for StreamTag {
    fn on_send(&self, _info: &RpcInfo, message: &Bytes) -> Result<(), Error> {
        if message.len() > 64 {
            return Err(Error::new(ErrorCode::ResourceExhausted, "message too big for this stream"));
        }
        self.0.lock().push("send".into());
        Ok(())
    }

    fn on_recv(&self, _info: &RpcInfo, _message: &Bytes) -> Result<(), Error> {
        self.0.lock().push("recv".into());
        Ok(())
    }

    fn on_close(&self, _info: &RpcInfo, cause: &Error) {
        self.0.lock().push(format!("close {}", cause.code()));
    }
}

/// Server unary interceptors nest in registration order and can refuse a
/// call; multi interceptors see send, every response and close; stream
/// interceptors see sends, receipts and the close, and can veto a send.
pub async fn server_multi_and_stream_interceptors_chain_in_order(factory: &dyn BusFactory) {
    let svc = unique_service();
    let log: Log = Arc::default();
    let options = ServerOptions::default()
        .unary_interceptor(ServerTag("outer", Arc::clone(&log)))
        .unary_interceptor(ServerTag("inner", Arc::clone(&log)))
        .stream_interceptor(StreamTag(Arc::clone(&log)));
    let s = RpcServer::new(svc.clone(), factory.connect().await, options);
    serve_echo(&s, &SINGLE, &[], None).await;
    serve_echo(&s, &MULTI, &[], None).await;
    serve_echo_stream(&s).await;

    let client = client(factory, &svc).await;
    call(&client, &SINGLE, "x").await.expect("reply");
    assert_eq!(*log.lock(), ["outer>", "inner>", "<inner", "<outer"]);
    log.lock().clear();
    let err = client
        .request_single::<Ping, Pong>(&SINGLE, vec![], &ping("x"), RequestOptions::default().metadata("deny", "inner"))
        .await
        .expect_err("denied");
    assert_eq!((err.code(), err.message()), (ErrorCode::PermissionDenied, "denied by inner"));
    assert_eq!(*log.lock(), ["outer>", "inner>", "<outer"]);

    let multi_log: Log = Arc::default();
    let multi_client = client_on(
        factory.connect().await,
        &svc,
        client_options()
            .multi_interceptor(MultiTag("a", Arc::clone(&multi_log)))
            .multi_interceptor(MultiTag("b", Arc::clone(&multi_log))),
    )
    .await;
    let responses = multi_client
        .request_multi::<Ping, Pong>(&MULTI, vec![], &ping("m"), within(WAIT_LIMIT).expected_responses(1))
        .await
        .expect("sent")
        .collect_all()
        .await;
    assert_eq!(responses.len(), 1);
    assert_eq!(*multi_log.lock(), ["send a", "send b", "response a", "response b", "close a", "close b"]);

    log.lock().clear();
    let mut stream = client.open_stream::<Ping, Pong>(&CHAT, vec![], RequestOptions::default()).await.expect("open");
    stream.send(&ping("hi")).await.expect("acked");
    assert_eq!(stream.recv().await.expect("open stream").expect("echo").text, "hi");
    let too_big = Ping { text: "x".repeat(100), delay_ms: 0 };
    stream.send(&too_big).await.expect("the client has no stream interceptor");
    let refused = stream.recv().await.expect_err("the server's interceptor refused to send, failing the stream");
    assert_eq!(refused.code(), ErrorCode::ResourceExhausted);
    assert_eq!(stream.err(), Some(refused));
    let server_side = log.lock().clone();
    assert_eq!(server_side[..3], ["recv", "send", "recv"], "{server_side:?}");
    assert_eq!(server_side.last().map(String::as_str), Some("close resource_exhausted"));
}
