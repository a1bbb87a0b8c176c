//! One pod on the bus: a psrpc server whose id is the pod name and whose
//! handlers forward to the pod's gRPC server.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use psrpc_core::context::RequestContext;
use psrpc_core::error::{Error, ErrorCode};
use psrpc_core::payload::RawPayload;
use psrpc_core::server::RpcServer;
use psrpc_core::stream::ServerStream;
use psrpc_core::transport::bus::SharedBus;
use tokio::task::JoinHandle;
use tonic::client::Grpc;
use tonic::transport::Endpoint;

use super::BridgeOptions;
use super::forward::{self, PodClient};
use super::service::{BridgedMethod, BridgedService, MethodKind};
use crate::pod::Pod;

/// A registered pod. Dropped without [`PodServer::drain`] (the bridge was
/// dropped), it is killed: its subscriptions end and in-flight calls are cut.
#[derive(Debug)]
pub(crate) struct PodServer {
    pub(crate) pod: Pod,
    server: Option<RpcServer>,
    feeds: Vec<JoinHandle<()>>,
}

impl PodServer {
    /// Registers every method of `service` for `pod`.
    pub(crate) async fn start(
        bus: &SharedBus,
        service: &Arc<BridgedService>,
        pod: Pod,
        options: &BridgeOptions,
    ) -> Result<PodServer, Error> {
        let address = pod.socket_addr().ok_or_else(|| Error::new(ErrorCode::Unavailable, "pod has no address"))?;
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| Error::new(ErrorCode::InvalidArgument, e.to_string()))?
            .connect_timeout(options.connect_timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        let client = Grpc::new(channel);
        let server_options = options.server.clone().server_id(pod.name.clone());
        let server = RpcServer::new(service.service.clone(), bus.clone(), server_options);
        let mut pod_server = PodServer { pod, server: None, feeds: Vec::new() };
        for method in &service.methods {
            if let Err(error) = pod_server.register(&server, service, method, &client, options).await {
                pod_server.server = Some(server);
                pod_server.drain().await;
                return Err(error);
            }
        }
        pod_server.server = Some(server);
        Ok(pod_server)
    }

    async fn register(
        &mut self,
        server: &RpcServer,
        service: &BridgedService,
        method: &BridgedMethod,
        client: &PodClient,
        options: &BridgeOptions,
    ) -> Result<(), Error> {
        let path = service.path(method)?;
        let topics = method.topics.clone();
        let client = client.clone();
        match &method.kind {
            MethodKind::Unary => {
                let handler = move |ctx: RequestContext, request: RawPayload| {
                    forward::unary(client.clone(), path.clone(), ctx, request.0)
                };
                server.register_unary(&method.info, topics, handler, None).await
            }
            MethodKind::Stream => {
                let handler = move |stream: ServerStream<RawPayload, RawPayload>| {
                    forward::bidi(client.clone(), path.clone(), stream)
                };
                server.register_stream(&method.info, topics, handler, None).await
            }
            MethodKind::Feed { request, type_url } => {
                let feed = Feed {
                    server: server.clone(),
                    method: method.clone(),
                    client,
                    path,
                    request: request.clone(),
                    type_url: type_url.clone(),
                    retry: options.feed_retry,
                    pod: self.pod.name.clone(),
                };
                self.feeds.push(tokio::spawn(feed.run()));
                Ok(())
            }
        }
    }

    /// Stops feeds, lets in-flight calls and streams finish, and deregisters.
    pub(crate) async fn drain(mut self) {
        self.feeds.iter().for_each(JoinHandle::abort);
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

impl Drop for PodServer {
    fn drop(&mut self) {
        self.feeds.iter().for_each(JoinHandle::abort);
        if let (Some(server), Ok(runtime)) = (self.server.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move { server.kill().await });
        }
    }
}

/// A pod's server stream republished on the bus.
struct Feed {
    server: RpcServer,
    method: BridgedMethod,
    client: PodClient,
    path: http::uri::PathAndQuery,
    request: bytes::Bytes,
    type_url: String,
    retry: Duration,
    pod: String,
}

impl Feed {
    async fn run(self) {
        loop {
            match forward::feed(self.client.clone(), self.path.clone(), self.request.clone()).await {
                Ok(messages) => {
                    let mut messages = std::pin::pin!(messages);
                    while let Some(message) = messages.next().await {
                        let published = match message {
                            Ok(message) => self.publish(&message).await,
                            Err(error) => Err(error),
                        };
                        if let Err(error) = published {
                            tracing::warn!(pod = %self.pod, %error, "feed interrupted");
                            break;
                        }
                    }
                }
                Err(error) => tracing::warn!(pod = %self.pod, %error, "feed not opened"),
            }
            // Reopen after a pause: the pod may be restarting.
            tokio::time::sleep(self.retry).await;
        }
    }

    async fn publish(&self, message: &[u8]) -> Result<(), Error> {
        self.server.publish_raw(&self.method.info, self.method.topics.clone(), &self.type_url, message).await
    }
}
