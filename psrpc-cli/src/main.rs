//! `psrpc`: list, inspect and call psrpc services on a NATS or Redis bus.
//!
//! The tool is a thin layer over the library: `ls`, `info` and `stats` ask
//! the servers through discovery (see `psrpc::discovery`); `call`, `sub` and
//! `stream` use an `RpcClient` with dynamic messages built from a `.proto`
//! file (prost-reflect; no code generation). Run `psrpc --help` for usage.

mod exit;
mod out;
mod proto;
mod show;
mod tap;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use futures_util::StreamExt as _;
use psrpc::discovery::wire::Want;
use psrpc::discovery::{Registry, RegistryOptions};
use psrpc::{ClientOptions, MethodKind, RawPayload, RequestOptions, RpcClient, SharedBus, WireMode};
use tokio::io::AsyncBufReadExt as _;

use exit::Failure;
use out::Out;

const EXAMPLES: &str = "\
Examples:
  export PSRPC_BUS=nats://127.0.0.1:4222
  psrpc ls
  psrpc info Greeter
  psrpc stats Greeter
  psrpc call Greeter.SayHello '{\"name\": \"Ada\"}' --proto proto/greeter.proto
  psrpc call Rooms.Join '{\"user\": \"ada\"}' --proto rooms.proto --topic lobby -H trace=abc
  psrpc call Greeter.Census '{}' --proto proto/greeter.proto --multi --timeout 2s
  psrpc sub Greeter.News --proto proto/greeter.proto --count 10
  echo '{\"text\": \"hi\"}' | psrpc stream Greeter.Chat --proto proto/greeter.proto

Exit codes:
  0 success
  2 usage error (bad arguments, bad bus URL)
  3 unknown service or method (not on the bus, or not in the .proto)
  4 bad input (the .proto does not compile, the JSON does not match the message)
  5 the server answered with an error (its code and message are printed)
  6 unavailable: the bus cannot be reached, no server answered, or the call timed out";

/// List, inspect and call psrpc services on a bus.
#[derive(Debug, Parser)]
#[command(name = "psrpc", version, about, after_help = EXAMPLES)]
struct Cli {
    /// The bus URL: nats://, tls://, redis://, rediss://, redis+sentinel:// or redis+cluster://
    /// (credentials and TLS settings as the library takes them; see docs/CLI.md).
    #[arg(long, env = "PSRPC_BUS", hide_env_values = true, global = true, default_value = "nats://127.0.0.1:4222")]
    bus: String,
    /// How long `ls`, `info` and `stats` wait for servers to answer.
    #[arg(long, global = true, default_value = "500ms", value_parser = parse_duration)]
    wait: Duration,
    /// Bounds connecting to the bus, and each call (e.g. 500ms, 3s, 1m).
    #[arg(long, global = true, default_value = "3s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print one JSON object per line instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the live servers of every service.
    Ls,
    /// Show the servers of a service and the methods and topics they serve.
    Info {
        /// The service name.
        service: String,
    },
    /// Show per-method statistics of every server of a service.
    Stats {
        /// The service name.
        service: String,
    },
    /// Call a unary or multi method with a JSON request; prints the JSON response.
    Call {
        #[command(flatten)]
        target: Target,
        /// The request as JSON.
        request: String,
        /// Call every server (a multi method), printing one JSON line per answer.
        #[arg(long)]
        multi: bool,
        #[command(flatten)]
        call: CallOptions,
    },
    /// Subscribe to a subscription method; prints each message as a JSON line
    /// (stderr says "psrpc: subscribed to SERVICE.METHOD" once messages can arrive).
    Sub {
        #[command(flatten)]
        target: Target,
        /// Exit after this many messages.
        #[arg(long)]
        count: Option<usize>,
    },
    /// Open a stream: JSON lines from stdin are sent, received messages printed as JSON lines.
    Stream {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        call: CallOptions,
        /// After stdin ends, how long to wait for more messages before closing.
        #[arg(long, default_value = "500ms", value_parser = parse_duration)]
        linger: Duration,
    },
    /// Watch a service's calls without taking part: requests, claims, responses, errors, stream
    /// frames, with latencies (stderr says "psrpc: tapping SERVICE" once frames can arrive).
    Tap(tap::TapArgs),
}

/// A method and where its types come from.
#[derive(Debug, Args)]
struct Target {
    /// SERVICE.METHOD
    method: String,
    /// The .proto file declaring the service.
    #[arg(long)]
    proto: PathBuf,
    /// Directories to resolve imports in (default: the .proto file's directory).
    #[arg(long = "include", short = 'I')]
    includes: Vec<PathBuf>,
    /// A topic part (repeat for several).
    #[arg(long = "topic")]
    topics: Vec<String>,
    /// The service runs in the psrpc-rs native wire mode (`psrpc::WireMode::Native`).
    #[arg(long)]
    native: bool,
}

impl Target {
    /// The wire mode to reach the service in.
    fn wire_mode(&self) -> WireMode {
        if self.native { WireMode::Native } else { WireMode::GoCompatible }
    }
}

/// How a call is made.
#[derive(Debug, Args)]
struct CallOptions {
    /// Metadata sent with the call, KEY=VALUE (repeatable).
    #[arg(long = "metadata", short = 'H', value_parser = parse_pair)]
    metadata: Vec<(String, String)>,
    /// Skip the registry check (for servers that send no heartbeats, such as Go psrpc servers).
    #[arg(long)]
    no_check: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 500ms, 3s or 1m"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" | "" => number,
        "m" => number * 60.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.is_quiet() => failure.code(),
        Err(failure) => {
            eprintln!("psrpc: {failure}");
            failure.code()
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let bus = tokio::time::timeout(cli.timeout, connect(&cli.bus))
        .await
        .map_err(|_| Failure::unavailable(format!("cannot reach the bus within --timeout {:?}", cli.timeout)))??;
    let settings = Settings { wait: cli.wait, timeout: cli.timeout, out: Out { json: cli.json } };
    let outcome = execute(&bus, cli.command, &settings).await;
    // Hands what is still buffered (a stream's close, say) to the broker
    // before the process exits.
    bus.close().await;
    outcome
}

/// What every command takes from the global flags.
#[derive(Debug, Clone, Copy)]
struct Settings {
    /// How long discovery queries wait for servers.
    wait: Duration,
    /// Each call's timeout.
    timeout: Duration,
    /// Where and how to print.
    out: Out,
}

async fn execute(bus: &SharedBus, command: Command, settings: &Settings) -> Result<(), Failure> {
    let wait = settings.wait;
    match command {
        Command::Ls => {
            let registry = registry(bus, Duration::ZERO).await?;
            let reports = registry.query(Want::Info, "", wait).await?;
            settings.out.text(&show::servers(&reports))?;
        }
        Command::Info { service } => {
            let reports = known(&registry(bus, wait).await?, &service, Want::Info, wait).await?;
            settings.out.text(&show::info(&reports))?;
        }
        Command::Stats { service } => {
            let reports = known(&registry(bus, wait).await?, &service, Want::Stats, wait).await?;
            settings.out.text(&show::stats(&reports))?;
        }
        Command::Call { target, request, multi, call } => {
            let method = proto::Method::load(&target)?;
            let payload = method.encode_request(&request)?;
            let client = client(bus, &method, &target, &call, settings).await?;
            let options = request_options(&call, settings);
            let topics = target.topics.clone();
            if multi || matches!(method.info.kind, MethodKind::Multi { .. }) {
                let mut answers =
                    client.request_multi::<RawPayload, RawPayload>(&method.info, topics, &payload, options).await?;
                let mut any = false;
                while let Some(answer) = answers.next().await {
                    any = true;
                    settings.out.line(&method.multi_line(&answer.server_id, answer.result)?)?;
                }
                if !any {
                    return Err(Failure::unavailable("no server answered"));
                }
            } else {
                let reply =
                    client.request_single::<RawPayload, RawPayload>(&method.info, topics, &payload, options).await?;
                settings.out.line(&method.decode_response(reply.message.0)?)?;
            }
        }
        Command::Sub { target, count } => {
            let method = proto::Method::load(&target)?;
            let options = ClientOptions::default().wire_mode(target.wire_mode());
            let client = RpcClient::new(method.service.clone(), bus.clone(), options).await?;
            let mut messages = client.subscribe::<RawPayload>(&method.info, target.topics.clone()).await?;
            eprintln!("psrpc: subscribed to {}.{}", method.service, method.info.name);
            let mut seen = 0;
            while count.is_none_or(|c| seen < c) {
                let Some(message) = messages.recv().await else { break };
                settings.out.line(&method.decode_response(message.0)?)?;
                seen += 1;
            }
        }
        Command::Stream { target, call, linger } => {
            let method = proto::Method::load(&target)?;
            let client = client(bus, &method, &target, &call, settings).await?;
            let stream = client
                .open_stream::<RawPayload, RawPayload>(&method.info, target.topics.clone(), request_options(&call, settings))
                .await?;
            stream_stdio(&method, stream, linger, settings.out).await?;
        }
        Command::Tap(args) => tap::run(bus, args, settings).await?,
    }
    Ok(())
}

async fn connect(url: &str) -> Result<SharedBus, Failure> {
    let bus: SharedBus = if url.starts_with("nats://") || url.starts_with("tls://") {
        Arc::new(psrpc::nats::NatsBus::connect(url, Default::default()).await.map_err(Failure::bus)?)
    } else if url.starts_with("redis") || url.starts_with("unix://") {
        // Every Redis form the library takes: one server, Sentinel, Cluster, TLS.
        Arc::new(psrpc::redis::RedisBus::connect(url, Default::default()).await.map_err(Failure::bus)?)
    } else {
        // Only the scheme is repeated: the rest may hold a password.
        let scheme = url.split_once("://").map_or("(none)", |(scheme, _)| scheme);
        return Err(Failure::usage(format!(
            "--bus: unknown scheme {scheme:?}: use nats://, tls://, redis://, rediss://, redis+sentinel:// or redis+cluster://"
        )));
    };
    Ok(bus)
}

/// A registry that heard from every server answering within `sync`.
async fn registry(bus: &SharedBus, sync: Duration) -> Result<Registry, Failure> {
    Ok(Registry::new(bus.clone(), RegistryOptions::default().initial_sync(sync)).await?)
}

/// Asks the servers of `service` for `want`. `registry` has already heard
/// from every server that answers within `wait`, so the query ends as soon
/// as those of `service` answered; an unknown service is an error naming
/// the services that did answer.
async fn known(
    registry: &Registry,
    service: &str,
    want: Want,
    wait: Duration,
) -> Result<Vec<psrpc::discovery::wire::Report>, Failure> {
    if registry.instances(service).is_empty() {
        let mut services: Vec<String> = registry.all().into_iter().map(|i| i.service).collect();
        services.dedup();
        return Err(Failure::unknown(format!(
            "unknown service {service}: no server of it answered (services on the bus: {})",
            list(&services)
        )));
    }
    Ok(registry.query(want, service, wait).await?)
}

fn list(names: &[impl AsRef<str>]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ")
}

/// A client of the method's service that checks calls against the live
/// servers (unless told not to).
async fn client(
    bus: &SharedBus,
    method: &proto::Method,
    target: &Target,
    call: &CallOptions,
    settings: &Settings,
) -> Result<RpcClient, Failure> {
    let mut options = ClientOptions::default().timeout(settings.timeout).wire_mode(target.wire_mode());
    if !call.no_check {
        let registry = Registry::new(bus.clone(), RegistryOptions::default()).await?;
        options = options.registry(registry).check_registry(true);
    }
    Ok(RpcClient::new(method.service.clone(), bus.clone(), options).await?)
}

fn request_options(call: &CallOptions, settings: &Settings) -> RequestOptions {
    let mut options = RequestOptions::default().timeout(settings.timeout);
    for (key, value) in &call.metadata {
        options = options.metadata(key.clone(), value.clone());
    }
    options
}

/// Sends each JSON line of stdin, prints each received message; closes the
/// stream once stdin ended and nothing arrived for `linger`.
async fn stream_stdio(
    method: &proto::Method,
    stream: psrpc::ClientStream<RawPayload, RawPayload>,
    linger: Duration,
    out: Out,
) -> Result<(), Failure> {
    let (sender, mut receiver) = stream.split();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            line = lines.next_line(), if stdin_open => match line.map_err(|e| Failure::input(format!("stdin: {e}")))? {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => sender.send(&method.encode_request(&line)?).await?,
                None => stdin_open = false,
            },
            received = receiver.recv() => match received? {
                Some(message) => out.line(&method.decode_response(message.0)?)?,
                None => return Ok(()),
            },
            () = tokio::time::sleep(linger), if !stdin_open => {
                sender.close(None).await?;
                return Ok(());
            }
        }
    }
}
