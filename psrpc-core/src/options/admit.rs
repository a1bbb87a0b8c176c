//! Admission of a call: the method must be of the call's kind, and the
//! call's [`RequestOptions`] may set only what that call uses.

use super::RequestOptions;
use crate::error::{Error, ErrorCode};
use crate::info::{MethodInfo, MethodKind};
use crate::wire_mode::WireMode;

/// The client call a method and its options are given to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// [`RpcClient::request_single`](crate::client::RpcClient::request_single).
    Single,
    /// [`RpcClient::request_multi`](crate::client::RpcClient::request_multi).
    Multi,
    /// [`RpcClient::open_stream`](crate::client::RpcClient::open_stream).
    Stream,
    /// [`RpcClient::subscribe`](crate::client::RpcClient::subscribe).
    Subscribe,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Single => "request_single",
            Call::Multi => "request_multi",
            Call::Stream => "open_stream",
            Call::Subscribe => "subscribe",
        }
    }

    fn kind_name(self) -> &'static str {
        match self {
            Call::Single => "unary",
            Call::Multi => "multi",
            Call::Stream => "stream",
            Call::Subscribe => "subscription",
        }
    }

    /// The call a method of `kind` is made with.
    fn for_kind(kind: MethodKind) -> Call {
        match kind {
            MethodKind::Unary(_) => Call::Single,
            MethodKind::Multi { .. } => Call::Multi,
            MethodKind::Stream(_) => Call::Stream,
            MethodKind::Subscription { .. } => Call::Subscribe,
        }
    }

    /// Checks, before anything is published, that `method` is made with
    /// this call and that `options` sets only what this call uses (an error
    /// names the setting by its builder, e.g. `RequestOptions::sticky`).
    pub(crate) fn admit(
        self,
        method: &MethodInfo,
        mode: WireMode,
        options: Option<&RequestOptions>,
    ) -> Result<(), Error> {
        let reject = |message: String| Err(Error::new(ErrorCode::InvalidArgument, message));
        let (call, name) = (self.name(), &method.name);
        let expected = Call::for_kind(method.kind);
        if expected != self {
            let (kind, right) = (expected.kind_name(), expected.name());
            return reject(format!("`{call}` cannot call `{name}`, a {kind} method: use `{right}`"));
        }
        let Some(options) = options else { return Ok(()) };
        let claims = mode.require_claim(method);
        let unused = [
            ("selection", options.selection.is_some() && !claims, "it has no claim exchange"),
            ("expected_responses", options.expected_responses.is_some() && self != Call::Multi, "multi calls only"),
            ("expected_servers", options.expected_servers.is_some() && self != Call::Multi, "multi calls only"),
            ("unary_interceptor", !options.unary_interceptors.is_empty() && self != Call::Single, "single calls only"),
            ("sticky", options.sticky.is_some() && self == Call::Multi, "every server answers a multi call"),
            ("sticky", options.sticky.is_some() && !claims, "it has no claim exchange"),
        ];
        if let Some((field, _, why)) = unused.iter().find(|(_, set, _)| *set) {
            return reject(format!("RequestOptions::{field} is not used by `{call}` of `{name}` ({why})"));
        }
        let only_servers = options.selection.as_ref().is_some_and(|s| s.only_servers.is_some());
        if self == Call::Single && method.queue() && only_servers {
            return reject(
                "server-id routing needs an affinity method: a queue method reaches one server the bus picks".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::info::{Delivery, Selection};
    use crate::options::SelectionOptions;
    use crate::retry::RetryPolicy;

    const QUEUE: Selection = Selection::Queue { topics: false };
    static SINGLE: MethodInfo = MethodInfo::new("Single", MethodKind::Unary(QUEUE));
    static AFFINE: MethodInfo = MethodInfo::new("Affine", MethodKind::Unary(Selection::Affinity { topics: false }));
    static SHARD: MethodInfo = MethodInfo::new("Shard", MethodKind::Unary(Selection::SingleServer));
    static MULTI: MethodInfo = MethodInfo::new("Multi", MethodKind::Multi { topics: false });
    static CHAT: MethodInfo = MethodInfo::new("Chat", MethodKind::Stream(QUEUE));
    static OWNED_CHAT: MethodInfo = MethodInfo::new("OwnedChat", MethodKind::Stream(Selection::SingleServer));
    static FEED: MethodInfo =
        MethodInfo::new("Feed", MethodKind::Subscription { delivery: Delivery::Every, topics: false });

    fn rejected(call: Call, method: &MethodInfo, options: Option<&RequestOptions>) -> String {
        let err = call.admit(method, WireMode::default(), options).expect_err("rejected");
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        err.message().to_owned()
    }

    #[test]
    fn each_call_takes_only_its_kind_of_method() {
        let calls = [(Call::Single, &SINGLE), (Call::Multi, &MULTI), (Call::Stream, &CHAT), (Call::Subscribe, &FEED)];
        for (call, own) in calls {
            assert!(call.admit(own, WireMode::default(), None).is_ok(), "{call:?}");
            for (_, other) in calls.iter().filter(|(c, _)| *c != call) {
                let message = rejected(call, other, None);
                assert!(message.contains(call.name()) && message.contains(other.name.as_ref()), "{message}");
            }
        }
        assert_eq!(
            rejected(Call::Single, &MULTI, None),
            "`request_single` cannot call `Multi`, a multi method: use `request_multi`"
        );
        assert!(
            Call::Single.admit(&SHARD, WireMode::default(), None).is_ok()
                && Call::Stream.admit(&OWNED_CHAT, WireMode::default(), None).is_ok()
        );
    }

    #[test]
    fn native_unary_queue_calls_take_no_claim_options() {
        let selection = RequestOptions::default().selection(SelectionOptions::default());
        let sticky = RequestOptions::default().sticky("room-1");
        for options in [&selection, &sticky] {
            let err = Call::Single.admit(&SINGLE, WireMode::Native, Some(options)).expect_err("no claim");
            assert!(err.message().contains("no claim exchange"), "{}", err.message());
            assert!(Call::Single.admit(&SINGLE, WireMode::GoCompatible, Some(options)).is_ok());
            assert!(Call::Single.admit(&AFFINE, WireMode::Native, Some(options)).is_ok());
        }
    }

    #[test]
    fn settings_a_call_does_not_use_are_rejected() {
        let selection = RequestOptions::default().selection(SelectionOptions::default());
        let count = RequestOptions::default().expected_responses(2);
        let servers = RequestOptions::default().expected_servers(["SRV_a"]);
        let interceptor = RequestOptions::default().unary_interceptor(RetryPolicy::default());
        let cases: [(Call, &MethodInfo, &RequestOptions, &str); 9] = [
            (Call::Single, &SINGLE, &count, "expected_responses"),
            (Call::Single, &SINGLE, &servers, "expected_servers"),
            (Call::Single, &SHARD, &selection, "selection"),
            (Call::Multi, &MULTI, &selection, "selection"),
            (Call::Multi, &MULTI, &interceptor, "unary_interceptor"),
            (Call::Stream, &CHAT, &count, "expected_responses"),
            (Call::Stream, &CHAT, &servers, "expected_servers"),
            (Call::Stream, &CHAT, &interceptor, "unary_interceptor"),
            (Call::Stream, &OWNED_CHAT, &selection, "selection"),
        ];
        for (call, method, options, field) in cases {
            let message = rejected(call, method, Some(options));
            let expected = format!("RequestOptions::{field} is not used by `{}` of `{}`", call.name(), method.name);
            assert!(message.starts_with(&expected), "{message}");
        }
    }

    #[test]
    fn sticky_needs_a_claim_exchange() {
        let sticky = RequestOptions::default().sticky("k");
        assert!(rejected(Call::Multi, &MULTI, Some(&sticky)).starts_with("RequestOptions::sticky is not used"));
        assert!(rejected(Call::Single, &SHARD, Some(&sticky)).contains("no claim exchange"));
        assert!(rejected(Call::Stream, &OWNED_CHAT, Some(&sticky)).contains("no claim exchange"));
        for (call, method) in [(Call::Single, &SINGLE), (Call::Single, &AFFINE), (Call::Stream, &CHAT)] {
            assert!(call.admit(method, WireMode::default(), Some(&sticky)).is_ok(), "{}", method.name);
        }
    }

    #[test]
    fn settings_a_call_uses_are_accepted() {
        let base = RequestOptions::default().timeout(Duration::from_secs(1)).metadata("k", "v");
        let single = base.clone().selection(SelectionOptions::default()).unary_interceptor(RetryPolicy::default());
        let multi = base.clone().expected_responses(2).expected_servers(["SRV_a"]);
        let stream = base.clone().selection(SelectionOptions::default());
        assert!(Call::Single.admit(&SINGLE, WireMode::default(), Some(&single)).is_ok());
        assert!(Call::Single.admit(&SHARD, WireMode::default(), Some(&base)).is_ok());
        assert!(Call::Multi.admit(&MULTI, WireMode::default(), Some(&multi)).is_ok());
        assert!(Call::Stream.admit(&CHAT, WireMode::default(), Some(&stream)).is_ok());
        assert!(Call::Stream.admit(&OWNED_CHAT, WireMode::default(), Some(&base)).is_ok());
    }

    #[test]
    fn server_id_routing_needs_an_affinity_method() {
        let only = RequestOptions::default().selection(SelectionOptions::default().only_servers(["SRV_a"]));
        assert!(rejected(Call::Single, &SINGLE, Some(&only)).starts_with("server-id routing needs an affinity method"));
        assert!(Call::Single.admit(&AFFINE, WireMode::default(), Some(&only)).is_ok());
        assert!(Call::Stream.admit(&CHAT, WireMode::default(), Some(&only)).is_ok(), "every server sees a stream open");
    }
}
