//! The service model shared by the trait-macro and `.proto` front ends, and
//! the one validation of method options both of them go through.

use std::fmt;

use proc_macro2::Ident;
use psrpc_method::{Delivery, MethodKind, Routing, Selection};

/// A method's psrpc options as a front end read them (the `#[psrpc(...)]`
/// attribute or the `.proto` method option), before validation.
///
/// [`MethodOptions::kind`] turns them into a [`MethodKind`] or rejects them
/// with the same [`InvalidOptions`] for both front ends.
#[derive(Clone, Debug, Default)]
pub struct MethodOptions {
    /// A bidirectional stream.
    pub stream: bool,
    /// A subscription (servers publish, clients subscribe).
    pub subscription: bool,
    /// Request routing.
    pub routing: Routing,
    /// Named topic parameters; empty for methods without topics.
    pub topics: Vec<Ident>,
    /// At most one server per topic (no claim exchange).
    pub single_server: bool,
    /// The topic group: methods sharing one get `register_all_<group>_topics`.
    pub group: Option<Ident>,
    /// The topic parameters are typed: each is passed as its own newtype
    /// (`<Name>Topic`, see [`emit_topic_types`](crate::emit_topic_types))
    /// rather than as any string, so a node id cannot stand in for a room
    /// name. The `.proto` option `topic_params.typed`; the trait macro has no
    /// typed topics.
    pub typed: bool,
}

/// Why a method's options describe no method psrpc can serve.
///
/// The message names the options as both front ends spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidOptions {
    /// `stream` and `subscription` together.
    StreamSubscription,
    /// A `stream` routed `multi`.
    StreamMulti,
    /// A `subscription` routed by `affinity` (subscribers compute none).
    SubscriptionAffinity,
    /// A `single_server` subscription (subscriptions have no servers to choose).
    SubscriptionSingleServer,
    /// `single_server` without topics.
    SingleServerWithoutTopics,
    /// `single_server` with `multi` routing (multi calls reach every server).
    SingleServerMulti,
    /// `single_server` with `affinity` routing (no claim exchange asks for one).
    SingleServerAffinity,
    /// A topic `group` on a method without topics.
    GroupWithoutTopics,
    /// A topic `group` on a subscription (groups register served methods).
    GroupOnSubscription,
    /// Methods of one topic `group` with different topic names, or with and
    /// without `typed` topics (the group's register functions take one set of
    /// topics for all of them).
    GroupTopicsDiffer,
}

impl fmt::Display for InvalidOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidOptions::StreamSubscription => "a method cannot be both `stream` and `subscription`",
            InvalidOptions::StreamMulti => "a `stream` method cannot be `multi`: a stream has one server",
            InvalidOptions::SubscriptionAffinity => "a `subscription` cannot use `affinity`: use `multi` or `queue`",
            InvalidOptions::SubscriptionSingleServer => "a `subscription` cannot be `single_server`",
            InvalidOptions::SingleServerWithoutTopics => "`single_server` needs topics",
            InvalidOptions::SingleServerMulti => "a `single_server` method cannot be `multi`",
            InvalidOptions::SingleServerAffinity => {
                "a `single_server` method cannot use `affinity`: it has no claim exchange to ask for one"
            }
            InvalidOptions::GroupWithoutTopics => "a topic `group` needs topics",
            InvalidOptions::GroupOnSubscription => "a `subscription` cannot have a topic `group`",
            InvalidOptions::GroupTopicsDiffer => "every method of a topic `group` needs the same topic parameters",
        })
    }
}

impl std::error::Error for InvalidOptions {}

impl MethodOptions {
    /// The method kind these options describe, or the first rule they break.
    ///
    /// ```
    /// use psrpc_codegen::{InvalidOptions, MethodKind, MethodOptions, Routing};
    ///
    /// let multi = MethodOptions { routing: Routing::Multi, ..Default::default() };
    /// assert_eq!(multi.kind(), Ok(MethodKind::Multi { topics: false }));
    /// let bad = MethodOptions { stream: true, ..multi };
    /// assert_eq!(bad.kind(), Err(InvalidOptions::StreamMulti));
    /// ```
    pub fn kind(&self) -> Result<MethodKind, InvalidOptions> {
        let topics = !self.topics.is_empty();
        if self.stream && self.subscription {
            return Err(InvalidOptions::StreamSubscription);
        }
        if self.subscription {
            if self.single_server {
                return Err(InvalidOptions::SubscriptionSingleServer);
            }
            if self.group.is_some() {
                return Err(InvalidOptions::GroupOnSubscription);
            }
        }
        if self.group.is_some() && !topics {
            return Err(InvalidOptions::GroupWithoutTopics);
        }
        if self.single_server && !topics {
            return Err(InvalidOptions::SingleServerWithoutTopics);
        }
        let selection = match (self.routing, self.single_server) {
            (Routing::Multi, true) => return Err(InvalidOptions::SingleServerMulti),
            (Routing::Affinity, true) => return Err(InvalidOptions::SingleServerAffinity),
            (_, true) => Some(Selection::SingleServer),
            (Routing::Affinity, false) => Some(Selection::Affinity { topics }),
            (Routing::Multi, false) => None,
            (_, false) => Some(Selection::Queue { topics }),
        };
        if self.subscription {
            let delivery = match self.routing {
                Routing::Multi => Delivery::Every,
                Routing::Affinity => return Err(InvalidOptions::SubscriptionAffinity),
                _ => Delivery::Queue,
            };
            return Ok(MethodKind::Subscription { delivery, topics });
        }
        match (selection, self.stream) {
            (None, true) => Err(InvalidOptions::StreamMulti),
            (None, false) => Ok(MethodKind::Multi { topics }),
            (Some(selection), true) => Ok(MethodKind::Stream(selection)),
            (Some(selection), false) => Ok(MethodKind::Unary(selection)),
        }
    }
}

/// Names generated methods give their own parameters and locals.
const RESERVED_PARAMS: [&str; 8] = ["request", "options", "message", "stream", "ctx", "svc", "server", "handler"];

/// The parameter name of the topic `name`: the name itself, or
/// `<name>_topic` where it is one generated code uses for something else
/// (a topic called `request` would otherwise clash with the request
/// argument). Topic names are never on the wire, so renaming is free.
fn topic_param(name: Ident) -> Ident {
    if RESERVED_PARAMS.iter().any(|r| name == r) { quote::format_ident!("{name}_topic") } else { name }
}

/// One RPC of a service, validated: built only by [`Method::new`].
#[derive(Clone, Debug)]
pub struct Method {
    /// The Rust method name (snake_case).
    pub(crate) ident: Ident,
    /// The method name on the wire.
    pub(crate) wire_name: String,
    /// The request (or published message) type.
    pub(crate) request: syn::Type,
    /// The response type (equal to `request` for subscriptions).
    pub(crate) response: syn::Type,
    /// The method shape; its topics flag matches `topics`.
    pub(crate) kind: MethodKind,
    /// Named topic parameters; empty for methods without topics.
    pub(crate) topics: Vec<Ident>,
    /// The topic group.
    pub(crate) group: Option<Ident>,
    /// Whether the topics are passed as newtypes.
    pub(crate) typed: bool,
    /// Rustdoc lines (the `.proto` comments, or the trait method's docs).
    pub(crate) docs: Vec<String>,
    /// The type URL a subscription publishes under, when given instead of
    /// the published type's `prost::Name`.
    pub(crate) type_url: Option<String>,
}

impl Method {
    /// Validates `options` and builds the method `ident` (named `wire_name`
    /// on the wire) taking `request` and returning `response` (for a
    /// subscription: publishing `request`).
    pub fn new(
        ident: Ident,
        wire_name: String,
        request: syn::Type,
        response: syn::Type,
        options: MethodOptions,
    ) -> Result<Method, InvalidOptions> {
        let kind = options.kind()?;
        // Typing applies to named topic parameters only (as in Go psrpc).
        let typed = options.typed && !options.topics.is_empty();
        let topics = options.topics.into_iter().map(topic_param).collect();
        Ok(Method {
            ident,
            wire_name,
            request,
            response,
            kind,
            topics,
            group: options.group,
            typed,
            docs: Vec::new(),
            type_url: None,
        })
    }

    /// Sets the rustdoc lines of the generated client and handler methods
    /// (one string per line, as `///` would hold it).
    #[must_use]
    pub fn with_docs(mut self, docs: Vec<String>) -> Method {
        self.docs = docs;
        self
    }

    /// Publishes a subscription's messages under `type_url` (e.g.
    /// `type.googleapis.com/google.protobuf.Struct`) instead of the type URL
    /// of the published type's `prost::Name`, so types without that trait
    /// (prost-types' `Struct`, `Value`, `FieldMask`, …) can be published.
    /// Other kinds ignore it.
    ///
    /// ```
    /// use psrpc_codegen::{Method, MethodOptions, Routing, Service};
    /// use quote::format_ident;
    ///
    /// let options = MethodOptions { subscription: true, routing: Routing::Multi, ..MethodOptions::default() };
    /// let ty: syn::Type = syn::parse_quote!(::psrpc::prost_types::Struct);
    /// let method = Method::new(format_ident!("reports"), "Reports".into(), ty.clone(), ty, options)
    ///     .unwrap()
    ///     .with_type_url("type.googleapis.com/google.protobuf.Struct");
    /// let service = Service::new(format_ident!("Stats"), "Stats".into(), vec![method]).unwrap();
    /// let code = psrpc_codegen::emit(&service).to_string();
    /// assert!(code.contains("publish_raw") && code.contains("\"type.googleapis.com/google.protobuf.Struct\""));
    /// ```
    #[must_use]
    pub fn with_type_url(mut self, type_url: impl Into<String>) -> Method {
        self.type_url = Some(type_url.into());
        self
    }

    /// The method's kind.
    pub fn kind(&self) -> MethodKind {
        self.kind
    }

    /// Whether the method is addressed by topics.
    pub(crate) fn has_topics(&self) -> bool {
        self.kind.has_topics()
    }
}

/// A service: a named group of methods, validated: built only by [`Service::new`].
#[derive(Clone, Debug)]
pub struct Service {
    /// The Rust name generated items derive from (e.g. `MyService`).
    pub(crate) ident: Ident,
    /// The service name on the wire.
    pub(crate) wire_name: String,
    /// The methods, in declaration order.
    pub(crate) methods: Vec<Method>,
    /// Rustdoc lines of the generated types.
    pub(crate) docs: Vec<String>,
    /// The visibility of the generated items.
    pub(crate) vis: syn::Visibility,
    /// The path of the `psrpc` crate (generated code uses `<path>::__codegen`).
    pub(crate) krate: syn::Path,
    /// Whether every handler has a default answering `unimplemented`.
    pub(crate) unimplemented_defaults: bool,
    /// Where the typed topics' newtypes live, relative to the generated code.
    pub(crate) topic_types: syn::Path,
}

/// A method that does not fit its service.
#[derive(Clone, Debug)]
pub struct InvalidMethod {
    /// The method's Rust name (its span points at the declaration).
    pub ident: Ident,
    /// The method's wire name.
    pub wire_name: String,
    /// What is wrong.
    pub error: InvalidOptions,
}

impl Service {
    /// The service `ident` (named `wire_name` on the wire) with `methods`,
    /// checking what involves several methods: every method of a topic
    /// group has the group's topic names (those of its first method).
    pub fn new(ident: Ident, wire_name: String, methods: Vec<Method>) -> Result<Service, InvalidMethod> {
        for (i, method) in methods.iter().enumerate() {
            let Some(group) = &method.group else { continue };
            let first = methods[..i].iter().find(|m| m.group.as_ref() == Some(group));
            if first.is_some_and(|first| (&first.topics, first.typed) != (&method.topics, method.typed)) {
                let (ident, wire_name) = (method.ident.clone(), method.wire_name.clone());
                return Err(InvalidMethod { ident, wire_name, error: InvalidOptions::GroupTopicsDiffer });
            }
        }
        Ok(Service {
            ident,
            wire_name,
            methods,
            docs: Vec::new(),
            vis: syn::parse_quote!(pub),
            krate: syn::parse_quote!(::psrpc),
            unimplemented_defaults: true,
            topic_types: syn::parse_quote!(self),
        })
    }

    /// Sets the rustdoc lines of the generated client, server and trait.
    #[must_use]
    pub fn with_docs(mut self, docs: Vec<String>) -> Service {
        self.docs = docs;
        self
    }

    /// Gives the generated items visibility `vis` (default `pub`).
    #[must_use]
    pub fn with_visibility(mut self, vis: syn::Visibility) -> Service {
        self.vis = vis;
        self
    }

    /// Refers to the `psrpc` crate as `path` (default `::psrpc`), for crates
    /// that reach psrpc through a re-export.
    #[must_use]
    pub fn with_crate(mut self, path: syn::Path) -> Service {
        self.krate = path;
        self
    }

    /// Whether every `<Svc>ServerImpl` method gets a default body (default
    /// `true`): handlers answer `unimplemented` and affinity functions return
    /// -1 (never claim, so callers reach servers that implement the method),
    /// as Go psrpc's `Unimplemented<Svc>Server` does. With `false`, a method
    /// added to the service is a compile error in every server until it is
    /// implemented.
    #[must_use]
    pub fn with_unimplemented_defaults(mut self, defaults: bool) -> Service {
        self.unimplemented_defaults = defaults;
        self
    }

    /// Where the newtypes of typed topics are, as a path relative to the
    /// generated code (default `self`: beside it). The caller emits them once
    /// per scope with [`emit_topic_types`](crate::emit_topic_types).
    #[must_use]
    pub fn with_topic_types_at(mut self, path: syn::Path) -> Service {
        self.topic_types = path;
        self
    }

    /// The typed topic parameters of the service's methods, each once.
    pub fn typed_topics(&self) -> Vec<Ident> {
        let mut names: Vec<Ident> = Vec::new();
        for method in self.methods.iter().filter(|m| m.typed) {
            for topic in &method.topics {
                if !names.contains(topic) {
                    names.push(topic.clone());
                }
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::*;

    fn topics(names: &[&str]) -> Vec<Ident> {
        names.iter().map(|n| Ident::new(n, Span::call_site())).collect()
    }

    #[test]
    fn valid_shapes_map_to_kinds() {
        let on = |o: MethodOptions| o.kind().expect("valid");
        let t = topics(&["region"]);
        assert_eq!(on(MethodOptions::default()), MethodKind::Unary(Selection::Queue { topics: false }));
        assert_eq!(
            on(MethodOptions { routing: Routing::Affinity, topics: t.clone(), ..Default::default() }),
            MethodKind::Unary(Selection::Affinity { topics: true })
        );
        assert_eq!(
            on(MethodOptions {
                single_server: true,
                topics: t.clone(),
                group: t.first().cloned(),
                ..Default::default()
            }),
            MethodKind::Unary(Selection::SingleServer)
        );
        assert_eq!(
            on(MethodOptions { stream: true, single_server: true, topics: t.clone(), ..Default::default() }),
            MethodKind::Stream(Selection::SingleServer)
        );
        assert_eq!(
            on(MethodOptions { subscription: true, routing: Routing::Multi, topics: t, ..Default::default() }),
            MethodKind::Subscription { delivery: Delivery::Every, topics: true }
        );
        assert_eq!(
            on(MethodOptions { subscription: true, ..Default::default() }),
            MethodKind::Subscription { delivery: Delivery::Queue, topics: false }
        );
    }

    #[test]
    fn invalid_combinations_are_rejected() {
        let t = topics(&["region"]);
        let group = t.first().cloned();
        let cases = [
            (
                MethodOptions { stream: true, subscription: true, ..Default::default() },
                InvalidOptions::StreamSubscription,
            ),
            (
                MethodOptions { stream: true, routing: Routing::Multi, ..Default::default() },
                InvalidOptions::StreamMulti,
            ),
            (
                MethodOptions { subscription: true, routing: Routing::Affinity, ..Default::default() },
                InvalidOptions::SubscriptionAffinity,
            ),
            (
                MethodOptions { subscription: true, single_server: true, topics: t.clone(), ..Default::default() },
                InvalidOptions::SubscriptionSingleServer,
            ),
            (MethodOptions { single_server: true, ..Default::default() }, InvalidOptions::SingleServerWithoutTopics),
            (
                MethodOptions { single_server: true, routing: Routing::Multi, topics: t.clone(), ..Default::default() },
                InvalidOptions::SingleServerMulti,
            ),
            (
                MethodOptions {
                    single_server: true,
                    routing: Routing::Affinity,
                    topics: t.clone(),
                    ..Default::default()
                },
                InvalidOptions::SingleServerAffinity,
            ),
            (MethodOptions { group: group.clone(), ..Default::default() }, InvalidOptions::GroupWithoutTopics),
            (
                MethodOptions { subscription: true, group, topics: t, ..Default::default() },
                InvalidOptions::GroupOnSubscription,
            ),
        ];
        for (options, expected) in cases {
            assert_eq!(options.kind(), Err(expected), "{options:?}");
        }
    }

    #[test]
    fn group_members_share_topic_names() {
        let ty: syn::Type = syn::parse_quote!(M);
        let member = |name: &str, names: &[&str], typed: bool| {
            let group = topics(&["g"]).pop();
            let options = MethodOptions { topics: topics(names), group, typed, ..Default::default() };
            Method::new(Ident::new(name, Span::call_site()), name.to_owned(), ty.clone(), ty.clone(), options)
                .expect("valid method")
        };
        let svc = |methods| Service::new(Ident::new("Svc", Span::call_site()), "Svc".to_owned(), methods);
        assert!(svc(vec![member("a", &["node"], false), member("b", &["node"], false)]).is_ok());
        assert!(svc(vec![member("a", &["node"], true), member("b", &["node"], true)]).is_ok());
        for other in [member("b", &["node", "zone"], false), member("b", &["node"], true)] {
            let err = svc(vec![member("a", &["node"], false), other]).expect_err("differ");
            assert_eq!((err.wire_name.as_str(), err.error), ("b", InvalidOptions::GroupTopicsDiffer));
        }
    }

    #[test]
    fn topics_named_like_generated_parameters_are_renamed() {
        let ty: syn::Type = syn::parse_quote!(M);
        let options = MethodOptions { topics: topics(&["request", "region", "options"]), ..Default::default() };
        let method = Method::new(Ident::new("m", Span::call_site()), "M".to_owned(), ty.clone(), ty, options)
            .expect("valid method");
        let names: Vec<String> = method.topics.iter().map(Ident::to_string).collect();
        assert_eq!(names, ["request_topic", "region", "options_topic"]);
    }

    #[test]
    fn typed_topics_are_listed_once() {
        let ty: syn::Type = syn::parse_quote!(M);
        let method = |name: &str, names: &[&str], typed: bool| {
            let options = MethodOptions { topics: topics(names), typed, ..Default::default() };
            Method::new(Ident::new(name, Span::call_site()), name.to_owned(), ty.clone(), ty.clone(), options)
                .expect("valid method")
        };
        let methods =
            vec![method("a", &["node", "zone"], true), method("b", &["zone"], true), method("c", &["room"], false)];
        let svc = Service::new(Ident::new("Svc", Span::call_site()), "Svc".to_owned(), methods).expect("valid");
        let names: Vec<String> = svc.typed_topics().iter().map(Ident::to_string).collect();
        assert_eq!(names, ["node", "zone"]);
    }
}
