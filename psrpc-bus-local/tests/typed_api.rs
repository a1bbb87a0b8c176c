//! The API a user writes, on the in-process bus: typed `Method`s need no
//! turbofish, and every `Topics` conversion addresses the topics it names.

use std::sync::Arc;

use psrpc_bus_local::LocalBus;
use psrpc_core::info::{Delivery, Method, MethodKind, Selection, Topics};
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::{Error, RequestContext, RpcClient, RpcServer, SharedBus};
use psrpc_test_support::rpc_suite::{Ping, Pong, echo, echo_stream, ping};

static SINGLE: Method<Ping, Pong> = Method::new("Single", MethodKind::Unary(Selection::Queue { topics: false }));
static ROOMS: Method<Ping, Pong> = Method::new("Rooms", MethodKind::Unary(Selection::Queue { topics: true }));
static MULTI: Method<Ping, Pong> = Method::new("Multi", MethodKind::Multi { topics: false });
static CHAT: Method<Ping, Pong> = Method::new("Chat", MethodKind::Stream(Selection::Queue { topics: false }));
static FEED: Method<Ping, Ping> =
    Method::new("Feed", MethodKind::Subscription { delivery: Delivery::Every, topics: true });

/// Answers with the topics the request was addressed to.
async fn topics_seen(ctx: RequestContext, _: Ping) -> Result<Pong, Error> {
    Ok(Pong { text: ctx.rpc_info().topics.join(","), server: String::new() })
}

async fn pair(service: &str) -> (RpcServer, RpcClient) {
    let bus: SharedBus = Arc::new(LocalBus::new());
    let server = RpcServer::new(service, bus.clone(), ServerOptions::default());
    let client = RpcClient::new(service, bus, ClientOptions::default()).await.expect("client");
    (server, client)
}

#[tokio::test]
async fn typed_methods_infer_their_types() {
    let (server, client) = pair("Typed").await;
    server.register_unary(&SINGLE, (), echo, None).await.expect("register single");
    server.register_unary(&MULTI, [], echo, None).await.expect("register multi");
    server.register_stream(&CHAT, (), echo_stream, None).await.expect("register stream");

    let reply = client.request_single(&SINGLE, (), &ping("one"), RequestOptions::default()).await.expect("single");
    assert_eq!((reply.message.text.as_str(), reply.server_id.as_str()), ("one", server.id()));

    let options = RequestOptions::default().expected_responses(1);
    let answers = client.request_multi(&MULTI, (), &ping("all"), options).await.expect("multi").collect_all().await;
    let texts: Vec<String> = answers.into_iter().map(|a| a.result.expect("answer").text).collect();
    assert_eq!(texts, ["all"]);

    let mut stream = client.open_stream(&CHAT, (), RequestOptions::default()).await.expect("open");
    stream.send(&ping("hi")).await.expect("send");
    let echoed = stream.recv().await.expect("recv").expect("an echo");
    assert_eq!(echoed.text, "hi");
    stream.close(None).await.expect("close");
}

#[tokio::test]
async fn subscriptions_take_typed_methods_and_topics() {
    let (server, client) = pair("Feeds").await;
    let mut room = client.subscribe(&FEED, "room-1").await.expect("subscribe");
    let mut other = client.subscribe(&FEED, ["room-2"]).await.expect("subscribe other");
    server.publish(&FEED, String::from("room-1"), &ping("news")).await.expect("publish");
    assert_eq!(room.recv().await.map(|p| p.text).as_deref(), Some("news"));
    server.publish(&FEED, vec!["room-2".to_owned()], &ping("more")).await.expect("publish other");
    assert_eq!(other.recv().await.map(|p| p.text).as_deref(), Some("more"), "room-1's news never reached room-2");
}

#[tokio::test]
async fn every_topics_conversion_addresses_its_topics() {
    let (server, client) = pair("Topics").await;
    let owned = vec!["x".to_owned(), "y".to_owned()];
    let borrowed = ["p", "q"];
    let one = String::from("c");
    server.register_unary(&ROOMS, "a", topics_seen, None).await.expect("register &str");
    server.register_unary(&ROOMS, String::from("b"), topics_seen, None).await.expect("register String");
    server.register_unary(&ROOMS, &one, topics_seen, None).await.expect("register &String");
    server.register_unary(&ROOMS, ["m", "n"], topics_seen, None).await.expect("register array");
    server.register_unary(&ROOMS, &owned[..], topics_seen, None).await.expect("register &[String]");
    server.register_unary(&ROOMS, &borrowed[..], topics_seen, None).await.expect("register &[&str]");

    let calls: [(Topics, &str); 8] = [
        ("a".into(), "a"),
        (String::from("b").into(), "b"),
        (["c"].into(), "c"),
        (vec!["m".to_owned(), "n".to_owned()].into(), "m,n"),
        ((&owned).into(), "x,y"),
        (["p", "q"].into(), "p,q"),
        (Topics::from(&["x", "y"][..]), "x,y"),
        (Topics::from(vec!["b".into()]), "b"),
    ];
    for (topics, expected) in calls {
        let reply = client.request_single(&ROOMS, topics, &ping(""), RequestOptions::default()).await.expect("call");
        assert_eq!(reply.message.text, expected);
    }

    server.register_unary(&SINGLE, vec![], topics_seen, None).await.expect("register vec![]");
    for none in [Topics::from(()), Topics::from([]), Topics::from(vec![])] {
        let reply = client.request_single(&SINGLE, none, &ping(""), RequestOptions::default()).await.expect("call");
        assert_eq!(reply.message.text, "");
    }
}
