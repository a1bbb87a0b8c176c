//! End-to-end: a macro-generated service over the in-process bus.

use std::sync::Arc;

use futures_util::StreamExt;
use psrpc::{ClientOptions, Error, RequestContext, RequestOptions, ServerOptions, SharedBus};

/// A request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ping {
    /// Payload text.
    #[prost(string, tag = "1")]
    pub text: String,
}

impl prost::Name for Ping {
    const NAME: &'static str = "Ping";
    const PACKAGE: &'static str = "";
}

#[psrpc_macros::service(name = "Echo")]
trait EchoService {
    #[psrpc(name = "SayIt")]
    fn say(&self, req: Ping) -> Ping;
    #[psrpc(affinity)]
    fn sticky(&self, req: Ping) -> Ping;
    #[psrpc(multi)]
    fn everyone(&self, req: Ping) -> Ping;
    #[psrpc(topics(region), single_server, group = "region")]
    fn regional(&self, req: Ping) -> Ping;
    #[psrpc(topics(region), multi, group = "region")]
    fn regional_stats(&self, req: Ping) -> Ping;
    #[psrpc(stream)]
    fn chat(&self, msg: Ping) -> Ping;
    #[psrpc(subscription, multi, topics(room))]
    fn news(&self, msg: Ping);
}

struct Impl(&'static str);

impl EchoServiceServerImpl for Impl {
    async fn say(&self, _ctx: RequestContext, req: Ping) -> Result<Ping, Error> {
        Ok(Ping { text: format!("{} {}", self.0, req.text) })
    }
    async fn sticky(&self, ctx: RequestContext, req: Ping) -> Result<Ping, Error> {
        self.say(ctx, req).await
    }
    fn sticky_affinity(&self, _ctx: &RequestContext, _req: &Ping) -> f32 {
        1.0
    }
    async fn everyone(&self, ctx: RequestContext, req: Ping) -> Result<Ping, Error> {
        self.say(ctx, req).await
    }
    async fn regional(&self, ctx: RequestContext, req: Ping) -> Result<Ping, Error> {
        self.say(ctx, req).await
    }
    async fn regional_stats(&self, ctx: RequestContext, req: Ping) -> Result<Ping, Error> {
        self.say(ctx, req).await
    }
    async fn chat(&self, stream: psrpc::ServerStream<Ping, Ping>) -> Result<(), Error> {
        drop(stream);
        Ok(())
    }
}

async fn setup() -> (EchoServiceServer<Impl>, EchoServiceClient) {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let server = EchoServiceServer::new(Impl("srv"), bus.clone(), ServerOptions::default()).await.expect("server");
    let client = EchoServiceClient::new(bus, ClientOptions::default()).await.expect("client");
    (server, client)
}

fn ping(text: &str) -> Ping {
    Ping { text: text.into() }
}

#[tokio::test]
async fn unary_affinity_and_multi_round_trip() {
    let (_server, client) = setup().await;
    let got = client.say(&ping("a"), RequestOptions::default()).await.expect("say");
    assert_eq!(got.text, "srv a");
    let got = client.sticky(&ping("b"), RequestOptions::default()).await.expect("sticky");
    assert_eq!(got.text, "srv b");
    let all = client.everyone(&ping("c"), RequestOptions::default()).await.expect("multi");
    let all = all.collect_all().await;
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn topic_methods_follow_registration() {
    let (server, client) = setup().await;
    server.register_regional_topic("eu").await.expect("register");
    let got = client.regional("eu", &ping("d"), RequestOptions::default()).await.expect("eu");
    assert_eq!(got.text, "srv d");
    server.deregister_regional_topic("eu").await;
    let missing = client.regional("eu", &ping("e"), RequestOptions::default()).await;
    assert!(missing.is_err());
}

#[tokio::test]
async fn topic_group_registers_every_member() {
    let (server, client) = setup().await;
    server.register_all_region_topics("ap").await.expect("register group");
    let one = client.regional("ap", &ping("f"), RequestOptions::default()).await.expect("single");
    assert_eq!(one.text, "srv f");
    let all = client.regional_stats("ap", &ping("g"), RequestOptions::default()).await.expect("multi");
    assert_eq!(all.collect_all().await.len(), 1);
    server.deregister_all_region_topics("ap").await;
    assert!(client.regional("ap", &ping("h"), RequestOptions::default()).await.is_err());
}

#[tokio::test]
async fn subscriptions_receive_published_messages() {
    let (server, client) = setup().await;
    let mut sub = client.subscribe_news("lobby").await.expect("subscribe");
    server.publish_news("lobby", &ping("hi")).await.expect("publish");
    let got = sub.next().await.expect("message");
    assert_eq!(got.text, "hi");
}

/// A local stand-in for the remote service.
struct Local;

impl EchoServiceApi for Local {
    fn say(&self, req: Ping) -> futures_util::future::BoxFuture<'_, Result<Ping, Error>> {
        Box::pin(async move { Ok(Ping { text: format!("local {}", req.text) }) })
    }
    fn sticky(&self, req: Ping) -> futures_util::future::BoxFuture<'_, Result<Ping, Error>> {
        self.say(req)
    }
    fn regional(&self, region: String, req: Ping) -> futures_util::future::BoxFuture<'_, Result<Ping, Error>> {
        Box::pin(async move { Ok(Ping { text: format!("{region} {}", req.text) }) })
    }
}

async fn greet(api: Arc<dyn EchoServiceApi>) -> String {
    api.say(ping("x")).await.map(|p| p.text).unwrap_or_default()
}

#[tokio::test]
async fn client_and_local_value_are_interchangeable() {
    let (_server, client) = setup().await;
    assert_eq!(greet(Arc::new(Local)).await, "local x");
    assert_eq!(greet(Arc::new(client)).await, "srv x");
}
