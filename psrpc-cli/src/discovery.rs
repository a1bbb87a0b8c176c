//! `ls`, `info`, `stats` and `ping`: what the servers report through discovery.

use std::time::Duration;

use psrpc::SharedBus;
use psrpc::discovery::wire::{Report, Want};
use psrpc::discovery::{Registry, RegistryOptions};

use crate::exit::Failure;
use crate::out::Out;
use crate::show;

/// `ls`: every server of every service that answers within `wait`.
pub(crate) async fn ls(bus: &SharedBus, wait: Duration, out: &Out) -> Result<(), Failure> {
    let reports = registry(bus, Duration::ZERO).await?.query(Want::Info, "", wait).await?;
    print_reports(&reports, out, show::servers)
}

/// What to ask the servers of one service.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ask {
    /// Their methods and topics.
    Info,
    /// Their per-method statistics.
    Stats,
    /// Only whether they answer, and how fast.
    Ping,
}

/// Asks the servers of `service`, waiting `wait` for answers; an unknown
/// service fails with exit code 3.
pub(crate) async fn about(bus: &SharedBus, ask: Ask, service: &str, wait: Duration, out: &Out) -> Result<(), Failure> {
    let registry = registry(bus, wait).await?;
    known(&registry, service)?;
    match ask {
        Ask::Info => print_reports(&registry.query(Want::Info, service, wait).await?, out, show::info),
        Ask::Stats => print_reports(&registry.query(Want::Stats, service, wait).await?, out, show::stats),
        Ask::Ping => {
            let pongs = registry.ping(service, wait).await?;
            if !out.json {
                return out.text(&show::pongs(&pongs));
            }
            for pong in &pongs {
                let mut line = show::report_json(&pong.report);
                line["round_trip_us"] =
                    serde_json::json!(u64::try_from(pong.round_trip.as_micros()).unwrap_or(u64::MAX));
                out.json(&line)?;
            }
            Ok(())
        }
    }
}

fn print_reports(reports: &[Report], out: &Out, table: fn(&[Report]) -> String) -> Result<(), Failure> {
    if !out.json {
        return out.text(&table(reports));
    }
    reports.iter().try_for_each(|report| out.json(&show::report_json(report)))
}

/// A registry that heard from every server answering within `sync`.
pub(crate) async fn registry(bus: &SharedBus, sync: Duration) -> Result<Registry, Failure> {
    Ok(Registry::new(bus.clone(), RegistryOptions::default().initial_sync(sync)).await?)
}

/// Fails with exit code 3, naming the services that did answer, when no
/// live server of `service` is known.
pub(crate) fn known(registry: &Registry, service: &str) -> Result<(), Failure> {
    if !registry.instances(service).is_empty() {
        return Ok(());
    }
    let mut services: Vec<String> = registry.all().into_iter().map(|i| i.service).collect();
    services.sort();
    services.dedup();
    Err(Failure::unknown(format!(
        "unknown service {service}: no server of it answered (services on the bus: {})",
        crate::list(&services)
    )))
}
