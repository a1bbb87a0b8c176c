//! `psrpc stream`: JSON lines from stdin go out on a stream, what comes
//! back is printed; Ctrl-C or SIGTERM closes the stream before exiting.

use std::time::Duration;

use clap::Args;
use psrpc::{ClientOptions, RawPayload, RpcClient};
use tokio::io::AsyncBufReadExt as _;

use crate::Settings;
use crate::args::{CallOptions, Target, parse_duration};
use crate::bus::Connection;
use crate::exit::Failure;
use crate::out::Out;
use crate::proto::Method;

/// `psrpc stream` arguments.
#[derive(Debug, Args)]
pub(crate) struct StreamArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    call: CallOptions,
    /// After stdin ends, how long to wait for more messages before closing.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    linger: Duration,
}

/// Runs `psrpc stream`.
pub(crate) async fn run(connection: &Connection, args: StreamArgs, settings: &Settings) -> Result<(), Failure> {
    let method = Method::load(&args.target.method, &args.target.proto)?;
    let name = format!("{}.{}", method.service, method.info.name);
    if !method.info.kind.is_stream() {
        let tool = if method.info.kind.is_subscription() { "sub" } else { "call" };
        return Err(Failure::usage(format!("{name} is not a stream: use `psrpc {tool} {name}`")));
    }
    crate::args::check_topics(&name, &method.info, &args.target.topics)?;
    let bus = connection.get().await?;
    let mut options = ClientOptions::default().timeout(settings.timeout).wire_mode(args.target.wire_mode());
    if !args.call.no_check {
        options = options.registry(crate::discovery::registry(bus, settings.wait).await?).check_registry(true);
    }
    let client = RpcClient::new(method.service.clone(), bus.clone(), options).await?;
    let stream = client
        .open_stream::<RawPayload, RawPayload>(
            &method.info,
            args.target.topics.clone(),
            args.call.request_options(settings.timeout),
        )
        .await?;
    relay(&method, stream, args.linger, settings.out).await
}

/// Sends each JSON line of stdin, prints each received message; closes the
/// stream once stdin ended and nothing arrived for `linger`, or at once on
/// Ctrl-C or SIGTERM (then fails with exit code 130).
async fn relay(
    method: &Method,
    stream: psrpc::ClientStream<RawPayload, RawPayload>,
    linger: Duration,
    out: Out,
) -> Result<(), Failure> {
    let (sender, mut receiver) = stream.split();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let interrupted = interrupted();
    tokio::pin!(interrupted);
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
            signal = &mut interrupted => {
                sender.close(None).await?;
                return Err(Failure::interrupted(signal));
            }
        }
    }
}

/// Resolves with the signal's name on Ctrl-C (SIGINT) or SIGTERM.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
