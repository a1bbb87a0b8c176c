//! The local subscribers of one channel, for buses whose connection reader
//! fans frames out to them (NATS, Redis).
//!
//! Frames are always delivered outside the lock: a subscriber may take a
//! frame inline ([`Subscription::run_inline`](crate::bus::Subscription::run_inline))
//! and run code that subscribes or unsubscribes on the same channel.

use bytes::Bytes;
use parking_lot::Mutex;

use crate::bus::{DeliveryOutcome, SubscriptionSender};

/// The subscribers of one channel: plain members get every frame, queue
/// members take turns (round robin). See
/// [`MessageBus`](crate::bus::MessageBus) for a bus built on it.
///
/// ```
/// use psrpc_protocol::bus::Subscription;
/// use psrpc_protocol::members::ChannelMembers;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let queue = ChannelMembers::default();
/// let (a_tx, mut a) = Subscription::new(8, || {});
/// let (b_tx, mut b) = Subscription::new(8, || {});
/// queue.join(a_tx);
/// queue.join(b_tx);
/// for frame in ["1", "2"] {
///     assert!(queue.deliver_to_one(&frame.into()));
/// }
/// assert_eq!(a.recv().await.unwrap().unwrap(), "1");
/// assert_eq!(b.recv().await.unwrap().unwrap(), "2");
/// # }
/// ```
#[derive(Debug, Default)]
pub struct ChannelMembers(Mutex<Members>);

#[derive(Debug, Default)]
struct Members {
    senders: Vec<SubscriptionSender>,
    next: usize,
}

impl ChannelMembers {
    /// Adds a subscriber.
    ///
    /// ```
    /// use psrpc_protocol::bus::Subscription;
    /// use psrpc_protocol::members::ChannelMembers;
    /// let members = ChannelMembers::default();
    /// let (sender, _subscription) = Subscription::new(8, || {});
    /// members.join(sender);
    /// assert!(!members.is_empty());
    /// ```
    pub fn join(&self, sender: SubscriptionSender) {
        self.0.lock().senders.push(sender);
    }

    /// Forgets subscribers that have unsubscribed; true if none is left
    /// (the bus can then drop the channel's broker subscription).
    ///
    /// ```
    /// use psrpc_protocol::bus::Subscription;
    /// use psrpc_protocol::members::ChannelMembers;
    /// let members = ChannelMembers::default();
    /// let (sender, subscription) = Subscription::new(8, || {});
    /// members.join(sender);
    /// assert!(!members.forget_closed());
    /// drop(subscription);
    /// assert!(members.forget_closed());
    /// ```
    pub fn forget_closed(&self) -> bool {
        let mut members = self.0.lock();
        members.senders.retain(|s| !s.is_closed());
        members.senders.is_empty()
    }

    /// Whether there is no subscriber.
    ///
    /// ```
    /// assert!(psrpc_protocol::members::ChannelMembers::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.lock().senders.is_empty()
    }

    /// Delivers `frame` to every subscriber (never waiting on one).
    ///
    /// ```
    /// use psrpc_protocol::bus::Subscription;
    /// use psrpc_protocol::members::ChannelMembers;
    /// let members = ChannelMembers::default();
    /// let (a_tx, a) = Subscription::new(8, || {});
    /// let (b_tx, b) = Subscription::new(8, || {});
    /// members.join(a_tx);
    /// members.join(b_tx);
    /// members.deliver_to_all(&"news".into());
    /// assert_eq!((a.buffered(), b.buffered()), (1, 1));
    /// ```
    pub fn deliver_to_all(&self, frame: &Bytes) {
        // Delivered outside the lock (a delivery may hand the frame over to
        // code that joins or leaves); a lone subscriber is taken without
        // copying the list.
        let (first, rest): (Option<SubscriptionSender>, Vec<SubscriptionSender>) = {
            let members = self.0.lock();
            (members.senders.first().cloned(), members.senders.iter().skip(1).cloned().collect())
        };
        let senders = first.iter().chain(&rest);
        let closed = senders.filter(|s| s.try_deliver(frame.clone()) == DeliveryOutcome::Closed).count();
        if closed > 0 {
            self.forget_closed();
        }
    }

    /// Delivers `frame` to the subscriber whose turn it is; one that has gone
    /// is forgotten and the next one tried. False if nobody took it.
    ///
    /// ```
    /// use psrpc_protocol::bus::Subscription;
    /// use psrpc_protocol::members::ChannelMembers;
    /// let members = ChannelMembers::default();
    /// assert!(!members.deliver_to_one(&"job".into()), "nobody to take it");
    /// let (gone_tx, gone) = Subscription::new(8, || {});
    /// let (live_tx, live) = Subscription::new(8, || {});
    /// members.join(gone_tx);
    /// members.join(live_tx);
    /// drop(gone);
    /// assert!(members.deliver_to_one(&"job".into()));
    /// assert_eq!(live.buffered(), 1);
    /// ```
    pub fn deliver_to_one(&self, frame: &Bytes) -> bool {
        loop {
            let Some(member) = self.next_in_turn() else { return false };
            if member.try_deliver(frame.clone()) != DeliveryOutcome::Closed {
                return true;
            }
            let mut members = self.0.lock();
            members.senders.retain(|s| !s.is_closed());
            // The next member has moved into the gone one's place: its turn now.
            members.next = members.next.saturating_sub(1);
        }
    }

    fn next_in_turn(&self) -> Option<SubscriptionSender> {
        let mut members = self.0.lock();
        if members.senders.is_empty() {
            return None;
        }
        let index = members.next % members.senders.len();
        members.next = index + 1;
        Some(members.senders[index].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Subscription;
    use std::future::Future as _;
    use std::sync::Arc;

    #[tokio::test]
    async fn queue_members_take_turns_and_gone_members_are_skipped() {
        let members = ChannelMembers::default();
        let (a_tx, mut a) = Subscription::new(8, || {});
        let (b_tx, b) = Subscription::new(8, || {});
        let (c_tx, mut c) = Subscription::new(8, || {});
        members.join(a_tx);
        members.join(b_tx);
        members.join(c_tx);
        drop(b);
        let frames: Vec<Bytes> = (0..4).map(|i| Bytes::from(vec![i])).collect();
        assert!(frames.iter().all(|f| members.deliver_to_one(f)), "no frame lost to the gone member");
        assert_eq!(a.recv().await.unwrap().unwrap(), frames[0]);
        assert_eq!(c.recv().await.unwrap().unwrap(), frames[1], "b had gone: c took its turn");
        assert_eq!(a.recv().await.unwrap().unwrap(), frames[2]);
        assert_eq!(c.recv().await.unwrap().unwrap(), frames[3]);
        drop((a, c));
        assert!(!members.deliver_to_one(&frames[0]));
        assert!(members.is_empty());
    }

    #[test]
    fn inline_members_may_join_the_same_channel_while_taking_a_frame() {
        let members = Arc::new(ChannelMembers::default());
        let (tx, sub) = Subscription::new(1, || {});
        members.join(tx);
        let inner = Arc::clone(&members);
        let (seen_tx, seen) = std::sync::mpsc::channel();
        let mut running = Box::pin(sub.run_inline(move |frame| {
            // Joining takes the members' lock: a delivery holding it would deadlock.
            let (late_tx, _late) = Subscription::new(1, || {});
            inner.join(late_tx);
            seen_tx.send(frame).unwrap();
        }));
        // The first poll installs the inline handler.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(running.as_mut().poll(&mut cx).is_pending());
        let delivering = std::thread::spawn(move || members.deliver_to_all(&Bytes::from_static(b"x")));
        let frame = seen.recv_timeout(std::time::Duration::from_secs(5)).expect("delivered without deadlock");
        assert_eq!(frame, Bytes::from_static(b"x"));
        delivering.join().unwrap();
    }
}
