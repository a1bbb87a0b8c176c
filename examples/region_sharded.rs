//! A region-sharded service: each region's data lives on the servers
//! registered for that region's topic; a request names its region and only
//! reaches them.
//!
//! ```sh
//! cargo run --example region_sharded                 # 3 regional servers + a client, in-process
//! cargo run --example region_sharded -- --bus nats://127.0.0.1:4222 --role server --region eu-west
//! cargo run --example region_sharded -- --bus nats://127.0.0.1:4222 --role client --region eu-west
//! ```
//! `--role server` serves until SIGINT or SIGTERM, then drains.

use std::time::Duration;

use anyhow::ensure;
use psrpc::{ClientOptions, Error, ErrorCode, RequestContext, RequestOptions, ServerOptions, SharedBus};

/// Which item.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StockQuery {
    /// The item.
    #[prost(string, tag = "1")]
    pub item: String,
}

/// How many of an item a region holds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StockLevel {
    /// The answering region.
    #[prost(string, tag = "1")]
    pub region: String,
    /// Units in stock.
    #[prost(uint32, tag = "2")]
    pub units: u32,
}

#[psrpc::service]
trait Inventory {
    /// One server owns each region: no claim round trip.
    #[psrpc(topics(region), single_server, group = "region")]
    fn stock(&self, req: StockQuery) -> StockLevel;
    /// Every replica of a region reports its health.
    #[psrpc(topics(region), multi, group = "region")]
    fn health(&self, req: StockQuery) -> StockLevel;
}

struct Shard {
    region: String,
}

impl InventoryServerImpl for Shard {
    async fn stock(&self, _ctx: RequestContext, req: StockQuery) -> Result<StockLevel, Error> {
        if req.item.is_empty() {
            return Err(Error::new(ErrorCode::InvalidArgument, "which item?"));
        }
        let units = req.item.len() as u32 * 10 + self.region.len() as u32;
        Ok(StockLevel { region: self.region.clone(), units })
    }

    async fn health(&self, _ctx: RequestContext, _req: StockQuery) -> Result<StockLevel, Error> {
        Ok(StockLevel { region: self.region.clone(), units: 0 })
    }
}

async fn serve(bus: SharedBus, region: &str) -> anyhow::Result<InventoryServer<Shard>> {
    let server = InventoryServer::new(Shard { region: region.to_owned() }, bus, ServerOptions::default()).await?;
    server.register_all_region_topics(region).await?;
    Ok(server)
}

async fn query(bus: SharedBus, regions: &[&str]) -> anyhow::Result<()> {
    let client = InventoryClient::new(bus, ClientOptions::default()).await?;
    for region in regions {
        let query = StockQuery { item: "tea".into() };
        let level = client.stock(*region, &query, RequestOptions::default()).await?;
        ensure!(level.region == *region, "{region} was answered by {}", level.region);
        let options = RequestOptions::default().expected_responses(1).timeout(Duration::from_secs(1));
        let healthy = client.health(*region, &query, options).await?.collect_all().await;
        println!(
            "{region:10} -> {} units of tea, answered by its own shard; {} healthy replica(s)",
            level.units,
            healthy.len()
        );
    }
    client.engine().close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (stop, role, bus) = psrpc_examples::start().await?;
    let region = psrpc_examples::flag("--region").unwrap_or_else(|| "us-west".into());
    match role.as_str() {
        "server" => {
            let server = serve(bus, &region).await?;
            println!("inventory shard for {region}; SIGINT or SIGTERM to stop");
            stop.await;
            server.shutdown().await;
        }
        "client" => query(bus, &[region.as_str()]).await?,
        "both" => {
            let regions = ["us-west", "eu-west", "ap-south"];
            let mut servers = Vec::new();
            for r in regions {
                servers.push(serve(bus.clone(), r).await?);
            }
            query(bus, &regions).await?;
            for server in servers {
                server.shutdown().await;
            }
        }
        other => anyhow::bail!("unknown role {other:?}: use server, client or both"),
    }
    println!("done");
    Ok(())
}
