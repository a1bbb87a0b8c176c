//! The subjects frames are published on, built once per channel: a publish
//! then costs a map lookup and a reference count, not the subject's
//! formatting and two copies (into a `String`, then into the client's
//! [`Subject`]).

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::Subject;
use parking_lot::Mutex;
use psrpc_protocol::bus::BusError;
use psrpc_protocol::channel::Channel;
use psrpc_protocol::namespace::{Namespace, channel_nats_subject};

use crate::subject;

/// At most this many subjects are remembered; past it the cache starts over
/// (response channels come and go with clients).
const MAX_SUBJECTS: usize = 4096;

/// Checked publish subjects by channel (its server name).
#[derive(Debug, Default)]
pub(crate) struct PublishSubjects {
    by_channel: Mutex<HashMap<Arc<str>, Subject>>,
}

impl PublishSubjects {
    /// The subject of `channel` in `namespace`, checked (a refused name is
    /// not remembered).
    pub(crate) fn get(&self, namespace: Option<&Namespace>, channel: &Channel) -> Result<Subject, BusError> {
        if let Some(found) = self.by_channel.lock().get(&channel.server) {
            return Ok(found.clone());
        }
        let name = channel_nats_subject(namespace, channel);
        subject::check(&name)?;
        let built = Subject::from(&*name);
        let mut subjects = self.by_channel.lock();
        if subjects.len() >= MAX_SUBJECTS {
            subjects.clear();
        }
        subjects.insert(Arc::clone(&channel.server), built.clone());
        Ok(built)
    }
}

#[cfg(test)]
mod tests {
    use psrpc_protocol::channel;

    use super::*;

    #[test]
    fn subjects_are_the_namespaced_names_checked_and_remembered_within_a_bound() {
        let subjects = PublishSubjects::default();
        let namespace = Namespace::new("ns").expect("namespace");
        let ch = channel::response_channel("Svc", "CLI_a");
        assert_eq!(subjects.get(None, &ch).expect("valid").as_str(), "CLI.Svc.CLI_a.RES");
        assert_eq!(subjects.get(None, &ch).expect("remembered").as_str(), "CLI.Svc.CLI_a.RES");
        let other = PublishSubjects::default();
        assert_eq!(other.get(Some(&namespace), &ch).expect("valid").as_str(), "ns.CLI.Svc.CLI_a.RES");
        let refused = channel::response_channel("Svc", "a b");
        assert!(subjects.get(None, &refused).is_err(), "whitespace splits the protocol line");
        assert!(subjects.get(None, &refused).is_err(), "a refused subject is not remembered");
        for i in 0..MAX_SUBJECTS + 5 {
            subjects.get(None, &channel::response_channel("Svc", &format!("CLI_{i}"))).expect("valid");
        }
        assert!(subjects.by_channel.lock().len() <= MAX_SUBJECTS);
    }
}
