//! The channels a server answers a client on (responses and claims), built
//! once per client instead of once per request.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::transport::channel::{self, Channel};

/// At most this many clients are remembered; past it the cache starts over
/// (clients come and go, the cache must not grow with them).
const MAX_CLIENTS: usize = 4096;

/// One client's reply channels.
#[derive(Debug)]
pub(crate) struct ReplyChannels {
    /// Where responses go (`…|RES`).
    pub(crate) response: Channel,
    /// Where claims go (`…|CLAIM`).
    pub(crate) claim: Channel,
}

/// Reply channels by client id.
#[derive(Debug, Default)]
pub(crate) struct ReplyChannelCache(Mutex<HashMap<String, Arc<ReplyChannels>>>);

impl ReplyChannelCache {
    /// The reply channels of `client_id` for `service`.
    pub(crate) fn get(&self, service: &str, client_id: &str) -> Arc<ReplyChannels> {
        if let Some(found) = self.0.lock().get(client_id) {
            return Arc::clone(found);
        }
        let built = Arc::new(ReplyChannels {
            response: channel::response_channel(service, client_id),
            claim: channel::claim_request_channel(service, client_id),
        });
        let mut map = self.0.lock();
        if map.len() >= MAX_CLIENTS {
            map.clear();
        }
        map.insert(client_id.to_owned(), Arc::clone(&built));
        built
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_match_the_naming_rules_and_the_cache_stays_bounded() {
        let cache = ReplyChannelCache::default();
        let first = cache.get("Svc", "CLI_a");
        assert_eq!(first.response, channel::response_channel("Svc", "CLI_a"));
        assert_eq!(first.claim, channel::claim_request_channel("Svc", "CLI_a"));
        assert!(Arc::ptr_eq(&first, &cache.get("Svc", "CLI_a")), "built once");
        for i in 0..MAX_CLIENTS + 10 {
            cache.get("Svc", &format!("CLI_{i}"));
        }
        assert!(cache.0.lock().len() <= MAX_CLIENTS);
    }
}
