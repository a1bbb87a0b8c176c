//! A small API gateway: an HTTP front end (JSON in and out) that calls a
//! greeter service over the bus.
//!
//! ```sh
//! cargo run --example greeter_gateway            # servers + gateway on the in-process bus
//! curl -s localhost:8080/greet -H 'content-type: application/json' -d '{"name":"ada"}'
//! # {"message":"hello ada","server":"SRV_…"}
//! curl -s -o /dev/null -w '%{http_code}\n' localhost:8080/greet -H 'content-type: application/json' -d '{"name":""}'   # 400
//! ```
//! `--bus nats://…|redis://…`, `--role server|client|both` (client = the
//! gateway), `--listen ADDR` (default 127.0.0.1:8080). Runs until SIGINT or
//! SIGTERM, then drains: the gateway finishes the requests it has, the client
//! closes, the servers shut down.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use psrpc::{ClientOptions, Error, ErrorCode, RequestContext, RequestOptions, ServerOptions};

/// A greeting request.
#[derive(Clone, PartialEq, prost::Message, serde::Deserialize)]
pub struct HelloRequest {
    /// Who to greet.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// A greeting.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct HelloReply {
    /// The greeting.
    #[prost(string, tag = "1")]
    pub message: String,
    /// The server that greeted.
    #[prost(string, tag = "2")]
    pub server: String,
}

#[psrpc::service]
trait Greeter {
    fn say_hello(&self, req: HelloRequest) -> HelloReply;
}

struct Polite;

impl GreeterServerImpl for Polite {
    async fn say_hello(&self, ctx: RequestContext, req: HelloRequest) -> Result<HelloReply, Error> {
        if req.name.trim().is_empty() {
            return Err(Error::new(ErrorCode::InvalidArgument, "name must not be empty"));
        }
        Ok(HelloReply { message: format!("hello {}", req.name), server: ctx.server_id().to_owned() })
    }
}

/// POST /greet: JSON in, one RPC over the bus, JSON out; psrpc errors map to HTTP statuses.
async fn greet(
    State(client): State<Arc<GreeterClient>>,
    Json(request): Json<HelloRequest>,
) -> Result<Json<HelloReply>, (StatusCode, String)> {
    match client.say_hello(&request, RequestOptions::default()).await {
        Ok(reply) => Ok(Json(reply)),
        Err(e) => Err((StatusCode::from_u16(e.to_http()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), e.to_string())),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (stop, role, bus) = psrpc_examples::start().await?;
    let listen = psrpc_examples::flag("--listen").unwrap_or_else(|| "127.0.0.1:8080".into());
    let mut servers = Vec::new();
    if role == "server" || role == "both" {
        for _ in 0..2 {
            servers.push(GreeterServer::new(Polite, bus.clone(), ServerOptions::default()).await?);
        }
        println!("2 greeter servers on the bus");
    }
    if role == "client" || role == "both" {
        let client = Arc::new(GreeterClient::new(bus, ClientOptions::default()).await?);
        let app = Router::new().route("/greet", post(greet)).with_state(Arc::clone(&client));
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        // The bound address: `--listen 127.0.0.1:0` picks a free port.
        let listen = listener.local_addr()?;
        println!(
            "gateway on http://{listen}/greet  (curl -s {listen}/greet -H 'content-type: application/json' -d '{{\"name\":\"ada\"}}')"
        );
        // Stops accepting on a signal and lets requests in progress finish.
        axum::serve(listener, app).with_graceful_shutdown(stop).await?;
        client.engine().close().await;
    } else {
        stop.await;
    }
    for server in servers {
        server.shutdown().await;
    }
    println!("drained");
    Ok(())
}
