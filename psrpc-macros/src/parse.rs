//! Reads a service trait into the shared [`Service`] model.

use psrpc_codegen::{Method, MethodOptions, Routing, Service, go_camel_case};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, ItemTrait, LitStr, ReturnType, TraitItem, TraitItemFn, Type};

/// The `#[psrpc::service(...)]` arguments.
#[derive(Default)]
pub(crate) struct ServiceArgs {
    /// `name = "..."`: the wire name (default: the trait name, Go-CamelCased).
    name: Option<String>,
    /// `crate = "..."`: the path of the psrpc crate (default `::psrpc`).
    krate: Option<syn::Path>,
    /// `unimplemented_defaults = false`: handlers without default bodies.
    defaults: Option<bool>,
}

/// Parses the `#[psrpc::service(...)]` arguments.
pub(crate) fn service_args(args: proc_macro2::TokenStream) -> syn::Result<ServiceArgs> {
    let mut parsed = ServiceArgs::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            parsed.name = Some(meta.value()?.parse::<LitStr>()?.value());
        } else if meta.path.is_ident("crate") {
            parsed.krate = Some(meta.value()?.parse::<LitStr>()?.parse()?);
        } else if meta.path.is_ident("unimplemented_defaults") {
            parsed.defaults = Some(meta.value()?.parse::<syn::LitBool>()?.value);
        } else {
            return Err(meta.error(
                "unknown service option; expected `name = \"...\"`, `crate = \"...\"` or \
                 `unimplemented_defaults = false`",
            ));
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, args)?;
    Ok(parsed)
}

/// The `///` lines of `attrs`.
fn doc_lines(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value: syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }),
                ..
            }) => Some(s.value()),
            _ => None,
        })
        .collect()
}

/// Builds the model of `item` as `args` ask: generated items keep the
/// trait's visibility and docs.
pub(crate) fn service(item: &ItemTrait, args: ServiceArgs) -> syn::Result<Service> {
    let methods = item
        .items
        .iter()
        .map(|it| match it {
            TraitItem::Fn(f) => method(f),
            other => Err(syn::Error::new(other.span(), "a psrpc service trait holds only methods")),
        })
        .collect::<syn::Result<Vec<_>>>()?;
    let wire_name = args.name.unwrap_or_else(|| go_camel_case(&item.ident.to_string()));
    let service = Service::new(item.ident.clone(), wire_name, methods)
        .map_err(|e| syn::Error::new(e.ident.span(), e.error))?
        .with_docs(doc_lines(&item.attrs))
        .with_visibility(item.vis.clone())
        .with_unimplemented_defaults(args.defaults.unwrap_or(true));
    Ok(match args.krate {
        Some(krate) => service.with_crate(krate),
        None => service,
    })
}

/// The method attributes, before validation.
#[derive(Default)]
struct Flags {
    name: Option<String>,
    multi: bool,
    affinity: bool,
    queue: bool,
    stream: bool,
    subscription: bool,
    single_server: bool,
    topics: Option<Vec<syn::Ident>>,
    group: Option<syn::Ident>,
}

fn flags(attrs: &[Attribute]) -> syn::Result<Flags> {
    let mut f = Flags::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("psrpc")) {
        attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            match key.as_str() {
                "name" => f.name = Some(meta.value()?.parse::<LitStr>()?.value()),
                "multi" => f.multi = true,
                "affinity" => f.affinity = true,
                "queue" => f.queue = true,
                "stream" => f.stream = true,
                "subscription" => f.subscription = true,
                "single_server" => f.single_server = true,
                "group" => {
                    let lit = meta.value()?.parse::<LitStr>()?;
                    f.group = Some(lit.parse::<syn::Ident>()?);
                }
                "topics" => {
                    let mut names = Vec::new();
                    meta.parse_nested_meta(|t| {
                        names.push(t.path.require_ident()?.clone());
                        Ok(())
                    })?;
                    if names.is_empty() {
                        return Err(meta.error("`topics(...)` needs at least one topic name"));
                    }
                    f.topics = Some(names);
                }
                _ => {
                    return Err(meta.error(
                        "unknown psrpc method attribute; expected one of name, multi, affinity, \
                         queue, stream, subscription, single_server, topics(...), group = \"...\"",
                    ));
                }
            }
            Ok(())
        })?;
    }
    Ok(f)
}

fn method(f: &TraitItemFn) -> syn::Result<Method> {
    let flags = flags(&f.attrs)?;
    let sig = &f.sig;
    let span = sig.ident.span();
    let err = |msg: &str| Err(syn::Error::new(span, msg));
    if [flags.multi, flags.affinity, flags.queue].iter().filter(|b| **b).count() > 1 {
        return err("choose at most one of `multi`, `affinity`, `queue`");
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(_)) => {}
        _ => return err("a psrpc method takes `&self` first"),
    }
    let request = match (inputs.next(), inputs.next()) {
        (Some(FnArg::Typed(pat)), None) => message_type(&pat.ty)?,
        (_, Some(extra)) => {
            return Err(syn::Error::new(extra.span(), "a psrpc method takes exactly one message"));
        }
        _ => return err("a psrpc method takes exactly one message argument"),
    };
    let response = match (&sig.output, flags.subscription) {
        (ReturnType::Default, true) => request.clone(),
        (ReturnType::Type(_, ty), false) => message_type(ty)?,
        (ReturnType::Type(_, ty), true) => {
            return Err(syn::Error::new(ty.span(), "a `subscription` returns nothing"));
        }
        (ReturnType::Default, false) => return err("a psrpc method returns a message"),
    };
    let routing = match (flags.multi, flags.affinity) {
        (true, _) => Routing::Multi,
        (_, true) => Routing::Affinity,
        _ => Routing::Queue,
    };
    let options = MethodOptions {
        stream: flags.stream,
        subscription: flags.subscription,
        routing,
        topics: flags.topics.unwrap_or_default(),
        single_server: flags.single_server,
        group: flags.group,
        typed: false,
    };
    let wire_name = flags.name.unwrap_or_else(|| go_camel_case(&sig.ident.to_string()));
    Method::new(sig.ident.clone(), wire_name, request, response, options)
        .map(|m| m.with_docs(doc_lines(&f.attrs)))
        .map_err(|e| syn::Error::new(span, e))
}

/// Accepts a plain (path) type: a prost message.
fn message_type(ty: &Type) -> syn::Result<Type> {
    match ty {
        Type::Path(p) if p.qself.is_none() => Ok(ty.clone()),
        _ => Err(syn::Error::new(ty.span(), "expected a prost message type (a plain type path)")),
    }
}
