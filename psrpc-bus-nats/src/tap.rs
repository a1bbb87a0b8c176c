//! Taps: plain NATS subscriptions to every subject of one service, apart
//! from the bus's routers (which keep their one subscription per subject and
//! their queue group; NATS hands a message to every matching subscription of
//! a connection, so neither sees the other).
//!
//! The subjects are `SRV.Svc` (no topics), `SRV.Svc.>` (topics, and the
//! shared `.Q` queue subjects), `SRVQ.Svc.>` (native queue subjects), `SRVS.Svc.>` (native
//! per-server subjects) and
//! `CLI.Svc.>` (the channels of clients and stream nodes).
//!
//! **Order.** NATS keeps the order of a connection's messages, but
//! async-nats hands each subscription its own queue, and merging queues
//! loses the order between them. The merge therefore always takes what
//! the three server-side subscriptions hold before a client-side frame:
//! when a claim or response is taken, every request that reached the
//! connection before it has been taken already. So a call's request always
//! comes before its claims and responses (and a stream frame to a server
//! before its ack); frames on different server-side subjects (a request
//! and its claim response) may swap places, and so may frames of
//! different calls on different subjects.
//!
//! The service is
//! not sanitised in subjects (docs/WIRE.md section 4.1): a service whose
//! name holds a dot (`a.b`) is also seen by a tap of `a`, and
//! [`TapEvent::decode`](psrpc_protocol::tap::TapEvent::decode) then names no
//! method for it.

use futures_util::StreamExt as _;
use futures_util::stream::{PollNext, select_with_strategy};
use psrpc_protocol::bus::BusError;
use psrpc_protocol::tap::{TapFrame, TapSubscription};

use crate::{NatsBus, subject};

impl NatsBus {
    /// Subscribes the tap's subjects, confirms them with a readiness probe,
    /// and forwards their messages until the tap is dropped.
    pub(crate) async fn start_tap(&self, service: &str, capacity: usize) -> Result<TapSubscription, BusError> {
        // Refuses services that would break a subject (whitespace, empty or
        // wildcard tokens, too long) before anything is sent.
        subject::check(&format!(
            "{}CLI.{service}.RES",
            self.namespace().map(|ns| format!("{ns}.")).unwrap_or_default()
        ))?;
        self.check_ready()?;
        // In a namespace every subject starts with `NS.`, which the tap's
        // frames leave out (so that they read as section 4's names).
        let prefix = self.namespace().map(|ns| format!("{ns}.")).unwrap_or_default();
        let subjects = [
            format!("SRV.{service}"),
            format!("SRV.{service}.>"),
            format!("SRVQ.{service}.>"),
            format!("SRVS.{service}.>"),
        ]
        .map(|subject| format!("{prefix}{subject}"));
        let clients_subject = format!("{prefix}CLI.{service}.>");
        let mark = self.mark();
        let mut servers = Vec::with_capacity(subjects.len());
        for subject in &subjects {
            servers.push(self.client().subscribe(subject.clone()).await.map_err(BusError::unavailable)?);
        }
        let clients = self.client().subscribe(clients_subject.clone()).await.map_err(BusError::unavailable)?;
        // On failure (not confirmed, or refused) the subscribers are dropped
        // here, which unsubscribes them.
        let all = [&subjects[0], &subjects[1], &subjects[2], &subjects[3], &clients_subject].map(String::as_str);
        self.confirm_subscriptions(mark, &all).await?;
        let (sender, tap) = TapSubscription::new(capacity);
        let servers = futures_util::stream::select_all(servers);
        let frames = select_with_strategy(servers, clients, |_: &mut ()| PollNext::Left).map(move |message| TapFrame {
            channel: message.subject.as_str().strip_prefix(prefix.as_str()).unwrap_or(&message.subject).into(),
            frame: message.payload,
        });
        tokio::spawn(sender.forward(frames.take_until(self.inner.taps_end.ended())));
        Ok(tap)
    }
}
