//! `psrpc sub`: prints the messages of a subscription method.

use clap::Args;
use psrpc::{ClientOptions, MethodKind, RawPayload, RpcClient};

use crate::args::Target;
use crate::bus::Connection;
use crate::exit::Failure;
use crate::out::Out;
use crate::proto::Method;

/// `psrpc sub` arguments.
#[derive(Debug, Args)]
pub(crate) struct SubArgs {
    #[command(flatten)]
    target: Target,
    /// Exit after this many messages.
    #[arg(long)]
    count: Option<usize>,
    /// Join a queue subscription's queue and so take messages away from its
    /// other subscribers (by default `sub` only watches: every subscriber
    /// still gets what it would get without it).
    #[arg(long)]
    queue: bool,
}

/// Runs `psrpc sub`: says `psrpc: subscribed to SERVICE.METHOD` on stderr
/// once messages can arrive, then prints each as a JSON line.
pub(crate) async fn run(connection: &Connection, args: SubArgs, out: &Out) -> Result<(), Failure> {
    let method = Method::load(&args.target.method, &args.target.proto)?;
    let name = format!("{}.{}", method.service, method.info.name);
    if !matches!(method.info.kind, MethodKind::Subscription { .. }) {
        let tool = if method.info.kind.is_stream() { "stream" } else { "call" };
        return Err(Failure::usage(format!("{name} is not a subscription: use `psrpc {tool} {name}`")));
    }
    crate::args::check_topics(&name, &method.info, &args.target.topics)?;
    let options = ClientOptions::default().wire_mode(args.target.wire_mode());
    let client = RpcClient::new(method.service.clone(), connection.get().await?.clone(), options).await?;
    let topics = args.target.topics.clone();
    let mut messages = match args.queue {
        true => client.subscribe::<RawPayload>(&method.info, topics).await?,
        false => client.observe::<RawPayload>(&method.info, topics).await?,
    };
    eprintln!("psrpc: subscribed to {name}");
    let mut seen = 0;
    while args.count.is_none_or(|c| seen < c) {
        let Some(message) = messages.recv().await else { break };
        out.line(&method.decode_response(message.0)?)?;
        seen += 1;
    }
    Ok(())
}
