//! End to end: the Go README's `MyService`, generated from .proto (the golden
//! file), served and called over the in-process bus with Go channel names.

use std::sync::Arc;

use futures_util::StreamExt;
use psrpc::{ClientOptions, Error, RequestContext, RequestOptions, ServerOptions, SharedBus};

/// The generated messages and service. Proto messages carry no doc comments,
/// and this test binary uses only part of the generated API.
#[allow(missing_docs, dead_code, unreachable_pub)]
mod api {
    include!("golden/my_service.rs");
}
use api::*;

struct Impl;

fn reply(text: &str) -> MyResponse {
    MyResponse { text: format!("got {text}") }
}

impl MyServiceServerImpl for Impl {
    async fn normal_rpc(&self, _ctx: RequestContext, req: MyRequest) -> Result<MyResponse, Error> {
        Ok(reply(&req.text))
    }
    async fn intensive_rpc(&self, _ctx: RequestContext, req: MyRequest) -> Result<MyResponse, Error> {
        Ok(reply(&req.text))
    }
    fn intensive_rpc_affinity(&self, _ctx: &RequestContext, _req: &MyRequest) -> f32 {
        0.5
    }
    async fn get_stats(&self, _ctx: RequestContext, req: MyRequest) -> Result<MyResponse, Error> {
        Ok(reply(&req.text))
    }
    async fn exchange_updates(
        &self,
        stream: psrpc::ServerStream<MyServerMessage, MyClientMessage>,
    ) -> Result<(), Error> {
        drop(stream);
        Ok(())
    }
    async fn get_region_stats(&self, ctx: RequestContext, req: MyRequest) -> Result<MyResponse, Error> {
        Ok(reply(&format!("{} {:?}", req.text, ctx.rpc_info().topics)))
    }
}

async fn setup() -> (MyServiceServer<Impl>, MyServiceClient) {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let server = MyServiceServer::new(Impl, bus.clone(), ServerOptions::default()).await.expect("server");
    let client = MyServiceClient::new(bus, ClientOptions::default()).await.expect("client");
    (server, client)
}

fn req(text: &str) -> MyRequest {
    MyRequest { text: text.into() }
}

#[tokio::test]
async fn unary_kinds_round_trip() {
    let (_server, client) = setup().await;
    let opts = RequestOptions::default;
    assert_eq!(client.normal_rpc(&req("a"), opts()).await.expect("normal").text, "got a");
    assert_eq!(client.intensive_rpc(&req("b"), opts()).await.expect("affinity").text, "got b");
    let all = client.get_stats(&req("c"), opts()).await.expect("multi").collect_all().await;
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn topic_multi_reaches_registered_region() {
    let (server, client) = setup().await;
    server.register_get_region_stats_topic("us").await.expect("register");
    let all =
        client.get_region_stats("us", &req("d"), RequestOptions::default()).await.expect("multi").collect_all().await;
    assert_eq!(all.len(), 1);
    let text = &all[0].result.as_ref().expect("ok").text;
    assert!(text.contains("us"), "{text}");
}

#[tokio::test]
async fn topic_subscription_delivers_updates() {
    let (server, client) = setup().await;
    let mut sub = client.subscribe_update_region_state("eu").await.expect("subscribe");
    server.publish_update_region_state("eu", &MyUpdate { text: "u".into() }).await.expect("publish");
    assert_eq!(sub.next().await.expect("update").text, "u");
}

/// The every-option service compiles against the engines.
#[allow(missing_docs, dead_code, unreachable_pub)]
mod all_options {
    include!("golden/all_options.rs");
}
