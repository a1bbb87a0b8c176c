//! Methods and messages from a `.proto` file, as dynamic messages.

use std::path::Path;

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor, ServiceDescriptor};
use psrpc::{MethodInfo, MethodKind, RawPayload};

use crate::args::ProtoArgs;
use crate::exit::Failure;

/// One method of a service, with its request and response descriptors.
#[derive(Debug)]
pub(crate) struct Method {
    /// The service's wire name (the proto service name).
    pub(crate) service: String,
    /// The method as the client calls it.
    pub(crate) info: MethodInfo,
    request: MessageDescriptor,
    response: MessageDescriptor,
}

impl Method {
    /// Compiles the `.proto` and finds `SERVICE.METHOD` in it.
    pub(crate) fn load(target: &str, proto: &ProtoArgs) -> Result<Self, Failure> {
        let Some((service, method)) = target.rsplit_once('.') else {
            return Err(Failure::usage(format!("{target:?} is not SERVICE.METHOD")));
        };
        let found = load_service(service, proto)?;
        let Some(descriptor) = found.methods().find(|m| m.name() == method) else {
            let names: Vec<String> = found.methods().map(|m| m.name().to_owned()).collect();
            return Err(Failure::unknown(format!(
                "service {service} has no method {method} (methods: {})",
                crate::list(&names)
            )));
        };
        let proto = ProtoMethod::of(&descriptor)?;
        let service = found.name().to_owned();
        Ok(Method {
            service,
            info: MethodInfo { name: descriptor.name().to_owned().into(), kind: proto.kind },
            request: proto.request,
            response: proto.response,
        })
    }

    /// The request encoded from JSON; a mismatch names the field.
    pub(crate) fn encode_request(&self, json: &str) -> Result<RawPayload, Failure> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let message = DynamicMessage::deserialize(self.request.clone(), &mut deserializer)
            .and_then(|m| deserializer.end().map(|()| m))
            .map_err(|e| Failure::input(format!("request is not a valid {}: {e}", self.request.full_name())))?;
        Ok(RawPayload(Bytes::from(message.encode_to_vec())))
    }

    /// A response as JSON.
    pub(crate) fn decode_response(&self, bytes: Bytes) -> Result<String, Failure> {
        let message = DynamicMessage::decode(self.response.clone(), bytes)
            .map_err(|e| Failure::input(format!("response is not a valid {}: {e}", self.response.full_name())))?;
        serde_json::to_string(&message).map_err(|e| Failure::input(format!("response to JSON: {e}")))
    }
}

/// A method's kind and messages as the `.proto` declares them.
#[derive(Debug)]
pub(crate) struct ProtoMethod {
    /// From the method's psrpc options.
    pub(crate) kind: MethodKind,
    /// What a client sends (for a subscription: what is published).
    pub(crate) request: MessageDescriptor,
    /// What comes back.
    pub(crate) response: MessageDescriptor,
}

impl ProtoMethod {
    /// Reads the method's psrpc options; options psrpc cannot serve are bad input.
    pub(crate) fn of(descriptor: &MethodDescriptor) -> Result<Self, Failure> {
        let kind = psrpc_build::method_kind(descriptor).map_err(|e| {
            Failure::input(format!("{}.{}: {e}", descriptor.parent_service().name(), descriptor.name()))
        })?;
        // A subscription publishes its output type (as generated code does).
        let request =
            if matches!(kind, MethodKind::Subscription { .. }) { descriptor.output() } else { descriptor.input() };
        Ok(ProtoMethod { kind, request, response: descriptor.output() })
    }
}

/// Compiles the `.proto` and finds `service` (its name or full name) in it.
pub(crate) fn load_service(service: &str, proto: &ProtoArgs) -> Result<ServiceDescriptor, Failure> {
    let pool = load_pool(proto)?;
    let services: Vec<ServiceDescriptor> = pool.services().collect();
    match services.iter().find(|s| s.name() == service || s.full_name() == service) {
        Some(found) => Ok(found.clone()),
        None => {
            let names: Vec<&str> = services.iter().map(|s| s.name()).collect();
            Err(Failure::unknown(format!(
                "unknown service {service} in {} (services: {})",
                proto.proto.display(),
                crate::list(&names)
            )))
        }
    }
}

/// Compiles the `.proto` with its imports. A missing file or a syntax error
/// is bad input (exit code 4) naming the file, and the line and column.
pub(crate) fn load_pool(proto: &ProtoArgs) -> Result<DescriptorPool, Failure> {
    if !proto.proto.is_file() {
        return Err(Failure::input(format!("{}: no such file", proto.proto.display())));
    }
    let mut includes = proto.includes.clone();
    if includes.is_empty() {
        includes.push(proto.proto.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).into());
    }
    let file = proto.proto.strip_prefix(&includes[0]).unwrap_or(&proto.proto);
    psrpc_build::descriptor_pool(&[file], &includes).map_err(|e| Failure::input(compile_error(&proto.proto, &e)))
}

/// `FILE:LINE:COLUMN: message` when the compiler points at a place.
fn compile_error(file: &Path, error: &psrpc_build::BuildError) -> String {
    use miette::Diagnostic as _;
    let psrpc_build::BuildError::Proto(error) = error else { return format!("{}: {error}", file.display()) };
    let place = error.labels().and_then(|mut labels| labels.next()).and_then(|label| {
        let code = error.source_code()?;
        let span = code.read_span(label.inner(), 0, 0).ok()?;
        Some(format!(":{}:{}", span.line() + 1, span.column() + 1))
    });
    let name = error.file().map_or_else(|| file.display().to_string(), str::to_owned);
    format!("{name}{}: {error}", place.unwrap_or_default())
}
