//! Sampled claims (the native wire mode): a claimed call asks a few of the
//! method's servers, not all of them, so what a call costs on the bus does
//! not grow with the fleet.
//!
//! In the Go-compatible mode an AFFINITY request goes to every server of
//! the method, every server claims it, and the client's decision goes to
//! every server again: `3n + 1` bus deliveries for `n` servers (`n + 3` publishes). In the
//! native mode each server also takes the method's claimed requests sent
//! to it alone, on channels of its own
//! ([`native_server_channels`](crate::transport::channel::native_server_channels)),
//! and says so in its discovery reports. A client with a
//! [registry](crate::options::ClientOptions::registry) then publishes the
//! request to `d` of those servers
//! ([`ClientOptions::claim_candidates`](crate::options::ClientOptions::claim_candidates),
//! default [`DEFAULT_CLAIM_CANDIDATES`](crate::options::DEFAULT_CLAIM_CANDIDATES)),
//! drawn uniformly at random among the live, non-draining servers that
//! serve the method on the call's topics, and sends its decision to those
//! candidates only: `3d + 1` deliveries whatever the fleet's size.
//!
//! Decisions:
//!
//! - **Who is asked.** A call naming its servers
//!   ([`SelectionOptions::only_servers`](crate::options::SelectionOptions::only_servers),
//!   sticky calls) asks exactly those, when the registry knows each of them
//!   as a native server; otherwise it asks everyone. A call that names none
//!   asks a uniform sample of `d` (all of them when there are no more than
//!   `d`): the power of `d` choices, with the selection picking the best
//!   claim among them.
//! - **When everyone is asked instead.** With no registry, `d = 0`, or no
//!   live native server of the method on the call's topics in the registry
//!   (empty, not synced yet, or every server gone silent for two heartbeat
//!   intervals), the request goes to every server as in the Go-compatible
//!   mode.
//! - **Widening.** Candidates may have died since the registry last heard of
//!   them, or none may qualify (minimum affinity, a negative affinity).
//!   When no qualifying claim arrived by the candidate window
//!   ([`ClientOptions::candidate_window`](crate::options::ClientOptions::candidate_window),
//!   capped at half the selection timeout and at half the call's time), or
//!   every candidate claimed and
//!   none qualified, the same request (same id) goes to every server, the
//!   decision then goes to every server too, and the selection goes on
//!   until its own timeout. A candidate may then see the request twice; it
//!   claims it again under the same id and still runs it at most once.
//! - **Ending early.** Once every candidate claimed, no other claim can
//!   come: the selection ends at once with the best of them, instead of
//!   waiting for its short circuit or timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use rand::seq::index;
use tokio::time::Instant;

use super::engine::ClientInner;
use super::targets::CallTarget;
use crate::discovery::Registry;
use crate::error::Error;
use crate::info::RpcInfo;
use crate::options::SelectionOptions;
use crate::outbound;
use crate::transport::bus::{MessageBus, SharedBus};
use crate::transport::channel::{self, Channel};
use crate::transport::envelope::{ClaimResponse, Request};
use crate::transport::frame;

/// One native server of a method, with its own channels for it.
#[derive(Clone, Debug)]
pub(crate) struct Direct {
    server_id: String,
    request: Channel,
    claim: Channel,
}

/// The native servers of one call target, as read from the registry at one
/// version, kept until the registry changes.
#[derive(Debug, Default)]
pub(crate) struct KnownServers(Mutex<Option<(u64, Arc<[Direct]>)>>);

impl KnownServers {
    /// The native servers of `info`'s method on its topics, per `registry`.
    fn current(&self, registry: &Registry, info: &RpcInfo) -> Arc<[Direct]> {
        let version = registry.version();
        if let Some((seen, servers)) = &*self.0.lock()
            && *seen == version
        {
            return Arc::clone(servers);
        }
        let ids = registry.direct_servers_of(&info.service, &info.method, &info.topics);
        let servers: Arc<[Direct]> = ids
            .into_iter()
            .map(|server_id| {
                let (request, claim) =
                    channel::native_server_channels(&info.service, &info.method, &info.topics, &server_id);
                Direct { server_id, request, claim }
            })
            .collect();
        *self.0.lock() = Some((version, Arc::clone(&servers)));
        servers
    }
}

/// One call's candidates: where its request went and its decision goes.
#[derive(Debug)]
pub(crate) struct Sampled {
    bus: SharedBus,
    asked: Vec<Direct>,
    /// The method's request and claim-response channels, every server's.
    everyone: Channel,
    everyone_claims: Channel,
    /// The request, kept to widen the call.
    request: Request,
    /// When a call with no qualifying claim widens to every server.
    widen_at: Instant,
    widened: AtomicBool,
}

impl Sampled {
    /// The candidates of a call of `target` with `selection`, or `None` when
    /// the call asks every server (see the [module docs](self)).
    pub(crate) fn plan(
        client: &ClientInner,
        target: &CallTarget,
        selection: &SelectionOptions,
        request: Request,
        deadline: Instant,
    ) -> Option<Arc<Sampled>> {
        let d = client.options.claim_candidates;
        let registry = client.options.registry.as_ref().filter(|_| d > 0)?;
        let known = target.known_servers.current(registry, &target.info);
        let asked: Vec<Direct> = match &selection.only_servers {
            Some(named) => {
                let found = |id: &String| known.iter().find(|s| s.server_id == *id).cloned();
                named.iter().map(found).collect::<Option<Vec<Direct>>>()?
            }
            None if known.len() <= d => known.to_vec(),
            None => index::sample(&mut rand::rng(), known.len(), d).into_iter().map(|i| known[i].clone()).collect(),
        };
        if asked.is_empty() {
            return None;
        }
        let selecting = selection.affinity_timeout.min(deadline.saturating_duration_since(Instant::now()));
        let window = client.options.candidate_window.min(selecting / 2);
        Some(Arc::new(Sampled {
            bus: Arc::clone(&client.bus),
            asked,
            everyone: target.request.clone(),
            everyone_claims: target.claim_response.clone(),
            request,
            widen_at: crate::deadline::after(window),
            widened: AtomicBool::new(false),
        }))
    }

    /// Publishes the request to every candidate.
    pub(crate) async fn publish_request(&self) -> Result<(), Error> {
        let asked = self.asked.iter().map(|s| &s.request);
        publish_to(&*self.bus, asked, &self.request).await
    }

    /// Publishes the call's decision: to the candidates, or to every server
    /// once the call widened.
    pub(crate) async fn publish_decision(&self, decision: &ClaimResponse) -> Result<(), Error> {
        match self.widened.load(Ordering::Acquire) {
            true => outbound::publish(&*self.bus, &self.everyone_claims, decision).await,
            false => publish_to(&*self.bus, self.asked.iter().map(|s| &s.claim), decision).await,
        }
    }

    /// How many claims can come at most (none known once widened).
    pub(crate) fn expected_claims(&self) -> Option<usize> {
        (!self.widened.load(Ordering::Acquire)).then_some(self.asked.len())
    }

    /// When the call widens if no claim qualified by then (none once widened).
    pub(crate) fn widen_at(&self) -> Option<Instant> {
        (!self.widened.load(Ordering::Acquire)).then_some(self.widen_at)
    }

    /// Publishes the request to every server; the decision goes to every
    /// server from now on.
    pub(crate) async fn widen(&self) -> Result<(), Error> {
        if self.widened.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        tracing::debug!(request = %self.request.request_id, "psrpc client: no candidate claimed, asking every server");
        outbound::publish(&*self.bus, &self.everyone, &self.request).await
    }
}

/// Publishes `message` on each of `channels`, encoded once: they share
/// their Local name.
async fn publish_to<'a, E: frame::Envelope>(
    bus: &dyn MessageBus,
    mut channels: impl Iterator<Item = &'a Channel>,
    message: &E,
) -> Result<(), Error> {
    let Some(first) = channels.next() else { return Ok(()) };
    let encoded = frame::encode_envelope(message, outbound::local_name(bus, first));
    outbound::publish_frame(bus, E::WHAT, first, encoded.clone()).await?;
    for channel in channels {
        outbound::publish_frame(bus, E::WHAT, channel, encoded.clone()).await?;
    }
    Ok(())
}
