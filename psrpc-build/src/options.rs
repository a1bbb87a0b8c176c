//! Reads the psrpc method options (extension 2198) from a descriptor pool.

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, DynamicMessage, Value};
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
    let ext = pool.get_extension_by_name("psrpc.options");
    pool.services()
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .map(|m| {
            let opts = ext.as_ref().and_then(|ext| {
                let all = m.options();
                all.has_extension(ext).then(|| all.get_extension(ext).into_owned())
            });
            let opts = opts.as_ref().and_then(Value::as_message);
            (m.full_name().to_owned(), read(opts))
        })
        .collect()
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
