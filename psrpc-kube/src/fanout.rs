//! Calls that know their audience: fan-out to the ready pods discovery
//! reports, and unicast to one pod or node, for psrpc-native pod servers
//! whose server id is their pod name (see [`crate::pod_server_options`]).

use std::time::Duration;

use psrpc_core::options::{RequestOptions, SelectionOptions};

use crate::membership::Membership;

/// Sets the expected responders of a multi call to the pods ready now: the
/// call ends as soon as each of them answered, and
/// `MultiResponses::missing` names the ones that did not before the timeout.
/// With no ready pod the call ends at once, empty.
///
/// ```
/// # use psrpc_kube::{Conditions, Pod, PodSet};
/// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
/// #     let conditions = Conditions { ready, ..Conditions::default() };
/// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
/// # }
/// use psrpc::RequestOptions;
/// use psrpc_kube::{Membership, expect_ready_pods};
/// let membership = Membership::fixed([pod("chat-0", "n1", true), pod("chat-1", "n1", false)].into_iter().collect());
/// let options = expect_ready_pods(&membership, RequestOptions::default());
/// assert!(format!("{options:?}").contains(r#"expected_servers: Some({"chat-0"})"#));
/// ```
pub fn expect_ready_pods(membership: &Membership, options: RequestOptions) -> RequestOptions {
    options.expected_servers(membership.current().ready_names())
}

/// Sets the expected number of responses of a multi call to the number of
/// ready pods, for sources that cannot name pods as their servers do (DNS
/// names pods by address): the call ends after that many answers.
///
/// ```
/// # use psrpc_kube::{Conditions, Pod, PodSet};
/// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
/// #     let conditions = Conditions { ready, ..Conditions::default() };
/// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
/// # }
/// use psrpc::RequestOptions;
/// use psrpc_kube::{Membership, expect_ready_count};
/// let membership = Membership::fixed([pod("a", "n1", true), pod("b", "n2", true)].into_iter().collect());
/// let options = expect_ready_count(&membership, RequestOptions::default());
/// assert!(format!("{options:?}").contains("expected_responses: Some(2)"));
/// ```
pub fn expect_ready_count(membership: &Membership, options: RequestOptions) -> RequestOptions {
    options.expected_responses(membership.current().ready().count())
}

/// Routes a single call of an affinity method to the pod called `pod`: its
/// claim wins as soon as it arrives; if it does not claim within `timeout`
/// the call fails `unavailable`. (Queue methods cannot be routed by server
/// id: the bus hands their requests to one server of its choosing.)
///
/// ```
/// use std::time::Duration;
/// let selection = psrpc_kube::to_pod("chat-2", Duration::from_millis(500));
/// assert!(format!("{selection:?}").contains(r#"only_servers: Some({"chat-2"})"#));
/// let options = psrpc::RequestOptions::default().selection(selection);
/// # let _ = options;
/// ```
pub fn to_pod(pod: &str, timeout: Duration) -> SelectionOptions {
    SelectionOptions::first_available(timeout).only_servers([pod])
}

/// Routes a single call of an affinity method to any ready pod on `node`
/// (the first of them to claim).
///
/// ```
/// # use psrpc_kube::{Conditions, Pod, PodSet};
/// # fn pod(name: &str, node: &str, ready: bool) -> Pod {
/// #     let conditions = Conditions { ready, ..Conditions::default() };
/// #     Pod { name: name.into(), addresses: vec!["10.0.0.1".parse().unwrap()], port: 8080, node: Some(node.into()), zone: None, conditions }
/// # }
/// use std::time::Duration;
/// use psrpc_kube::{Membership, to_node};
/// let membership = Membership::fixed([pod("a", "n1", true), pod("b", "n2", true)].into_iter().collect());
/// let selection = to_node(&membership, "n2", Duration::from_secs(1));
/// assert!(format!("{selection:?}").contains(r#"only_servers: Some({"b"})"#));
/// ```
pub fn to_node(membership: &Membership, node: &str, timeout: Duration) -> SelectionOptions {
    let pods = membership.current().on_node(node).map(|p| p.name.clone()).collect::<Vec<_>>();
    SelectionOptions::first_available(timeout).only_servers(pods)
}
