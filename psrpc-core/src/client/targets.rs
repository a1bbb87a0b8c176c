//! Where a client's calls go: the call description and channel names of a
//! method on some topics, built once and reused by every later call.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::sampling::KnownServers;
use crate::info::{MethodInfo, RpcInfo};
use crate::transport::channel::Channel;
use crate::wire_mode::WireMode;

/// At most this many (method, topics) pairs are remembered per routing; past
/// it the cache starts over (topics may be unbounded, e.g. one per room).
const MAX_TARGETS: usize = 4096;

/// A method on topics, ready to call.
#[derive(Debug)]
pub(crate) struct CallTarget {
    /// The call description interceptors and hooks see.
    pub(crate) info: RpcInfo,
    /// Where requests are published (the queue channel for queue methods,
    /// as the client's wire mode names it).
    pub(crate) request: Channel,
    /// Where the selected server is announced.
    pub(crate) claim_response: Channel,
    /// The method's native servers, for sampled claims.
    pub(crate) known_servers: KnownServers,
}

type ByTopics = HashMap<Vec<String>, Arc<CallTarget>>;

/// Call targets by method name and topics; queue and non-queue methods of
/// the same name are kept apart (their request channels differ).
#[derive(Debug, Default)]
pub(crate) struct CallTargets {
    /// The client's wire mode, which names queue channels.
    mode: WireMode,
    tables: [Mutex<HashMap<String, ByTopics>>; 2],
}

impl CallTargets {
    /// No targets yet, for a client in wire mode `mode`.
    pub(crate) fn new(mode: WireMode) -> Self {
        CallTargets { mode, tables: Default::default() }
    }

    /// The target of `method` of `service` on `topics`.
    pub(crate) fn get(&self, service: &Arc<str>, method: &MethodInfo, topics: Vec<String>) -> Arc<CallTarget> {
        let table = &self.tables[usize::from(method.queue())];
        if let Some(found) = table.lock().get(method.name.as_ref()).and_then(|t| t.get(topics.as_slice())) {
            return Arc::clone(found);
        }
        let info = RpcInfo::new(Arc::clone(service), method, topics.clone());
        let target = Arc::new(CallTarget {
            request: self.mode.request_channel(&info, method),
            claim_response: info.claim_response_channel(),
            known_servers: KnownServers::default(),
            info,
        });
        let mut table = table.lock();
        if table.values().map(HashMap::len).sum::<usize>() >= MAX_TARGETS {
            table.clear();
        }
        table.entry(method.name.to_string()).or_default().insert(topics, Arc::clone(&target));
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::{MethodKind, Selection};

    #[test]
    fn targets_are_built_once_per_method_routing_and_topics() {
        let targets = CallTargets::default();
        let service: Arc<str> = "Svc".into();
        let queue = MethodInfo::new("M", MethodKind::Unary(Selection::Queue { topics: false }));
        let affinity = MethodInfo::new("M", MethodKind::Unary(Selection::Affinity { topics: false }));
        let a = targets.get(&service, &queue, vec!["t".into()]);
        assert!(Arc::ptr_eq(&a, &targets.get(&service, &queue, vec!["t".into()])));
        assert_eq!(a.request, RpcInfo::new(service.clone(), &queue, vec!["t".into()]).request_channel(true));
        let b = targets.get(&service, &affinity, vec!["t".into()]);
        assert_eq!(b.request, b.info.request_channel(false), "same name, other routing, other channel");
        assert_ne!(a.request, b.request);
        assert_ne!(a.info.topics, targets.get(&service, &queue, vec!["u".into()]).info.topics);
        for i in 0..MAX_TARGETS + 5 {
            targets.get(&service, &queue, vec![i.to_string()]);
        }
        assert!(targets.tables[1].lock().values().map(HashMap::len).sum::<usize>() <= MAX_TARGETS);
    }

    #[test]
    fn native_targets_use_the_native_queue_channel() {
        let targets = CallTargets::new(WireMode::Native);
        let service: Arc<str> = "Svc".into();
        let queue = MethodInfo::new("M", MethodKind::Unary(Selection::Queue { topics: false }));
        let affinity = MethodInfo::new("A", MethodKind::Unary(Selection::Affinity { topics: false }));
        assert_eq!(&*targets.get(&service, &queue, vec![]).request.server, "SRVQ.Svc.M");
        assert_eq!(&*targets.get(&service, &affinity, vec![]).request.server, "SRV.Svc");
    }
}
