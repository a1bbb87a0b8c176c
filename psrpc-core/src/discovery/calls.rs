//! What a client with a registry does around its calls: registry checks,
//! sticky server choice, and failing early when the chosen server is gone.

use std::future::Future;

use super::Registry;
use crate::error::{Error, ErrorCode};
use crate::info::MethodInfo;
use crate::options::{ClientOptions, RequestOptions, SelectionOptions};
use crate::transport::channel::Channel;

/// Where a sticky call goes.
#[derive(Debug)]
pub(crate) struct Sticky {
    /// The selection that accepts the chosen server's claim only.
    pub(crate) selection: SelectionOptions,
    /// The channel the request goes to instead of the method's own (queue
    /// methods, see [`sticky_channel`](super::wire::sticky_channel)).
    pub(crate) channel: Option<Channel>,
}

/// Checks a call against the registry (when the client asks for it) and
/// resolves its sticky key (when it has one), before anything is published.
pub(crate) fn before_call(
    client: &ClientOptions,
    service: &str,
    method: &MethodInfo,
    topics: &[String],
    options: Option<&RequestOptions>,
) -> Result<Option<Sticky>, Error> {
    if client.check_registry {
        registry(client, "ClientOptions::check_registry")?.check(service, method, topics)?;
    }
    let Some(key) = options.and_then(|o| o.sticky.as_deref()) else { return Ok(None) };
    let registry = registry(client, "RequestOptions::sticky")?;
    let servers = registry.servers_of(service, &method.name, topics);
    let Some(server) = super::sticky_server(key, &servers) else {
        let message = format!("sticky call: no live server of {service} serves {} on topics {topics:?}", method.name);
        return Err(Error::new(ErrorCode::Unavailable, message));
    };
    let selection = SelectionOptions::first_available(client.selection_timeout).only_servers([server]);
    let unary_queue = method.queue() && !method.kind.is_stream();
    let channel = unary_queue.then(|| super::wire::sticky_channel(service, &method.name, topics));
    Ok(Some(Sticky { selection, channel }))
}

fn registry<'a>(client: &'a ClientOptions, feature: &str) -> Result<&'a Registry, Error> {
    client.registry.as_ref().ok_or_else(|| {
        Error::new(ErrorCode::InvalidArgument, format!("{feature} needs a registry (ClientOptions::registry)"))
    })
}

/// Runs `call`, failing it with `unavailable` once the server `chosen`
/// resolves to stops heartbeating (when the client has a registry).
pub(crate) async fn unless_gone<T>(
    client: &ClientOptions,
    chosen: impl Future<Output = Option<String>>,
    call: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some(registry) = &client.registry else { return call.await };
    let gone = async {
        match chosen.await {
            Some(server) => registry.gone(&server).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        outcome = call => outcome,
        error = gone => Err(error),
    }
}
