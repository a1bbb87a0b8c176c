//! `psrpc top`: every live service and method on the bus, refreshed each
//! interval from the servers' discovery statistics: calls/s, errors/s,
//! p50/p99, in-flight requests and instances. A terminal dashboard, or
//! one JSON line per refresh with `--json`.
//!
//! [`rates`] computes the rows from two refreshes, [`app`] keeps what is
//! selected and sorted, [`view`] draws it, [`tui`] runs the terminal and
//! [`json`] writes the lines.

mod app;
mod json;
mod rates;
mod tui;
mod view;

use std::time::{Duration, SystemTime};

use clap::Args;
use psrpc::SharedBus;
use psrpc::discovery::wire::Want;
use psrpc::discovery::{Registry, RegistryOptions};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::Settings;
use crate::exit::Failure;
use crate::out::Out;
use rates::{Sample, Server, ServiceRow};

/// The options of `psrpc top`.
#[derive(Debug, Args)]
pub(crate) struct TopArgs {
    /// Time between refreshes (e.g. 500ms, 2s); each waits for answers at most
    /// this long (and at most --wait).
    #[arg(long, default_value = "1s", value_parser = crate::parse_duration)]
    interval: Duration,
    /// With --json: stop after this many refreshes.
    #[arg(long)]
    count: Option<usize>,
}

/// A refresh: the rows and when they were made, or why it failed.
type Refresh = Result<(Vec<ServiceRow>, SystemTime), String>;

/// Runs `psrpc top` on `bus` until `q` (or `--count` refreshes with `--json`).
pub(crate) async fn run(bus: &SharedBus, args: TopArgs, settings: &Settings) -> Result<(), Failure> {
    if args.interval.is_zero() {
        return Err(Failure::usage("--interval must be longer than zero"));
    }
    let registry = Registry::new(bus.clone(), RegistryOptions::default().initial_sync(Duration::ZERO)).await?;
    let (refreshes, received) = mpsc::channel(1);
    let wait = settings.wait.min(args.interval);
    let refreshing = tokio::spawn(refresh(registry, args.interval, wait, refreshes));
    let outcome = if settings.out.json {
        json_lines(received, args.count, settings.out).await
    } else {
        let banner = view::Banner { scheme: settings.scheme.to_owned(), interval: args.interval };
        tui::run(received, banner).await
    };
    refreshing.abort();
    outcome
}

/// Asks every server for its statistics each `interval` (waiting `wait`
/// for the answers) and sends the rows, until `refreshes` is closed.
async fn refresh(registry: Registry, interval: Duration, wait: Duration, refreshes: mpsc::Sender<Refresh>) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut previous: Option<Sample> = None;
    loop {
        ticks.tick().await;
        let refresh = match registry.query(Want::Stats, "", wait).await {
            Ok(reports) => {
                let sample = Sample::new(registry.all().into_iter().map(Server::from).collect(), reports);
                let rows = rates::rows(previous.as_ref(), &sample);
                previous = Some(sample);
                Ok((rows, SystemTime::now()))
            }
            Err(e) => Err(e.to_string()),
        };
        if refreshes.send(refresh).await.is_err() {
            return;
        }
    }
}

/// `--json`: one line per refresh, `count` of them (or until stdout closes).
async fn json_lines(mut refreshes: mpsc::Receiver<Refresh>, count: Option<usize>, out: Out) -> Result<(), Failure> {
    let mut seen = 0;
    while count.is_none_or(|c| seen < c) {
        match refreshes.recv().await {
            Some(Ok((rows, at))) => out.json(&json::snapshot(&rows, at))?,
            Some(Err(error)) => return Err(Failure::unavailable(format!("refresh failed: {error}"))),
            None => break,
        }
        seen += 1;
    }
    Ok(())
}
