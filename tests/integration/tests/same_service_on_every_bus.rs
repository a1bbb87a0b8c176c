//! One service, written only against the `psrpc` facade, served and called
//! on each bus: the in-process bus, NATS and Redis. Subscriptions and
//! streams included, and two clients on separate connections sharing a queue.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use psrpc::{
    ClientOptions, Delivery, Error, ErrorCode, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient,
    RpcServer, Selection, ServerOptions, ServerStream, SharedBus,
};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::connect;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;

#[derive(Clone, PartialEq, prost::Message)]
struct Order {
    #[prost(string, tag = "1")]
    item: String,
    #[prost(uint32, tag = "2")]
    quantity: u32,
}

impl prost::Name for Order {
    const NAME: &'static str = "Order";
    const PACKAGE: &'static str = "shop";
}

static PLACE: MethodInfo = MethodInfo::new("Place", MethodKind::Unary(Selection::Queue { topics: false }));
static STOCK: MethodInfo = MethodInfo::new("Stock", MethodKind::Multi { topics: true });
static HAGGLE: MethodInfo = MethodInfo::new("Haggle", MethodKind::Stream(Selection::Queue { topics: false }));
static ORDERS: MethodInfo =
    MethodInfo::new("Orders", MethodKind::Subscription { delivery: Delivery::Queue, topics: false });

async fn place(ctx: RequestContext, order: Order) -> Result<Order, Error> {
    if order.quantity == 0 {
        return Err(Error::new(ErrorCode::InvalidArgument, "nothing to order"));
    }
    Ok(Order { item: format!("{} via {}", order.item, ctx.caller_id()), quantity: order.quantity })
}

async fn haggle(mut stream: ServerStream<Order, Order>) -> Result<(), Error> {
    while let Some(offer) = stream.recv().await? {
        stream.send(&Order { item: offer.item, quantity: offer.quantity.saturating_sub(1) }).await?;
    }
    Ok(())
}

async fn exercise(connect: impl Fn() -> futures_util::future::BoxFuture<'static, SharedBus>) {
    let shop = RpcServer::new("Shop", connect().await, ServerOptions::default());
    shop.register_unary(&PLACE, vec![], place, None).await.expect("register");
    shop.register_unary(&STOCK, vec!["eu".into()], place, None).await.expect("register");
    shop.register_stream(&HAGGLE, vec![], haggle, None).await.expect("register");

    let options = || ClientOptions::default().timeout(Duration::from_secs(2));
    let alice = RpcClient::new("Shop", connect().await, options()).await.expect("client");
    let bob = RpcClient::new("Shop", connect().await, options()).await.expect("client");

    let order = Order { item: "tea".into(), quantity: 2 };
    let reply =
        alice.request_single::<Order, Order>(&PLACE, vec![], &order, RequestOptions::default()).await.expect("placed");
    assert_eq!(reply.message.item, format!("tea via {}", alice.id()));
    let err = bob
        .request_single::<Order, Order>(
            &PLACE,
            vec![],
            &Order { item: "air".into(), quantity: 0 },
            RequestOptions::default(),
        )
        .await
        .expect_err("invalid");
    assert_eq!((err.code(), err.to_http()), (ErrorCode::InvalidArgument, 400));

    let mut stock = bob
        .request_multi::<Order, Order>(
            &STOCK,
            vec!["eu".into()],
            &order,
            RequestOptions::default().expected_responses(1),
        )
        .await
        .expect("multi");
    assert_eq!(stock.next().await.expect("one answer").server_id, shop.id());
    assert!(stock.next().await.is_none(), "ends after the expected answer");

    let mut talk = alice.open_stream::<Order, Order>(&HAGGLE, vec![], RequestOptions::default()).await.expect("open");
    talk.send(&Order { item: "rug".into(), quantity: 10 }).await.expect("acked");
    assert_eq!(talk.recv().await.expect("open stream").expect("counter-offer").quantity, 9);
    talk.close(None).await.expect("close");

    // On NATS every queue method of a service shares one queue subject (the
    // Go wire protocol), so the feed lives in its own service: a process that
    // serves only `Place` must not take `Orders` frames from the queue.
    let news = RpcServer::new("ShopNews", connect().await, ServerOptions::default());
    let alice_news = RpcClient::new("ShopNews", connect().await, options()).await.expect("client");
    let bob_news = RpcClient::new("ShopNews", connect().await, options()).await.expect("client");
    let mut a = alice_news.subscribe::<Order>(&ORDERS, vec![]).await.expect("subscribe");
    let mut b = bob_news.subscribe::<Order>(&ORDERS, vec![]).await.expect("subscribe");
    for n in 0..10 {
        news.publish(&ORDERS, vec![], &Order { item: "news".into(), quantity: n }).await.expect("publish");
    }
    let mut received = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), async {
        tokio::select! { m = a.recv() => m, m = b.recv() => m }
    })
    .await
    {
        received += 1;
    }
    assert_eq!(received, 10, "each queued message reached exactly one of the two clients");
    shop.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_local_bus() {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    exercise(move || {
        let bus = bus.clone();
        Box::pin(async move { bus })
    })
    .await;
}

/// [`exercise`] with new connections to the broker at `url`.
async fn exercise_broker(url: &str) {
    let url = url.to_owned();
    exercise(move || {
        let url = url.clone();
        Box::pin(async move { connect(&url).await })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats() {
    let Some(server) = skip_or_fail(NatsServer::start()) else { return };
    exercise_broker(server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis() {
    let Some(server) = skip_or_fail(RedisServer::start()) else { return };
    exercise_broker(server.url()).await;
}
