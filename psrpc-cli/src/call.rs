//! `psrpc call`: one method call (or several) with a JSON request; prints
//! the response, the server that answered and the round trip.

use std::io::Read as _;
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::StreamExt as _;
use psrpc::discovery::Registry;
use psrpc::{ClientOptions, MethodKind, RawPayload, RequestOptions, RpcClient, SelectionOptions, SharedBus};

use crate::Settings;
use crate::args::{CallOptions, Target};
use crate::bus::Connection;
use crate::exit::Failure;
use crate::proto::Method;
use crate::show::micros;

/// `psrpc call` arguments.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    #[command(flatten)]
    target: Target,
    /// The request as JSON (default `{}`; or use --data).
    request: Option<String>,
    /// The request: JSON, `@` to read it from stdin, `@FILE` to read a file.
    #[arg(long, short = 'd', conflicts_with = "request")]
    data: Option<String>,
    /// Call every server (also implied by a multi method), printing one line per answer.
    #[arg(long)]
    multi: bool,
    /// Send the call to this server only (its id, as `psrpc ls` shows it).
    #[arg(long)]
    server: Option<String>,
    /// Route by this key to the same live server every time (rendezvous hashing).
    #[arg(long)]
    sticky: Option<String>,
    /// Make the call this many times, one after the other.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// A multi call ends after this many answers (default: every live server the registry knows).
    #[arg(long)]
    replies: Option<usize>,
    #[command(flatten)]
    call: CallOptions,
}

/// Runs `psrpc call`.
pub(crate) async fn run(connection: &Connection, args: CallArgs, settings: &Settings) -> Result<(), Failure> {
    let method = Method::load(&args.target.method, &args.target.proto)?;
    check_callable(&method, &args)?;
    let payload = method.encode_request(&request_text(&args)?)?;
    let bus = connection.get().await?;
    let registry = match args.call.no_check {
        true => None,
        false => Some(crate::discovery::registry(bus, settings.wait).await?),
    };
    let client = client(bus, &method, &args, registry.clone(), settings).await?;
    let multi = args.multi || matches!(method.info.kind, MethodKind::Multi { .. });
    for _ in 0..args.count {
        let options = request_options(&args, settings);
        if multi {
            multi_call(&client, &method, &args, registry.as_ref(), &payload, options, settings).await?;
        } else {
            single_call(&client, &method, &args, &payload, options, settings).await?;
        }
    }
    Ok(())
}

/// Refuses what `call` cannot do before anything is sent.
fn check_callable(method: &Method, args: &CallArgs) -> Result<(), Failure> {
    let name = format!("{}.{}", method.service, method.info.name);
    match method.info.kind {
        MethodKind::Subscription { .. } => {
            return Err(Failure::usage(format!("{name} is a subscription: use `psrpc sub {name}`")));
        }
        MethodKind::Stream(_) => return Err(Failure::usage(format!("{name} is a stream: use `psrpc stream {name}`"))),
        _ => {}
    }
    crate::args::check_topics(&name, &method.info, &args.target.topics)?;
    let routed = if args.server.is_some() { Some("--server") } else { args.sticky.as_ref().map(|_| "--sticky") };
    if let Some(flag) = routed {
        if args.multi || method.info.multi() {
            return Err(Failure::usage(format!("{flag} picks the server of a single call; {name} asks every server")));
        }
        if !method.info.affinity_enabled() {
            return Err(Failure::usage(format!(
                "{flag} needs an affinity method; {name} is a queue method, whose server the bus picks"
            )));
        }
    }
    if args.sticky.is_some() && args.call.no_check {
        return Err(Failure::usage("--sticky needs the registry: drop --no-check"));
    }
    if args.count == 0 {
        return Err(Failure::usage("--count must be at least 1"));
    }
    Ok(())
}

fn request_text(args: &CallArgs) -> Result<String, Failure> {
    let read_failed = |what: &str, e: std::io::Error| Failure::input(format!("{what}: {e}"));
    match (&args.request, args.data.as_deref()) {
        (Some(json), _) => Ok(json.clone()),
        (None, Some("@")) => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| read_failed("stdin", e))?;
            Ok(text)
        }
        (None, Some(data)) => match data.strip_prefix('@') {
            Some(file) => std::fs::read_to_string(file).map_err(|e| read_failed(file, e)),
            None => Ok(data.to_owned()),
        },
        (None, None) => Ok("{}".to_owned()),
    }
}

/// A client of the method's service that checks calls against the live
/// servers (unless told not to).
async fn client(
    bus: &SharedBus,
    method: &Method,
    args: &CallArgs,
    registry: Option<Registry>,
    settings: &Settings,
) -> Result<RpcClient, Failure> {
    let mut options = ClientOptions::default().timeout(settings.timeout).wire_mode(args.target.wire_mode());
    if let Some(registry) = registry {
        options = options.registry(registry).check_registry(true);
    }
    Ok(RpcClient::new(method.service.clone(), bus.clone(), options).await?)
}

fn request_options(args: &CallArgs, settings: &Settings) -> RequestOptions {
    let mut options = args.call.request_options(settings.timeout);
    if let Some(server) = &args.server {
        options =
            options.selection(SelectionOptions::default().only_servers([server.clone()]).accept_first_available(true));
    }
    if let Some(key) = &args.sticky {
        options = options.sticky(key.clone());
    }
    if let Some(replies) = args.replies {
        options = options.expected_responses(replies);
    }
    options
}

async fn single_call(
    client: &RpcClient,
    method: &Method,
    args: &CallArgs,
    payload: &RawPayload,
    options: RequestOptions,
    settings: &Settings,
) -> Result<(), Failure> {
    let started = Instant::now();
    let reply = client
        .request_single::<RawPayload, RawPayload>(&method.info, args.target.topics.clone(), payload, options)
        .await?;
    let round_trip = started.elapsed();
    let response = method.decode_response(reply.message.0)?;
    if settings.out.json {
        return settings.out.json(&answer_json(&reply.server_id, round_trip, Ok(response))?);
    }
    settings.out.line(&response)?;
    eprintln!("psrpc: answered by {} in {}", reply.server_id, micros(micros_of(round_trip)));
    Ok(())
}

async fn multi_call(
    client: &RpcClient,
    method: &Method,
    args: &CallArgs,
    registry: Option<&Registry>,
    payload: &RawPayload,
    mut options: RequestOptions,
    settings: &Settings,
) -> Result<(), Failure> {
    let topics = args.target.topics.clone();
    if let (None, Some(registry)) = (args.replies, registry) {
        // End as soon as every live server answered instead of waiting out the timeout.
        let servers = registry.servers_of(&method.service, &method.info.name, &topics);
        if !servers.is_empty() {
            options = options.expected_servers(servers);
        }
    }
    let started = Instant::now();
    let mut answers = client.request_multi::<RawPayload, RawPayload>(&method.info, topics, payload, options).await?;
    let (mut answered, mut failed) = (0, 0);
    while let Some(answer) = answers.next().await {
        let round_trip = started.elapsed();
        answered += 1;
        let result = match answer.result {
            Ok(message) => Ok(method.decode_response(message.0)?),
            Err(error) => {
                failed += 1;
                Err(error)
            }
        };
        if settings.out.json {
            settings.out.json(&answer_json(&answer.server_id, round_trip, result)?)?;
        } else {
            let shown = result.unwrap_or_else(|e| format!("error {}: {}", e.code().as_str(), e.message()));
            settings.out.line(&format!("{}  {}  {shown}", answer.server_id, micros(micros_of(round_trip))))?;
        }
    }
    match (answered, failed) {
        (0, _) => Err(Failure::unavailable("no server answered")),
        (n, f) if n == f => Err(Failure::server(format!("every server answered with an error ({n})"))),
        _ => Ok(()),
    }
}

fn micros_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// `{"server", "round_trip_us", "response"}` or `{…, "error": {"code", "message"}}`.
fn answer_json(
    server: &str,
    round_trip: Duration,
    result: Result<String, psrpc::Error>,
) -> Result<serde_json::Value, Failure> {
    let mut line = serde_json::json!({ "server": server, "round_trip_us": micros_of(round_trip) });
    match result {
        Ok(response) => {
            line["response"] =
                serde_json::from_str(&response).map_err(|e| Failure::input(format!("response to JSON: {e}")))?;
        }
        Err(e) => line["error"] = serde_json::json!({ "code": e.code().as_str(), "message": e.message() }),
    }
    Ok(line)
}
