//! Delivering one published frame to a channel's subscribers: every plain
//! member, then one queue member, taking turns.
//!
//! Decision: a publish whose subscribers all take the frame at once (their
//! buffers have room, or they take frames inline: the usual case) is done
//! inside `publish`, which then returns the zero-sized
//! [`Published`](psrpc_protocol::bus::Published) future, so boxing it
//! allocates nothing. A publish that meets a full buffer goes on from that
//! member in a future of its own, waiting for room up to the bus's overflow
//! wait. Either way the members get the frame in the same order.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use psrpc_protocol::bus::DeliveryOutcome;
use tokio::time::Instant;

use super::{Member, Subscribers};

/// Where a publish met a full buffer.
#[derive(Debug)]
enum Stop {
    /// At the plain member of that index.
    Plain(usize),
    /// At the queue member `tried` places after the turn's first, `start`.
    Queue { start: usize, tried: usize },
}

/// What is left of a publish that met a full buffer.
#[derive(Debug)]
pub(crate) struct Rest {
    subscribers: Arc<Subscribers>,
    frame: Bytes,
    stop: Stop,
}

/// Delivers `frame` as far as that needs no wait; what is left, if a
/// buffer was full.
pub(crate) fn at_once(subscribers: Arc<Subscribers>, frame: Bytes) -> Option<Rest> {
    let full = |member: &Member| member.sender.try_deliver_or_return(frame.clone()).is_err();
    let stop = match subscribers.plain.iter().position(full) {
        Some(at) => Stop::Plain(at),
        None => queue_at_once(&subscribers, &frame)?,
    };
    Some(Rest { subscribers, frame, stop })
}

/// Delivers `frame` to one queue member, taking the next turn, as far as
/// that needs no wait; where it stopped, if at a full buffer.
fn queue_at_once(subscribers: &Subscribers, frame: &Bytes) -> Option<Stop> {
    let start = subscribers.take_queue_turn()?;
    let members = &subscribers.queue;
    for tried in 0..members.len() {
        match members[(start + tried) % members.len()].sender.try_deliver_or_return(frame.clone()) {
            // Gone meanwhile: the turn passes to the next.
            Ok(DeliveryOutcome::Closed) => {}
            Ok(_) => return None,
            Err(_) => return Some(Stop::Queue { start, tried }),
        }
    }
    None
}

impl Rest {
    /// Delivers the rest, waiting at most `wait` in all for room in full
    /// buffers (a frame that finds none is dropped for that member).
    pub(crate) async fn finish(self, wait: Duration) {
        let Rest { subscribers, frame, stop } = self;
        let mut deadline = OverflowDeadline::new(wait);
        let (start, from) = match stop {
            Stop::Plain(at) => {
                for member in subscribers.plain.iter().skip(at) {
                    deliver(member, frame.clone(), &mut deadline).await;
                }
                match subscribers.take_queue_turn() {
                    Some(start) => (start, 0),
                    None => return,
                }
            }
            Stop::Queue { start, tried } => (start, tried),
        };
        // A member that went away meanwhile passes its turn to the next.
        let members = &subscribers.queue;
        for tried in from..members.len() {
            let member = &members[(start + tried) % members.len()];
            if deliver(member, frame.clone(), &mut deadline).await != DeliveryOutcome::Closed {
                return;
            }
        }
    }
}

/// Delivers to one member: at once when its buffer has room (or it takes
/// frames inline), else waiting for room until the publish's deadline.
async fn deliver(member: &Member, frame: Bytes, deadline: &mut OverflowDeadline) -> DeliveryOutcome {
    match member.sender.try_deliver_or_return(frame) {
        Ok(delivery) => delivery,
        Err(frame) => member.sender.deliver(frame, deadline.remaining()).await,
    }
}

/// When one publish stops waiting for full buffers: read from the clock
/// only once a buffer is found full.
struct OverflowDeadline {
    wait: Duration,
    at: Option<Instant>,
}

impl OverflowDeadline {
    fn new(wait: Duration) -> Self {
        OverflowDeadline { wait, at: None }
    }

    /// What is left of the publish's wait; a wait too long to represent
    /// (e.g. `Duration::MAX`) waits about a year.
    fn remaining(&mut self) -> Duration {
        let wait = self.wait;
        let at = *self.at.get_or_insert_with(|| {
            let now = Instant::now();
            now.checked_add(wait).unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
        });
        at.saturating_duration_since(Instant::now())
    }
}
