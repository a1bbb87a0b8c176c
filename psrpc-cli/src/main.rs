//! `psrpc`: list, inspect, call and watch psrpc services on a NATS or Redis bus.
//!
//! The tool is a thin layer over the library: `ls`, `info`, `stats`, `ping`
//! and `describe` ask the servers through discovery (see
//! `psrpc::discovery`); `call`, `sub` and `stream` use an `RpcClient` with
//! dynamic messages built from a `.proto` file (prost-reflect; no code
//! generation). Nothing it does takes work away from a live service: `sub`
//! only watches unless told `--queue`. Run `psrpc --help` for usage and
//! docs/CLI.md for every command with its output.

mod args;
mod bus;
mod call;
mod contexts;
mod describe;
mod discovery;
mod exit;
mod generate;
mod out;
mod permissions;
mod proto;
mod show;
mod stream;
mod sub;
mod tap;
mod top;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use args::parse_duration;
use exit::Failure;
use out::Out;

const EXAMPLES: &str = "\
Examples:
  export PSRPC_BUS=nats://127.0.0.1:4222
  psrpc ls
  psrpc ping MyService
  psrpc describe MyService --proto proto/examples/my_service.proto
  psrpc call MyService.NormalRPC '{\"text\": \"hi\"}' --proto proto/examples/my_service.proto
  psrpc call MyService.GetStats -d @ --proto proto/examples/my_service.proto < request.json
  psrpc call MyService.GetRegionStats '{}' --proto proto/examples/my_service.proto --topic eu-west
  psrpc sub MyService.UpdateState --proto proto/examples/my_service.proto --count 10
  psrpc tap MyService --proto proto/examples/my_service.proto
  psrpc top
  psrpc permissions Greeter --proto greeter.proto --namespace staging --broker nats --role server
  psrpc context add prod 'redis+sentinel://app:secret@s1:26379,s2:26379/mymaster' --use

Exit codes:
  0 success
  2 usage error (bad arguments, bad bus URL)
  3 unknown service or method (not on the bus, or not in the .proto)
  4 bad input (the .proto does not compile, the JSON does not match the message)
  5 the server answered with an error (its code and message are printed)
  6 unavailable: the bus cannot be reached, no server answered, or the call timed out
  130 interrupted (Ctrl-C or SIGTERM; an open stream is closed first)";

/// List, inspect, call and watch psrpc services on a bus.
#[derive(Debug, Parser)]
#[command(name = "psrpc", version, about, after_help = EXAMPLES)]
struct Cli {
    /// The bus URL: nats://, tls://, redis://, rediss://, redis+sentinel:// or redis+cluster://,
    /// with credentials and TLS settings as the library takes them [default: the current
    /// context's bus, else nats://127.0.0.1:4222].
    #[arg(long, env = "PSRPC_BUS", hide_env_values = true, global = true)]
    bus: Option<String>,
    /// Use the bus of this saved context (see `psrpc context`).
    #[arg(long, env = "PSRPC_CONTEXT", global = true, conflicts_with = "bus")]
    context: Option<String>,
    /// How long discovery commands wait for servers to answer (and `call`
    /// and `stream` for the servers' introductions before checking the method is served).
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
    #[command(flatten)]
    OnTheBus(Box<BusCommand>),
    /// Save, list and pick bus URLs by name.
    Context {
        #[command(subcommand)]
        command: contexts::ContextCommand,
    },
    /// Print the NATS subject permissions or the Redis ACL that a service's servers and clients
    /// need, in a namespace (no bus needed).
    Permissions(permissions::PermissionsArgs),
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (or write one page per command into --dir).
    Man {
        /// Write psrpc.1, psrpc-call.1, … into this directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// The commands that talk to the bus.
#[derive(Debug, Subcommand)]
enum BusCommand {
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
    /// Round trip to every server of a service.
    Ping {
        /// The service name.
        service: String,
    },
    /// Show a service's methods: kinds and topics, and with --proto the
    /// request and response schemas and a JSON request template.
    Describe {
        /// SERVICE or SERVICE.METHOD
        target: String,
        /// Describe from this .proto file instead of asking the servers.
        #[arg(long)]
        proto: Option<PathBuf>,
        /// Directories to resolve imports in (default: the .proto file's directory).
        #[arg(long = "include", short = 'I', requires = "proto")]
        includes: Vec<PathBuf>,
    },
    /// Call a unary or multi method with a JSON request; prints the JSON
    /// response (stderr names the server that answered and the round trip).
    Call(call::CallArgs),
    /// Watch a subscription method; prints each message as a JSON line
    /// (stderr says "psrpc: subscribed to SERVICE.METHOD" once messages can arrive).
    Sub(sub::SubArgs),
    /// Open a stream: JSON lines from stdin are sent, received messages printed as JSON lines.
    Stream(stream::StreamArgs),
    /// Watch a service's calls without taking part: requests, claims, responses, errors, stream
    /// frames, with latencies (stderr says "psrpc: tapping SERVICE" once frames can arrive).
    Tap(tap::TapArgs),
    /// A live dashboard of every service and method on the bus: calls/s, errors/s,
    /// p50/p99, in-flight, instances (`--json`: one line per refresh).
    Top(top::TopArgs),
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
    /// The bus URL's scheme, for display (the URL may hold a password).
    scheme: &'static str,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("psrpc: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli));
    // Leaves a blocked read of stdin (an interrupted `stream`) behind
    // instead of waiting for it.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.is_quiet() => failure.code(),
        Err(failure) => {
            eprintln!("psrpc: {failure}");
            failure.code()
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let out = Out { json: cli.json };
    let command = match cli.command {
        Command::Context { command } => return contexts::run(command, &out),
        Command::Permissions(args) => return permissions::run(&args, &out),
        Command::Completions { shell } => return generate::completions(shell),
        Command::Man { dir } => return generate::man(dir.as_deref()),
        Command::OnTheBus(command) => *command,
    };
    if let BusCommand::Describe { target, proto: Some(proto), includes } = command {
        // From a .proto: nothing to ask the bus.
        return describe::from_proto(&target, &args::ProtoArgs { proto, includes }, &out);
    }
    let connection = bus::Connection::new(bus_url(cli.bus, cli.context.as_deref())?, cli.timeout);
    let settings = Settings { wait: cli.wait, timeout: cli.timeout, out, scheme: connection.scheme() };
    let outcome = execute(&connection, command, &settings).await;
    connection.close().await;
    outcome
}

/// `--bus` (or `PSRPC_BUS`), else the bus of `--context` or of the current
/// context, else a NATS server on this machine.
fn bus_url(bus: Option<String>, context: Option<&str>) -> Result<String, Failure> {
    if let Some(url) = bus {
        return Ok(url);
    }
    Ok(contexts::bus_of(context)?.unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned()))
}

/// Runs `command`; those that read a `.proto` or stdin do so before connecting.
async fn execute(connection: &bus::Connection, command: BusCommand, settings: &Settings) -> Result<(), Failure> {
    let (wait, out) = (settings.wait, &settings.out);
    match command {
        BusCommand::Ls => discovery::ls(connection.get().await?, wait, out).await,
        BusCommand::Info { service } => {
            discovery::about(connection.get().await?, discovery::Ask::Info, &service, wait, out).await
        }
        BusCommand::Stats { service } => {
            discovery::about(connection.get().await?, discovery::Ask::Stats, &service, wait, out).await
        }
        BusCommand::Ping { service } => {
            discovery::about(connection.get().await?, discovery::Ask::Ping, &service, wait, out).await
        }
        BusCommand::Describe { target, .. } => {
            describe::from_servers(connection.get().await?, &target, wait, out).await
        }
        BusCommand::Top(args) => top::run(connection.get().await?, args, settings).await,
        BusCommand::Call(args) => call::run(connection, args, settings).await,
        BusCommand::Sub(args) => sub::run(connection, args, out).await,
        BusCommand::Stream(args) => stream::run(connection, args, settings).await,
        BusCommand::Tap(args) => tap::run(connection, args, settings).await,
    }
}

/// `a, b, c`, or `none`.
fn list(names: &[impl AsRef<str>]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ")
}
