//! Methods and messages from a `.proto` file, as dynamic messages.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor, ServiceDescriptor};
use psrpc::{Error, MethodInfo, MethodKind, RawPayload};

use crate::Target;
use crate::exit::Failure;

/// Compiles `proto` (imports resolved in `includes`, by default the file's
/// directory) and finds `service` in it, by name or full name.
pub(crate) fn service_in(proto: &Path, includes: &[PathBuf], service: &str) -> Result<ServiceDescriptor, Failure> {
    let mut includes = includes.to_vec();
    if includes.is_empty() {
        includes.push(proto.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).into());
    }
    let file = proto.strip_prefix(&includes[0]).unwrap_or(proto);
    let pool = psrpc_build::descriptor_pool(&[file], &includes)
        .map_err(|e| Failure::input(format!("{}: {e}", proto.display())))?;
    let services: Vec<_> = pool.services().collect();
    let Some(found) = services.iter().find(|s| s.name() == service || s.full_name() == service) else {
        let names: Vec<&str> = services.iter().map(|s| s.name()).collect();
        return Err(Failure::unknown(format!(
            "unknown service {service} in {} (services: {})",
            proto.display(),
            crate::list(&names)
        )));
    };
    Ok(found.clone())
}

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
    /// Compiles the target's `.proto` and finds `SERVICE.METHOD` in it.
    pub(crate) fn load(target: &Target) -> Result<Self, Failure> {
        let Some((service, method)) = target.method.rsplit_once('.') else {
            return Err(Failure::usage(format!("{:?} is not SERVICE.METHOD", target.method)));
        };
        let found = service_in(&target.proto, &target.includes, service)?;
        let Some(descriptor) = found.methods().find(|m| m.name() == method) else {
            let names: Vec<String> = found.methods().map(|m| m.name().to_owned()).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            return Err(Failure::unknown(format!(
                "service {service} has no method {method} (methods: {})",
                crate::list(&names)
            )));
        };
        let kind =
            psrpc_build::method_kind(&descriptor).map_err(|e| Failure::input(format!("{service}.{method}: {e}")))?;
        // A subscription publishes its output type (as generated code does).
        let request =
            if matches!(kind, MethodKind::Subscription { .. }) { descriptor.output() } else { descriptor.input() };
        Ok(Method {
            service: found.name().to_owned(),
            info: MethodInfo { name: descriptor.name().to_owned().into(), kind },
            request,
            response: descriptor.output(),
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

    /// One answer of a multi call as a JSON line: `{"server": …, "response": …}`
    /// or `{"server": …, "error": {"code": …, "message": …}}`.
    pub(crate) fn multi_line(&self, server: &str, result: Result<RawPayload, Error>) -> Result<String, Failure> {
        let server = serde_json::Value::String(server.to_owned());
        let line = match result {
            Ok(payload) => {
                let response: serde_json::Value = serde_json::from_str(&self.decode_response(payload.0)?)
                    .map_err(|e| Failure::input(format!("response to JSON: {e}")))?;
                serde_json::json!({ "server": server, "response": response })
            }
            Err(e) => {
                serde_json::json!({ "server": server, "error": { "code": e.code().as_str(), "message": e.message() } })
            }
        };
        Ok(line.to_string())
    }
}
