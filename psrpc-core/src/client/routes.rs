//! The client's routing tables: which waiting call gets a received envelope.
//!
//! Each pending call owns a [`RouteGuard`]; dropping it (the call finished,
//! failed, or its future was dropped) removes its routes. Closing the client
//! clears every table, so every waiting call wakes up with `None`.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::transport::envelope::{ClaimRequest, Response, Stream};

const SHARDS: usize = 16;

/// Where a routed item goes.
pub(crate) trait Route<T>: Sized {
    /// The route an item for `id` goes through, out of `routes` (a locked
    /// shard): a clone of the route, so the item is handed over unlocked;
    /// a route that takes one item only leaves the table instead.
    fn for_item(routes: &mut HashMap<Arc<str>, Self>, id: &str) -> Option<Self>;

    /// Takes `item`; false if it was dropped (the receiver is full or gone).
    fn take(self, item: T) -> bool;
}

impl<T> Route<T> for mpsc::Sender<T> {
    fn for_item(routes: &mut HashMap<Arc<str>, Self>, id: &str) -> Option<Self> {
        routes.get(id).cloned()
    }

    fn take(self, item: T) -> bool {
        self.try_send(item).is_ok()
    }
}

/// Where a call's responses go.
///
/// Decision: a call that takes no claim waits for one response, so its
/// route is a one-slot channel (one allocation; an mpsc channel costs two),
/// which the response takes out of the table. Calls that take claims may
/// see responses before they chose a server, so theirs is a channel.
#[derive(Debug)]
pub(crate) enum ResponseRoute {
    /// Every response; once the call chose its server (`chosen` is set),
    /// responses naming another server are dropped here, where they arrive,
    /// so that forged responses cannot fill the call's channel ahead of the
    /// real one (see `first_claim::from_chosen`).
    Channel { tx: mpsc::Sender<Response>, chosen: Option<Arc<OnceLock<String>>> },
    /// The first response.
    Once(oneshot::Sender<Response>),
}

impl ResponseRoute {
    /// A route taking every response.
    #[cfg(test)]
    pub(crate) fn any(tx: mpsc::Sender<Response>) -> Self {
        ResponseRoute::Channel { tx, chosen: None }
    }
}

impl Route<Response> for ResponseRoute {
    fn for_item(routes: &mut HashMap<Arc<str>, Self>, id: &str) -> Option<Self> {
        match routes.get(id)? {
            ResponseRoute::Channel { tx, chosen } => {
                Some(ResponseRoute::Channel { tx: tx.clone(), chosen: chosen.clone() })
            }
            ResponseRoute::Once(_) => routes.remove(id),
        }
    }

    fn take(self, response: Response) -> bool {
        match self {
            ResponseRoute::Channel { tx, chosen } => {
                let chosen = chosen.as_ref().and_then(|c| c.get()).map(String::as_str);
                super::first_claim::from_chosen(chosen, &response) && tx.try_send(response).is_ok()
            }
            ResponseRoute::Once(tx) => tx.send(response).is_ok(),
        }
    }
}

/// Where a call's responses come in: the receiving end of its
/// [`ResponseRoute`].
#[derive(Debug)]
pub(crate) enum Responses {
    /// From a channel route.
    Channel(mpsc::Receiver<Response>),
    /// From a one-slot route, until its response is taken.
    Once(Option<oneshot::Receiver<Response>>),
}

impl Responses {
    /// The next response; `None` once no more can come (the route is gone,
    /// or its one response was taken).
    pub(crate) async fn recv(&mut self) -> Option<Response> {
        match self {
            Responses::Channel(rx) => rx.recv().await,
            Responses::Once(slot) => {
                let response = slot.as_mut()?.await.ok();
                *slot = None;
                response
            }
        }
    }
}

/// A selection decided where the claims arrive, on the dispatcher (see
/// `first_claim`).
pub(crate) trait ClaimDecider: Send + Sync + std::fmt::Debug {
    /// Takes one claim for the call.
    fn take(&self, claim: ClaimRequest);
}

/// Where a call's claims go: to the call's own selection, or decided at
/// once on the dispatcher (first qualifying claim wins).
#[derive(Clone, Debug)]
pub(crate) enum ClaimRoute {
    /// The call selects among the claims it receives.
    Channel(mpsc::Sender<ClaimRequest>),
    /// The claims are decided where they arrive.
    Decided(Arc<dyn ClaimDecider>),
}

impl Route<ClaimRequest> for ClaimRoute {
    fn for_item(routes: &mut HashMap<Arc<str>, Self>, id: &str) -> Option<Self> {
        routes.get(id).cloned()
    }

    fn take(self, claim: ClaimRequest) -> bool {
        match self {
            ClaimRoute::Channel(tx) => tx.take(claim),
            ClaimRoute::Decided(decider) => {
                decider.take(claim);
                true
            }
        }
    }
}

/// A map from ids to routes, sharded to keep lock contention low.
#[derive(Debug)]
pub(crate) struct Table<T, R = mpsc::Sender<T>> {
    shards: [Mutex<HashMap<Arc<str>, R>>; SHARDS],
    hasher: std::collections::hash_map::RandomState,
    items: std::marker::PhantomData<fn(T)>,
}

impl<T, R> Default for Table<T, R> {
    fn default() -> Self {
        Table {
            shards: std::array::from_fn(|_| Mutex::default()),
            hasher: Default::default(),
            items: Default::default(),
        }
    }
}

impl<T, R: Route<T>> Table<T, R> {
    fn shard(&self, id: &str) -> &Mutex<HashMap<Arc<str>, R>> {
        &self.shards[shard_index(&self.hasher, id)]
    }

    pub(crate) fn insert(&self, id: Arc<str>, sender: R) {
        self.shard(&id).lock().insert(id, sender);
    }

    pub(crate) fn remove(&self, id: &str) {
        self.shard(id).lock().remove(id);
    }

    /// Routes `item` to the call waiting on `id`; a full or missing route drops it.
    pub(crate) fn route(&self, id: &str, item: T) -> bool {
        let route = R::for_item(&mut self.shard(id).lock(), id);
        route.is_some_and(|route| route.take(item))
    }

    /// Drops every route: waiting calls see their channel closed.
    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            shard.lock().clear();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

fn shard_index(hasher: &impl BuildHasher, id: &(impl Hash + ?Sized)) -> usize {
    (hasher.hash_one(id) as usize) % SHARDS
}

/// The three tables of a client.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    pub(crate) responses: Table<Response, ResponseRoute>,
    pub(crate) claims: Table<ClaimRequest, ClaimRoute>,
    pub(crate) streams: Table<Stream>,
}

impl Routes {
    pub(crate) fn clear(&self) {
        self.responses.clear();
        self.claims.clear();
        self.streams.clear();
    }

    /// Number of live routes (for tests and leak checks).
    pub(crate) fn len(&self) -> usize {
        self.responses.len() + self.claims.len() + self.streams.len()
    }
}

/// Which table a guard cleans up.
#[derive(Clone, Copy, Debug)]
enum RouteKind {
    Response,
    Claim,
    Stream,
}

impl RouteKind {
    const ALL: [RouteKind; 3] = [RouteKind::Response, RouteKind::Claim, RouteKind::Stream];
}

/// Removes a call's routes when dropped. A call has at most one route of
/// each kind; the guard and the tables share the call's id.
#[derive(Debug)]
pub(crate) struct RouteGuard {
    routes: Arc<Routes>,
    /// The id of the route of each kind, by `RouteKind`.
    entries: [Option<Arc<str>>; 3],
}

impl RouteGuard {
    pub(crate) fn new(routes: Arc<Routes>) -> Self {
        RouteGuard { routes, entries: Default::default() }
    }

    /// Records the route of `kind` for `id` (removing one the call had of
    /// that kind) and returns the id to insert.
    fn enter(&mut self, kind: RouteKind, id: &Arc<str>) -> Arc<str> {
        self.leave(kind);
        self.entries[kind as usize] = Some(Arc::clone(id));
        Arc::clone(id)
    }

    /// Removes the route of `kind`, if any.
    fn leave(&mut self, kind: RouteKind) {
        let Some(id) = self.entries[kind as usize].take() else { return };
        match kind {
            RouteKind::Response => self.routes.responses.remove(&id),
            RouteKind::Claim => self.routes.claims.remove(&id),
            RouteKind::Stream => self.routes.streams.remove(&id),
        }
    }

    /// Routes every response for `id` to the returned receiver.
    pub(crate) fn response(&mut self, id: &Arc<str>, capacity: usize) -> mpsc::Receiver<Response> {
        self.channel_response(id, capacity, None)
    }

    /// Routes the responses for `id` to the returned receiver; once
    /// `chosen` is set, only those from that server.
    pub(crate) fn response_from(
        &mut self,
        id: &Arc<str>,
        capacity: usize,
        chosen: Option<Arc<OnceLock<String>>>,
    ) -> Responses {
        Responses::Channel(self.channel_response(id, capacity, chosen))
    }

    /// Routes the first response for `id` to the returned receiver.
    pub(crate) fn one_response(&mut self, id: &Arc<str>) -> Responses {
        let (tx, rx) = oneshot::channel();
        let id = self.enter(RouteKind::Response, id);
        self.routes.responses.insert(id, ResponseRoute::Once(tx));
        Responses::Once(Some(rx))
    }

    fn channel_response(
        &mut self,
        id: &Arc<str>,
        capacity: usize,
        chosen: Option<Arc<OnceLock<String>>>,
    ) -> mpsc::Receiver<Response> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let id = self.enter(RouteKind::Response, id);
        self.routes.responses.insert(id, ResponseRoute::Channel { tx, chosen });
        rx
    }

    pub(crate) fn claim(&mut self, id: &Arc<str>, capacity: usize) -> mpsc::Receiver<ClaimRequest> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let id = self.enter(RouteKind::Claim, id);
        self.routes.claims.insert(id, ClaimRoute::Channel(tx));
        rx
    }

    /// Routes the claims for `id` to `decider`, which decides on the dispatcher.
    pub(crate) fn decided_claims(&mut self, id: &Arc<str>, decider: Arc<dyn ClaimDecider>) {
        let id = self.enter(RouteKind::Claim, id);
        self.routes.claims.insert(id, ClaimRoute::Decided(decider));
    }

    pub(crate) fn stream(&mut self, id: &Arc<str>, capacity: usize) -> mpsc::Receiver<Stream> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let id = self.enter(RouteKind::Stream, id);
        self.routes.streams.insert(id, tx);
        rx
    }

    /// Removes the claim route early (selection is over).
    pub(crate) fn release_claims(&mut self) {
        self.leave(RouteKind::Claim);
    }
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        for kind in RouteKind::ALL {
            self.leave(kind);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_removes_its_routes_of_every_kind_and_its_claims_on_release() {
        let routes = Arc::new(Routes::default());
        let mut guard = RouteGuard::new(Arc::clone(&routes));
        let _responses = guard.response(&"REQ_a".into(), 1);
        let _claims = guard.claim(&"REQ_a".into(), 1);
        let _frames = guard.stream(&"STR_a".into(), 1);
        assert_eq!(routes.len(), 3);
        guard.release_claims();
        assert!(!routes.claims.route("REQ_a", ClaimRequest::default()), "claims released");
        assert_eq!(routes.len(), 2);
        let _again = guard.stream(&"STR_b".into(), 1);
        assert_eq!(routes.len(), 2, "a second stream route replaces the first");
        assert!(routes.streams.route("STR_b", Stream::default()));
        drop(guard);
        assert_eq!(routes.len(), 0);
    }

    #[test]
    fn responses_from_other_servers_never_fill_a_route_once_a_server_is_chosen() {
        let routes = Arc::new(Routes::default());
        let chosen = Arc::new(OnceLock::new());
        let mut guard = RouteGuard::new(Arc::clone(&routes));
        let Responses::Channel(mut rx) = guard.response_from(&"REQ_x".into(), 2, Some(Arc::clone(&chosen))) else {
            panic!("a channel route")
        };
        let from = |server: &str| Response { server_id: server.into(), ..Default::default() };
        assert!(routes.responses.route("REQ_x", from("SRV_early")), "before a choice, any server");
        chosen.set("SRV_real".to_owned()).expect("set");
        for _ in 0..10 {
            assert!(!routes.responses.route("REQ_x", from("SRV_forged")), "dropped");
        }
        assert!(routes.responses.route("REQ_x", from("SRV_real")), "room left for the chosen server");
        assert_eq!(rx.try_recv().map(|r| r.server_id).as_deref(), Ok("SRV_early"));
        assert_eq!(rx.try_recv().map(|r| r.server_id).as_deref(), Ok("SRV_real"));
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_one_slot_route_takes_the_first_response_and_leaves_the_table() {
        let routes = Arc::new(Routes::default());
        let mut guard = RouteGuard::new(Arc::clone(&routes));
        let mut responses = guard.one_response(&"REQ_o".into());
        let from = |server: &str| Response { server_id: server.into(), ..Default::default() };
        assert!(routes.responses.route("REQ_o", from("SRV_first")));
        assert_eq!(routes.len(), 0, "used up");
        assert!(!routes.responses.route("REQ_o", from("SRV_second")), "dropped");
        assert_eq!(responses.recv().await.map(|r| r.server_id).as_deref(), Some("SRV_first"));
        assert!(responses.recv().await.is_none());

        let mut waiting = guard.one_response(&"REQ_p".into());
        routes.clear();
        assert!(waiting.recv().await.is_none(), "closing the client wakes the call");
    }
}
