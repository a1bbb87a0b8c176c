//! Reads a service trait into the shared [`Service`] model.

use heck::ToUpperCamelCase;
use psrpc_codegen::{Method, MethodOptions, Routing, Service};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, ItemTrait, LitStr, ReturnType, TraitItem, TraitItemFn, Type};

/// Parses the `#[psrpc::service(...)]` arguments: only `name = "..."`.
pub(crate) fn service_name(args: proc_macro2::TokenStream) -> syn::Result<Option<String>> {
    let mut name = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse::<LitStr>()?.value());
            Ok(())
        } else {
            Err(meta.error("unknown service option; expected `name = \"...\"`"))
        }
    });
    syn::parse::Parser::parse2(parser, args)?;
    Ok(name)
}

/// Builds the model of `item`, named `name` on the wire (default: the trait name).
pub(crate) fn service(item: &ItemTrait, name: Option<String>) -> syn::Result<Service> {
    let methods = item
        .items
        .iter()
        .map(|it| match it {
            TraitItem::Fn(f) => method(f),
            other => Err(syn::Error::new(other.span(), "a psrpc service trait holds only methods")),
        })
        .collect::<syn::Result<Vec<_>>>()?;
    let wire_name = name.unwrap_or_else(|| item.ident.to_string());
    Service::new(item.ident.clone(), wire_name, methods).map_err(|e| syn::Error::new(e.ident.span(), e.error))
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
            let p = &meta.path;
            if p.is_ident("name") {
                f.name = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if p.is_ident("multi") {
                f.multi = true;
            } else if p.is_ident("affinity") {
                f.affinity = true;
            } else if p.is_ident("queue") {
                f.queue = true;
            } else if p.is_ident("stream") {
                f.stream = true;
            } else if p.is_ident("subscription") {
                f.subscription = true;
            } else if p.is_ident("single_server") {
                f.single_server = true;
            } else if p.is_ident("group") {
                let lit = meta.value()?.parse::<LitStr>()?;
                f.group = Some(lit.parse::<syn::Ident>()?);
            } else if p.is_ident("topics") {
                let mut names = Vec::new();
                meta.parse_nested_meta(|t| {
                    names.push(t.path.require_ident()?.clone());
                    Ok(())
                })?;
                if names.is_empty() {
                    return Err(meta.error("`topics(...)` needs at least one topic name"));
                }
                f.topics = Some(names);
            } else {
                return Err(meta.error(
                    "unknown psrpc method attribute; expected one of name, multi, affinity, \
                     queue, stream, subscription, single_server, topics(...), group = \"...\"",
                ));
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
    };
    let wire_name = flags.name.unwrap_or_else(|| sig.ident.to_string().to_upper_camel_case());
    Method::new(sig.ident.clone(), wire_name, request, response, options).map_err(|e| syn::Error::new(span, e))
}

/// Accepts a plain (path) type: a prost message.
fn message_type(ty: &Type) -> syn::Result<Type> {
    match ty {
        Type::Path(p) if p.qself.is_none() => Ok(ty.clone()),
        _ => Err(syn::Error::new(ty.span(), "expected a prost message type (a plain type path)")),
    }
}
