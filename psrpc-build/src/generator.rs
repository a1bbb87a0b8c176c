//! The prost-build service generator that emits psrpc clients and servers.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use heck::ToSnakeCase;
use proc_macro2::{Ident, Span};
use psrpc_codegen::{Method, MethodOptions, Service, go_camel_case};
use quote::{format_ident, quote};

use crate::options::ProtoOptions;

/// Emits each service of the listed files through psrpc-codegen; records
/// failures in `errors`.
pub(crate) struct Generator {
    /// psrpc options of every method, keyed by `package.Service.Method`.
    pub(crate) options: HashMap<String, ProtoOptions>,
    /// Full names (`package.Service`) of the services to generate: those of
    /// the files asked for, not of their imports.
    pub(crate) services: HashSet<String>,
    /// Full names of the services of the files asked for that the builder
    /// leaves out ([`Builder::exclude_services`](crate::Builder::exclude_services)).
    pub(crate) excluded: HashSet<String>,
    pub(crate) settings: Settings,
    pub(crate) errors: Rc<RefCell<Vec<String>>>,
    /// What generation did that the `.proto` may not mean (a streaming
    /// method generated as a unary one), one line each.
    pub(crate) warnings: Rc<RefCell<Vec<String>>>,
    /// The typed topic parameters of each package's services (prost-build
    /// finalizes packages after generating all of them).
    pub(crate) typed_topics: HashMap<String, Vec<Ident>>,
    /// The service modules of each package, as `package.module` (two services
    /// whose names map to one module are refused).
    pub(crate) modules: HashSet<String>,
}

/// What the [`Builder`](crate::Builder) passes on to generated code.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) krate: syn::Path,
    pub(crate) unimplemented_defaults: bool,
    pub(crate) typed_topics: bool,
}

impl prost_build::ServiceGenerator for Generator {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        // prost-build expects every package with services to produce some
        // text (it panics on an empty file), hence the comments.
        let full = full_name(&service.package, &service.proto_name);
        if self.excluded.contains(&full) {
            buf.push_str(&format!("// `{full}`: left out by the builder (`exclude_services`); no psrpc code.\n"));
            return;
        }
        if !self.services.contains(&full) {
            buf.push_str(&format!("// `{full}`: a service of an imported file; no psrpc code.\n"));
            return;
        }
        match self.module(&service) {
            Ok(code) => buf.push_str(&code),
            Err(e) => {
                buf.push_str(&format!("// `{full}`: psrpc code generation failed.\n"));
                self.errors.borrow_mut().push(format!("{}: {e}", service.proto_name));
            }
        }
    }

    fn finalize_package(&mut self, package: &str, buf: &mut String) {
        if let Some(topics) = self.typed_topics.remove(package) {
            buf.push_str(&psrpc_codegen::emit_topic_types(&topics, &syn::parse_quote!(pub)).to_string());
        }
    }
}

fn full_name(package: &str, name: &str) -> String {
    if package.is_empty() { name.to_owned() } else { format!("{package}.{name}") }
}

fn ident(name: &str) -> syn::Result<syn::Ident> {
    syn::parse_str(name)
        .or_else(|_| syn::parse_str(&format!("r#{name}")))
        .map_err(|e| syn::Error::new(Span::call_site(), format!("`{name}`: {e}")))
}

/// The Rust primitives prost maps the scalar wrappers
/// (`google.protobuf.BoolValue`, …) to.
const PRIMITIVES: [&str; 7] = ["bool", "i32", "i64", "u32", "u64", "f32", "f64"];

/// A prost type path as seen from the service's module, one level below the
/// package module: relative paths get a `super::`.
fn message_type(path: &str) -> syn::Result<syn::Type> {
    if path.starts_with("::") || path.starts_with("crate::") || path.starts_with('(') || PRIMITIVES.contains(&path) {
        syn::parse_str(path)
    } else {
        syn::parse_str(&format!("super::{path}"))
    }
}

/// The rustdoc lines of a proto comment (prost-build's own sanitising:
/// brackets and bare URLs escaped); detached comments are left out.
fn doc_lines(comments: &prost_build::Comments) -> Vec<String> {
    let attached = prost_build::Comments { leading_detached: Vec::new(), ..comments.clone() };
    let mut text = String::new();
    attached.append_with_indent(0, &mut text);
    text.lines().filter_map(|l| l.strip_prefix("///")).map(str::to_owned).collect()
}

impl Generator {
    /// `pub mod <service>_psrpc { … }` and its re-export.
    fn module(&mut self, service: &prost_build::Service) -> syn::Result<String> {
        let model = self.model(service)?;
        let name = format!("{}_psrpc", service.proto_name.to_snake_case());
        if !self.modules.insert(full_name(&service.package, &name)) {
            let msg = format!("another service of the package also generates the module `{name}`");
            return Err(syn::Error::new(Span::call_site(), msg));
        }
        self.typed_topics.entry(service.package.clone()).or_default().extend(model.typed_topics());
        let module = format_ident!("{name}");
        let doc = format!("psrpc client and server of the `{}` service.", service.proto_name);
        let code = psrpc_codegen::emit(&model);
        Ok(quote! {
            #[doc = #doc]
            pub mod #module {
                #![allow(
                    dead_code,
                    missing_docs,
                    non_camel_case_types,
                    unreachable_pub,
                    clippy::too_many_arguments,
                    clippy::type_complexity,
                    clippy::unit_arg
                )]
                #code
            }
            // Unused where the package module is private and only the
            // module path is used.
            #[allow(unused_imports)]
            pub use self::#module::*;
        }
        .to_string())
    }

    fn model(&self, service: &prost_build::Service) -> syn::Result<Service> {
        let prefix = full_name(&service.package, &service.proto_name);
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
                if (m.client_streaming || m.server_streaming) && !opts.stream {
                    self.warnings.borrow_mut().push(format!(
                        "{full} is declared streaming in the .proto but has no psrpc `stream: true` option: \
                         generated as a {} method, as protoc-gen-psrpc does (set `option (psrpc.options).stream = \
                         true` for a psrpc stream, or leave the service out with `Builder::exclude_services`)",
                        describe(&opts)
                    ));
                }
                let response = message_type(&m.output_type)?;
                // A subscription publishes its output type; the input is ignored.
                let request = if opts.subscription { response.clone() } else { message_type(&m.input_type)? };
                let options = MethodOptions {
                    stream: opts.stream,
                    subscription: opts.subscription,
                    routing: opts.routing,
                    topics: opts.topics.iter().map(|t| ident(&t.to_snake_case())).collect::<syn::Result<_>>()?,
                    single_server: opts.single_server,
                    group: opts.group.as_deref().map(|g| ident(&g.to_snake_case())).transpose()?,
                    typed: opts.typed && self.settings.typed_topics,
                };
                let name = ident(&m.proto_name.to_snake_case())?;
                // prost-types gives the well-known types no `prost::Name`
                // (only `Any`, `Duration` and `Timestamp` have one): a
                // subscription publishes them under their proto name.
                let type_url = (opts.subscription && m.output_proto_type.starts_with(".google.protobuf."))
                    .then(|| format!("type.googleapis.com/{}", &m.output_proto_type[1..]));
                Method::new(name, go_camel_case(&m.proto_name), request, response, options)
                    .map(|method| {
                        let method = method.with_docs(doc_lines(&m.comments));
                        match type_url {
                            Some(url) => method.with_type_url(url),
                            None => method,
                        }
                    })
                    .map_err(|e| syn::Error::new(Span::call_site(), format!("{}: {e}", m.proto_name)))
            })
            .collect::<syn::Result<Vec<_>>>()?;
        let wire_name = go_camel_case(&service.proto_name);
        Ok(Service::new(ident(&wire_name)?, wire_name, methods)
            .map_err(|e| syn::Error::new(Span::call_site(), format!("{}: {}", e.wire_name, e.error)))?
            .with_docs(doc_lines(&service.comments))
            .with_crate(self.settings.krate.clone())
            .with_unimplemented_defaults(self.settings.unimplemented_defaults)
            .with_topic_types_at(syn::parse_quote!(super)))
    }
}

/// How a method without psrpc `stream` is generated, for the warning.
fn describe(opts: &ProtoOptions) -> &'static str {
    match (opts.subscription, opts.routing) {
        (true, _) => "subscription",
        (false, psrpc_codegen::Routing::Multi) => "unary multi",
        (false, psrpc_codegen::Routing::Affinity) => "unary affinity",
        (false, _) => "unary queue",
    }
}
