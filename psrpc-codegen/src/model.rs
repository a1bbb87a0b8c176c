//! The service model shared by the trait-macro and `.proto` front ends.

use proc_macro2::Ident;

/// How requests of a method are routed (mirrors `psrpc::Routing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Routing {
    /// One server of a queue group handles each request.
    #[default]
    Queue,
    /// Servers report an affinity; the client picks one.
    Affinity,
    /// Every server answers (subscriptions: every subscriber receives).
    Multi,
}

/// The shape of a method.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A request/response call.
    Unary,
    /// A bidirectional stream.
    Stream,
    /// Server publishes, clients subscribe.
    Subscription,
}

/// One RPC of a service.
#[derive(Clone, Debug)]
pub struct Method {
    /// The Rust method name (snake_case).
    pub ident: Ident,
    /// The method name on the wire.
    pub wire_name: String,
    /// The request (or published message) type.
    pub request: syn::Type,
    /// The response type (equal to `request` for subscriptions).
    pub response: syn::Type,
    /// The method shape.
    pub kind: Kind,
    /// Request routing.
    pub routing: Routing,
    /// Named topic parameters; empty for methods without topics.
    pub topics: Vec<Ident>,
    /// Whether a topic method is served by one server per topic.
    pub single_server: bool,
    /// The topic group: methods sharing one get `register_all_<group>_topics`.
    pub group: Option<Ident>,
}

impl Method {
    /// Whether the method is addressed by topics.
    pub fn has_topics(&self) -> bool {
        !self.topics.is_empty()
    }
}

/// A service: a named group of methods.
#[derive(Clone, Debug)]
pub struct Service {
    /// The Rust name generated items derive from (e.g. `MyService`).
    pub ident: Ident,
    /// The service name on the wire.
    pub wire_name: String,
    /// The methods, in declaration order.
    pub methods: Vec<Method>,
}
