//! Serves psrpc metrics on `/metrics` while a client calls a server on the
//! in-process bus.
//!
//! ```text
//! cargo run -p psrpc-prometheus --example metrics_endpoint -- 127.0.0.1:9102
//! curl -s 127.0.0.1:9102/metrics | grep livekit_psrpc_request_time_ms_count
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use psrpc::{
    ClientOptions, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection,
    ServerOptions,
};
use psrpc_prometheus::PsrpcMetrics;

#[derive(Clone, PartialEq, prost::Message)]
struct Ping {
    #[prost(uint64, tag = "1")]
    n: u64,
}

static PING: MethodInfo = MethodInfo::new("Ping", MethodKind::Unary(Selection::Queue { topics: false }));

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9102".to_owned());

    // The node's constant labels, as LiveKit's Go services set them.
    let metrics = PsrpcMetrics::livekit().with_const_labels([("node_id", "ND_example"), ("node_type", "SERVER")]);

    let bus: psrpc::SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let server = RpcServer::new("Pinger", bus.clone(), ServerOptions::default().observer(Arc::new(metrics.clone())));
    server.register_unary(&PING, vec![], |_ctx: RequestContext, ping: Ping| async move { Ok(ping) }, None).await?;
    let client = RpcClient::new("Pinger", bus, ClientOptions::default().observer(Arc::new(metrics.clone()))).await?;
    tokio::spawn(async move {
        for n in 0.. {
            if let Err(error) =
                client.request_single::<Ping, Ping>(&PING, vec![], &Ping { n }, RequestOptions::default()).await
            {
                eprintln!("ping {n} failed: {error}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // What a Go service's promhttp serves for the same series, byte for byte.
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { ([(header::CONTENT_TYPE, psrpc_prometheus::CONTENT_TYPE)], metrics.encode()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("serving http://{address}/metrics");
    axum::serve(listener, app).await?;
    Ok(())
}
