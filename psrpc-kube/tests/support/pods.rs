//! Plain gRPC servers on loopback playing the pods of a Service: a
//! hand-written `test.Echo` service over raw bytes (no codegen), as any
//! tonic server looks on the wire.
//!
//! - `Say` (unary) answers `<pod>:<request>`; `fail` gives `NOT_FOUND`;
//!   `meta` answers the `tenant` metadata; `hold` waits for [`TestPod::release`].
//! - `Chat` (bidirectional) answers each message with `<pod>:<message>`;
//!   `bye` ends the stream, `boom` fails it with `ABORTED`.
//! - `Watch` (server streaming) sends `hello from <pod>` and stays open
//!   until the pod stops.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use psrpc_kube::{BytesCodec, Conditions, Pod};
use tokio::sync::{Notify, oneshot, watch};
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::server::{Grpc, NamedService, ServerStreamingService, StreamingService, UnaryService};
use tonic::{Request, Response, Status, Streaming};

/// A running test pod.
pub struct TestPod {
    pub name: String,
    pub addr: SocketAddr,
    release: Arc<Notify>,
    holding: watch::Receiver<usize>,
    stopping: watch::Sender<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestPod {
    /// Serves `test.Echo` as pod `name` on a free loopback port.
    pub async fn start(name: &str) -> TestPod {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let release = Arc::new(Notify::new());
        let (holding_tx, holding) = watch::channel(0);
        let (stopping, stopping_rx) = watch::channel(false);
        let service = EchoService {
            pod: name.into(),
            release: release.clone(),
            holding: Arc::new(holding_tx),
            stopping: stopping_rx,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        TestPod { name: name.into(), addr, release, holding, stopping, stop: Some(stop), task }
    }

    /// This pod as discovery reports it: ready, on `node`.
    pub fn pod(&self, node: &str) -> Pod {
        Pod {
            name: self.name.clone(),
            addresses: vec![self.addr.ip()],
            port: self.addr.port(),
            node: Some(node.into()),
            zone: None,
            conditions: Conditions::default(),
        }
    }

    /// Waits until `n` `hold` calls have arrived.
    pub async fn wait_holding(&self, n: usize) {
        self.holding.clone().wait_for(|held| *held >= n).await.unwrap();
    }

    /// Lets every held `hold` call answer.
    pub fn release(&self) {
        self.release.notify_waiters();
    }

    /// Stops serving (open `Watch` streams end) and waits until the port is closed.
    pub async fn stop(mut self) {
        self.stopping.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

#[derive(Clone)]
struct EchoService {
    pod: Arc<str>,
    release: Arc<Notify>,
    holding: Arc<watch::Sender<usize>>,
    stopping: watch::Receiver<bool>,
}

impl NamedService for EchoService {
    const NAME: &'static str = "test.Echo";
}

impl Service<http::Request<Body>> for EchoService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let mut grpc = Grpc::new(BytesCodec);
            Ok(match request.uri().path() {
                "/test.Echo/Say" => grpc.unary(this, request).await,
                "/test.Echo/Chat" => grpc.streaming(this, request).await,
                "/test.Echo/Watch" => grpc.server_streaming(Watch(this.pod, this.stopping), request).await,
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

impl UnaryService<Bytes> for EchoService {
    type Response = Bytes;
    type Future = BoxFuture<'static, Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let tenant = request.metadata().get("tenant").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let body = request.into_inner();
            match &body[..] {
                b"fail" => Err(Status::not_found("no such thing")),
                b"meta" => Ok(Response::new(Bytes::from(tenant))),
                b"hold" => {
                    let released = this.release.notified();
                    this.holding.send_modify(|n| *n += 1);
                    released.await;
                    Ok(Response::new(this.reply(&body)))
                }
                _ => Ok(Response::new(this.reply(&body))),
            }
        })
    }
}

impl StreamingService<Bytes> for EchoService {
    type Response = Bytes;
    type ResponseStream = BoxStream<'static, Result<Bytes, Status>>;
    type Future = BoxFuture<'static, Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, request: Request<Streaming<Bytes>>) -> Self::Future {
        let this = self.clone();
        let incoming = request.into_inner();
        let replies = futures_util::stream::unfold(Some(incoming), move |incoming| {
            let this = this.clone();
            async move {
                let mut incoming = incoming?;
                match incoming.message().await {
                    Ok(Some(m)) if &m[..] == b"bye" => None,
                    Ok(Some(m)) if &m[..] == b"boom" => Some((Err(Status::aborted("boom")), None)),
                    Ok(Some(m)) => Some((Ok(this.reply(&m)), Some(incoming))),
                    Ok(None) | Err(_) => None,
                }
            }
        });
        Box::pin(async move { Ok(Response::new(replies.boxed())) })
    }
}

impl EchoService {
    fn reply(&self, message: &[u8]) -> Bytes {
        Bytes::from(format!("{}:{}", self.pod, String::from_utf8_lossy(message)))
    }
}

/// `Watch` for a pod: its greeting, then open until the pod stops.
struct Watch(Arc<str>, watch::Receiver<bool>);

impl ServerStreamingService<Bytes> for Watch {
    type Response = Bytes;
    type ResponseStream = BoxStream<'static, Result<Bytes, Status>>;
    type Future = BoxFuture<'static, Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, _: Request<Bytes>) -> Self::Future {
        let hello = Bytes::from(format!("hello from {}", self.0));
        let mut stopping = self.1.clone();
        let until_stopped = futures_util::stream::once(async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        })
        .filter_map(|()| async { None });
        let stream = futures_util::stream::once(async move { Ok(hello) }).chain(until_stopped);
        Box::pin(async move { Ok(Response::new(stream.boxed())) })
    }
}
