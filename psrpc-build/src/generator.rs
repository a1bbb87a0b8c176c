//! The prost-build service generator that emits psrpc clients and servers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use heck::ToSnakeCase;
use proc_macro2::Span;
use psrpc_codegen::{Method, MethodOptions, Service};

use crate::options::ProtoOptions;

/// Emits each service through psrpc-codegen; records failures in `errors`.
pub(crate) struct Generator {
    pub(crate) options: HashMap<String, ProtoOptions>,
    pub(crate) errors: Rc<RefCell<Vec<String>>>,
}

impl prost_build::ServiceGenerator for Generator {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        match self.model(&service) {
            Ok(model) => buf.push_str(&psrpc_codegen::emit(&model).to_string()),
            Err(e) => self.errors.borrow_mut().push(format!("{}: {e}", service.proto_name)),
        }
    }
}

fn ident(name: &str) -> syn::Result<syn::Ident> {
    syn::parse_str(name)
        .or_else(|_| syn::parse_str(&format!("r#{name}")))
        .map_err(|e| syn::Error::new(Span::call_site(), format!("`{name}`: {e}")))
}

impl Generator {
    fn model(&self, service: &prost_build::Service) -> syn::Result<Service> {
        let prefix = if service.package.is_empty() {
            service.proto_name.clone()
        } else {
            format!("{}.{}", service.package, service.proto_name)
        };
        let methods = service
            .methods
            .iter()
            .map(|m| {
                let full = format!("{prefix}.{}", m.proto_name);
                let opts = self
                    .options
                    .get(&full)
                    .cloned()
                    .ok_or_else(|| syn::Error::new(Span::call_site(), format!("no descriptor for {full}")))?;
                let response: syn::Type = syn::parse_str(&m.output_type)?;
                // A subscription publishes its output type; the input is ignored.
                let request = if opts.subscription { response.clone() } else { syn::parse_str(&m.input_type)? };
                let options = MethodOptions {
                    stream: opts.stream,
                    subscription: opts.subscription,
                    routing: opts.routing,
                    topics: opts.topics.iter().map(|t| ident(&t.to_snake_case())).collect::<syn::Result<_>>()?,
                    single_server: opts.single_server,
                    group: opts.group.as_deref().map(|g| ident(&g.to_snake_case())).transpose()?,
                };
                let name = ident(&m.proto_name.to_snake_case())?;
                Method::new(name, m.proto_name.clone(), request, response, options)
                    .map_err(|e| syn::Error::new(Span::call_site(), format!("{}: {e}", m.proto_name)))
            })
            .collect::<syn::Result<Vec<_>>>()?;
        Service::new(ident(&service.proto_name)?, service.proto_name.clone(), methods)
            .map_err(|e| syn::Error::new(Span::call_site(), format!("{}: {}", e.wire_name, e.error)))
    }
}
