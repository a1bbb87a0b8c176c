//! Reads the psrpc method options (extension 2198) from a descriptor pool.

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};
use psrpc_codegen::Routing;

/// The psrpc options of one method as the descriptor states them; names are
/// still proto names. Validated by `psrpc_codegen::MethodOptions::kind`.
#[derive(Clone, Debug)]
pub(crate) struct ProtoOptions {
    pub(crate) stream: bool,
    pub(crate) subscription: bool,
    pub(crate) routing: Routing,
    pub(crate) topics: Vec<String>,
    pub(crate) single_server: bool,
    pub(crate) group: Option<String>,
    pub(crate) typed: bool,
}

/// Options of every method in `pool`, keyed by `package.Service.Method`.
pub(crate) fn collect(pool: &DescriptorPool) -> HashMap<String, ProtoOptions> {
    pool.services()
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .map(|m| (m.full_name().to_owned(), of_method(&m)))
        .collect()
}

impl ProtoOptions {
    /// The method kind, or the rule the options break.
    pub(crate) fn kind(&self) -> Result<psrpc_codegen::MethodKind, psrpc_codegen::InvalidOptions> {
        // Only whether there are topics (and a group) matters to the kind.
        let placeholder = |name: &str| proc_macro2::Ident::new(name, proc_macro2::Span::call_site());
        psrpc_codegen::MethodOptions {
            stream: self.stream,
            subscription: self.subscription,
            routing: self.routing,
            topics: self.topics.iter().map(|_| placeholder("topic")).collect(),
            single_server: self.single_server,
            group: self.group.as_ref().map(|_| placeholder("group")),
            typed: self.typed,
        }
        .kind()
    }
}

/// The options of one method.
pub(crate) fn of_method(method: &MethodDescriptor) -> ProtoOptions {
    let ext = method.parent_pool().get_extension_by_name("psrpc.options");
    let opts = ext.as_ref().and_then(|ext| {
        let all = method.options();
        all.has_extension(ext).then(|| all.get_extension(ext).into_owned())
    });
    read(opts.as_ref().and_then(Value::as_message))
}

fn flag(msg: &DynamicMessage, name: &str) -> bool {
    msg.get_field_by_name(name).and_then(|v| v.as_bool()).unwrap_or(false)
}

/// Reads one method's options as Go psrpc's generator does:
/// - a method without psrpc options is a unary queue method, whatever its
///   `stream` keywords say (a client-streaming method is not a stream: psrpc
///   streams are declared with `stream: true`);
/// - the deprecated `routing` oneof, when present, decides the routing
///   whatever its value (`multi: false` is multi), and wins over `type`;
/// - `topics: true` without names gives one parameter named `topic`, never
///   typed.
fn read(opts: Option<&DynamicMessage>) -> ProtoOptions {
    let Some(opts) = opts else {
        return ProtoOptions {
            stream: false,
            subscription: false,
            routing: Routing::Queue,
            topics: vec![],
            single_server: false,
            group: None,
            typed: false,
        };
    };
    let routing = if opts.has_field_by_name("multi") {
        Routing::Multi
    } else if opts.has_field_by_name("affinity_func") {
        Routing::Affinity
    } else if opts.has_field_by_name("queue") {
        Routing::Queue
    } else {
        match opts.get_field_by_name("type").and_then(|v| v.as_enum_number()) {
            Some(1) => Routing::Affinity,
            Some(2) => Routing::Multi,
            _ => Routing::Queue,
        }
    };
    let params = opts.get_field_by_name("topic_params");
    let params = params.as_deref().and_then(Value::as_message);
    let names: Vec<String> = params
        .and_then(|p| p.get_field_by_name("names"))
        .and_then(|v| v.as_list().map(|l| l.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()))
        .unwrap_or_default();
    let (topics, typed) = match (flag(opts, "topics"), names.is_empty()) {
        (false, _) => (vec![], false),
        (true, true) => (vec!["topic".to_owned()], false),
        (true, false) => (names, params.is_some_and(|p| flag(p, "typed"))),
    };
    let single_server = params.is_some_and(|p| flag(p, "single_server"));
    let group = params
        .and_then(|p| p.get_field_by_name("group"))
        .and_then(|v| v.as_str().filter(|g| !g.is_empty()).map(str::to_owned));
    ProtoOptions {
        stream: flag(opts, "stream"),
        subscription: flag(opts, "subscription"),
        routing,
        topics,
        single_server,
        group,
        typed,
    }
}
