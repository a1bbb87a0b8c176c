//! Interface substitution: code written against the service's API trait runs
//! unchanged with a local implementation or with the remote client.
//!
//! ```sh
//! cargo run --example substitution
//! ```

use std::sync::Arc;

use futures_util::future::BoxFuture;
use psrpc::{ClientOptions, Error, RequestContext, ServerOptions, SharedBus};

/// Two numbers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Operands {
    /// Left.
    #[prost(int64, tag = "1")]
    pub a: i64,
    /// Right.
    #[prost(int64, tag = "2")]
    pub b: i64,
}

/// A result.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sum {
    /// The value.
    #[prost(int64, tag = "1")]
    pub value: i64,
}

#[psrpc::service]
trait Calculator {
    fn add(&self, req: Operands) -> Sum;
}

/// The in-process implementation.
struct Local;

impl CalculatorApi for Local {
    fn add(&self, req: Operands) -> BoxFuture<'_, Result<Sum, Error>> {
        Box::pin(async move { Ok(Sum { value: req.a + req.b }) })
    }
}

/// The same logic served on the bus.
struct Served;

impl CalculatorServerImpl for Served {
    async fn add(&self, _ctx: RequestContext, req: Operands) -> Result<Sum, Error> {
        Local.add(req).await
    }
}

/// Business code that only knows the API trait.
async fn total(calculator: Arc<dyn CalculatorApi>, numbers: &[i64]) -> Result<i64, Error> {
    let mut acc = 0;
    for n in numbers {
        acc = calculator.add(Operands { a: acc, b: *n }).await?.value;
    }
    Ok(acc)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bus: SharedBus = psrpc_examples::bus_from_args().await?;
    let server = CalculatorServer::new(Served, bus.clone(), ServerOptions::default()).await?;
    let client = Arc::new(CalculatorClient::new(bus, ClientOptions::default()).await?);
    let remote: Arc<dyn CalculatorApi> = client.clone();
    let local: Arc<dyn CalculatorApi> = Arc::new(Local);
    let numbers = [1, 2, 3, 4];
    let (here, there) = (total(local, &numbers).await?, total(remote, &numbers).await?);
    client.engine().close().await;
    server.shutdown().await;
    println!("local implementation: {here}; remote client over the bus: {there}");
    anyhow::ensure!(here == there, "the two disagree");
    Ok(())
}
