//! Local-first routing: a single call to a method that a server in the same
//! process serves, on the same bus, runs in process, without a broker round
//! trip (opt-in: [`ClientOptions::local_first`]).
//!
//! Decisions, for selection and claims:
//! - "Local" means an [`RpcServer`] of the client's service created on the
//!   same bus handle (a clone of the client's [`SharedBus`]) in this
//!   process, with a handler registered for the method on the call's topics
//!   and not draining. Separate connections to one broker are separate
//!   buses: their servers are not local.
//! - A local server, when there is one, is always chosen: there is no claim
//!   exchange, so affinity functions are not asked and
//!   [`RequestOptions::selection`] is not consulted; other servers of the
//!   method never see the request. With several local servers, the first
//!   created wins. Sticky calls ([`RequestOptions::sticky`]) never run
//!   locally (the key picks the server).
//! - The call keeps everything else: client interceptors, hooks and
//!   observer, the server's interceptors and observer, the request's
//!   deadline and metadata, the panic boundary, and the server's in-flight
//!   count (draining waits for it).
//! - Only single calls run locally: multi calls ask every server and streams
//!   need a peer, so both always go over the bus.
//!
//! [`ClientOptions::local_first`]: crate::options::ClientOptions::local_first
//! [`RequestOptions::selection`]: crate::options::RequestOptions::selection
//! [`RequestOptions::sticky`]: crate::options::RequestOptions::sticky
//! [`RpcServer`]: crate::server::RpcServer
//! [`SharedBus`]: crate::transport::bus::SharedBus

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::Mutex;

use crate::server::engine::ServerInner;
use crate::server::local::LocalHandler;
use crate::transport::bus::SharedBus;

/// A bus handle's identity: the address of the shared bus.
fn bus_key(bus: &SharedBus) -> usize {
    Arc::as_ptr(bus) as *const () as usize
}

type Directory = HashMap<(usize, Arc<str>), Vec<Weak<ServerInner>>>;

/// The servers of this process by bus and service.
static SERVERS: LazyLock<Mutex<Directory>> = LazyLock::new(Mutex::default);

/// Lists `server` as local to its bus (dropped servers are pruned as new ones come).
pub(crate) fn enlist(server: &Arc<ServerInner>) {
    let mut servers = SERVERS.lock();
    servers.retain(|_, list| {
        list.retain(|s| s.strong_count() > 0);
        !list.is_empty()
    });
    let key = (bus_key(&server.bus), Arc::clone(&server.service));
    servers.entry(key).or_default().push(Arc::downgrade(server));
}

/// The handler of `method` on `topics` of a local server of `service` on
/// `bus`, with that server's id, if there is one.
pub(crate) fn find(
    bus: &SharedBus,
    service: &Arc<str>,
    method: &str,
    topics: &[String],
) -> Option<(LocalHandler, Arc<str>)> {
    let candidates: Vec<Arc<ServerInner>> = {
        let servers = SERVERS.lock();
        let list = servers.get(&(bus_key(bus), Arc::clone(service)))?;
        list.iter().filter_map(Weak::upgrade).collect()
    };
    candidates.iter().find_map(|server| Some((server.local_handler(method, topics)?, Arc::clone(&server.id))))
}
