//! `psrpc describe`: a service's methods with their kinds and topics, and,
//! from a `.proto`, their message schemas and a JSON request template.

use std::collections::BTreeMap;
use std::time::Duration;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};
use psrpc::SharedBus;
use psrpc::discovery::wire::{Want, kind_name};

use crate::exit::Failure;
use crate::out::Out;
use crate::proto::{self, ProtoMethod};
use crate::show::table;

/// How deep a JSON template follows nested messages.
const TEMPLATE_DEPTH: usize = 4;

/// Splits `SERVICE[.METHOD]`.
pub(crate) fn split(target: &str) -> (&str, Option<&str>) {
    match target.rsplit_once('.') {
        Some((service, method)) => (service, Some(method)),
        None => (target, None),
    }
}

/// Describes from the `.proto`: nothing is asked on the bus.
pub(crate) fn from_proto(target: &str, proto: &crate::args::ProtoArgs, out: &Out) -> Result<(), Failure> {
    let (service, method) = split(target);
    let found = proto::load_service(service, proto)?;
    let methods: Vec<MethodDescriptor> =
        found.methods().filter(|m| method.is_none_or(|name| m.name() == name)).collect();
    if let (Some(name), true) = (method, methods.is_empty()) {
        let names: Vec<String> = found.methods().map(|m| m.name().to_owned()).collect();
        return Err(Failure::unknown(format!(
            "service {service} has no method {name} (methods: {})",
            crate::list(&names)
        )));
    }
    for descriptor in methods {
        let method = ProtoMethod::of(&descriptor)?;
        let kind = kind_name(method.kind);
        let template = template(&method.request, 0);
        if out.json {
            out.json(&serde_json::json!({
                "service": found.name(),
                "method": descriptor.name(),
                "kind": kind,
                "topics": method.kind.has_topics(),
                "request": { "type": method.request.full_name(), "fields": fields_json(&method.request) },
                "response": { "type": method.response.full_name(), "fields": fields_json(&method.response) },
                "template": template,
            }))?;
            continue;
        }
        let mut text = format!("{}.{}  {kind}\n", found.name(), descriptor.name());
        text.push_str(&format!("  request   {}\n", schema(&method.request)));
        text.push_str(&format!("  response  {}\n", schema(&method.response)));
        text.push_str(&format!("  template  {template}\n"));
        out.text(&text)?;
    }
    Ok(())
}

/// Describes from what the live servers report: methods, kinds, topics served.
pub(crate) async fn from_servers(bus: &SharedBus, target: &str, wait: Duration, out: &Out) -> Result<(), Failure> {
    let (service, method) = split(target);
    let registry = crate::discovery::registry(bus, wait).await?;
    crate::discovery::known(&registry, service)?;
    let reports = registry.query(Want::Info, service, wait).await?;
    // method -> (kind, topics, servers)
    let mut methods: BTreeMap<&str, (&str, Vec<String>, usize)> = BTreeMap::new();
    for report in &reports {
        for m in report.methods.iter().filter(|m| method.is_none_or(|name| m.name == name)) {
            let entry = methods.entry(&m.name).or_insert((&m.kind, Vec::new(), 0));
            entry.2 += 1;
            for topics in m.topics.iter().filter(|t| !t.parts.is_empty()) {
                let joined = topics.parts.join(".");
                if !entry.1.contains(&joined) {
                    entry.1.push(joined);
                }
            }
        }
    }
    if let (Some(name), true) = (method, methods.is_empty()) {
        return Err(Failure::unknown(format!("no server of {service} serves {name}")));
    }
    if out.json {
        for (name, (kind, topics, servers)) in &methods {
            out.json(&serde_json::json!({
                "service": service, "method": name, "kind": kind, "topics": topics, "servers": servers
            }))?;
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = methods
        .iter()
        .map(|(name, (kind, topics, servers))| {
            vec![format!("{service}.{name}"), (*kind).to_owned(), servers.to_string(), topics.join(", ")]
        })
        .collect();
    out.text(&table(&["METHOD", "KIND", "SERVERS", "TOPICS"], &rows))
}

/// `demo.Note { text: string, count: int32 }`
fn schema(message: &MessageDescriptor) -> String {
    let fields: Vec<String> = message.fields().map(|f| format!("{}: {}", f.name(), type_name(&f))).collect();
    format!("{} {{ {} }}", message.full_name(), fields.join(", "))
}

fn fields_json(message: &MessageDescriptor) -> serde_json::Value {
    message.fields().map(|f| (f.name().to_owned(), serde_json::Value::String(type_name(&f)))).collect()
}

fn type_name(field: &FieldDescriptor) -> String {
    if let (true, Kind::Message(entry)) = (field.is_map(), field.kind()) {
        let (key, value) = (entry.map_entry_key_field(), entry.map_entry_value_field());
        return format!("map<{}, {}>", kind_name_of(&key.kind()), kind_name_of(&value.kind()));
    }
    let name = kind_name_of(&field.kind());
    if field.is_list() { format!("repeated {name}") } else { name }
}

fn kind_name_of(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => m.full_name().to_owned(),
        Kind::Enum(e) => e.full_name().to_owned(),
        scalar => format!("{scalar:?}").to_lowercase(),
    }
}

/// A request with every field set to an example value, as JSON.
fn template(message: &MessageDescriptor, depth: usize) -> serde_json::Value {
    message.fields().map(|field| (field.json_name().to_owned(), field_template(&field, depth))).collect()
}

fn field_template(field: &FieldDescriptor, depth: usize) -> serde_json::Value {
    if field.is_map() {
        return serde_json::json!({});
    }
    let one = match field.kind() {
        Kind::Message(m) if m.full_name().starts_with("google.protobuf.") => serde_json::Value::Null,
        Kind::Message(m) if depth < TEMPLATE_DEPTH => template(&m, depth + 1),
        Kind::Message(_) => serde_json::json!({}),
        Kind::Enum(e) => e.values().next().map_or(serde_json::Value::Null, |v| v.name().into()),
        Kind::Bool => false.into(),
        Kind::String => "".into(),
        Kind::Bytes => "".into(),
        Kind::Double | Kind::Float => 0.0.into(),
        // 64-bit integers are strings in protobuf JSON.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => "0".into(),
        _ => 0.into(),
    };
    if field.is_list() { serde_json::Value::Array(vec![one]) } else { one }
}
