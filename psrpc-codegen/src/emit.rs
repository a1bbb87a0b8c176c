//! Turns a [`Service`] into client, server-trait and server code.

use heck::ToUpperCamelCase;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use psrpc_method::{Delivery, MethodKind, Routing, Selection};

use crate::model::{Method, Service};

/// Emits `<Svc>Client`, `<Svc>Api`, `<Svc>ServerImpl` and `<Svc>Server` for
/// `service`, with the service's visibility.
///
/// The method descriptions the client and server share are statics in a
/// private module named after the service (`__psrpc_<Svc>`), each named after
/// its method, so no two services or methods can collide however their names
/// split into words.
pub fn emit(service: &Service) -> TokenStream {
    let infos = infos(service);
    let client = client(service);
    let server_impl = server_impl(service);
    let server = server(service);
    let api = api(service);
    quote! {
        #infos
        #client
        #api
        #server_impl
        #server
    }
}

/// The `#cg` path: `<psrpc crate>::__codegen`.
fn codegen(service: &Service) -> TokenStream {
    let krate = &service.krate;
    quote!(#krate::__codegen)
}

/// `#[doc = …]` attributes for `lines`, then for `fallback` (after an empty
/// line when both are present).
fn docs(lines: &[String], fallback: &str) -> TokenStream {
    let sep = (!lines.is_empty()).then(|| quote!(#[doc = ""]));
    quote!(#(#[doc = #lines])* #sep #[doc = #fallback])
}

/// The newtype of the typed topic parameter `topic` (`node_id` → `NodeIdTopic`).
pub fn topic_type_ident(topic: &Ident) -> Ident {
    let name = topic.to_string();
    format_ident!("{}Topic", name.trim_start_matches("r#").to_upper_camel_case())
}

/// The newtypes of typed topic parameters (`NodeIdTopic(pub String)` for a
/// parameter `node_id`), with visibility `vis`, each once; emit them where
/// [`Service::with_topic_types_at`] points.
pub fn emit_topic_types(topics: &[Ident], vis: &syn::Visibility) -> TokenStream {
    let mut seen: Vec<Ident> = Vec::new();
    for topic in topics {
        if !seen.contains(topic) {
            seen.push(topic.clone());
        }
    }
    let types = seen.iter().map(|topic| {
        let ty = topic_type_ident(topic);
        let doc = format!(
            "A `{topic}` topic: the typed topic parameter of the methods that name it; \
             build one with `{ty}::from(\"…\")` or `{ty}(string)`."
        );
        quote! {
            #[doc = #doc]
            #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
            #vis struct #ty(pub ::std::string::String);

            impl ::core::convert::From<::std::string::String> for #ty {
                fn from(topic: ::std::string::String) -> Self {
                    Self(topic)
                }
            }

            impl ::core::convert::From<&str> for #ty {
                fn from(topic: &str) -> Self {
                    Self(topic.into())
                }
            }

            impl ::core::convert::From<#ty> for ::std::string::String {
                fn from(topic: #ty) -> Self {
                    topic.0
                }
            }

            impl ::core::convert::AsRef<str> for #ty {
                fn as_ref(&self) -> &str {
                    &self.0
                }
            }

            impl ::core::fmt::Display for #ty {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.write_str(&self.0)
                }
            }
        }
    });
    quote!(#(#types)*)
}

/// The private module holding the service's method descriptions.
fn infos_module(service: &Service) -> Ident {
    format_ident!("__psrpc_{}", service.ident.to_string().trim_start_matches("r#"))
}

/// The path of `method`'s description.
fn info_path(service: &Service, method: &Method) -> TokenStream {
    let module = infos_module(service);
    let ident = &method.ident;
    quote!(#module::#ident)
}

fn infos(service: &Service) -> TokenStream {
    let cg = codegen(service);
    let module = infos_module(service);
    let statics = service.methods.iter().map(|method| {
        let ident = &method.ident;
        let name = &method.wire_name;
        let kind = kind_tokens(&cg, method.kind);
        quote! {
            pub(super) static #ident: #cg::MethodInfo = #cg::MethodInfo::new(#name, #kind);
        }
    });
    quote! {
        #[allow(non_snake_case, non_upper_case_globals)]
        mod #module {
            #(#statics)*
        }
    }
}

/// The expression building `kind` in generated code.
fn kind_tokens(cg: &TokenStream, kind: MethodKind) -> TokenStream {
    let selection = |selection: Selection| match selection {
        Selection::Queue { topics } => quote!(#cg::Selection::Queue { topics: #topics }),
        Selection::Affinity { topics } => quote!(#cg::Selection::Affinity { topics: #topics }),
        Selection::SingleServer => quote!(#cg::Selection::SingleServer),
    };
    match kind {
        MethodKind::Unary(s) => {
            let s = selection(s);
            quote!(#cg::MethodKind::Unary(#s))
        }
        MethodKind::Multi { topics } => quote!(#cg::MethodKind::Multi { topics: #topics }),
        MethodKind::Stream(s) => {
            let s = selection(s);
            quote!(#cg::MethodKind::Stream(#s))
        }
        MethodKind::Subscription { delivery, topics } => {
            let delivery = match delivery {
                Delivery::Every => quote!(Every),
                Delivery::Queue => quote!(Queue),
            };
            quote!(#cg::MethodKind::Subscription { delivery: #cg::Delivery::#delivery, topics: #topics })
        }
    }
}

/// The type a topic parameter is passed as, where it is passed by value
/// (the `Api` trait, group registration): `String` or the topic's newtype.
fn topic_type(service: &Service, method: &Method, topic: &Ident) -> TokenStream {
    if method.typed {
        let (at, ty) = (&service.topic_types, topic_type_ident(topic));
        quote!(#at::#ty)
    } else {
        quote!(::std::string::String)
    }
}

/// The topic parameters of a call (`region: impl Into<String>, …`, or
/// `node_id: NodeIdTopic, …` for typed topics) and the `vec![…]` of strings
/// built from them.
fn topic_params(service: &Service, method: &Method) -> (TokenStream, TokenStream) {
    let names = &method.topics;
    if method.typed {
        let types = names.iter().map(|t| topic_type(service, method, t));
        (quote!(#(#names: #types,)*), quote!(::std::vec![#(::std::string::String::from(#names)),*]))
    } else {
        (
            quote!(#(#names: impl ::core::convert::Into<::std::string::String>,)*),
            quote!(::std::vec![#(#names.into()),*]),
        )
    }
}

fn client(service: &Service) -> TokenStream {
    let cg = codegen(service);
    let vis = &service.vis;
    let client = format_ident!("{}Client", service.ident);
    let wire = &service.wire_name;
    let doc = docs(&service.docs, &format!("Client of the `{wire}` service."));
    let methods = service.methods.iter().map(|m| client_method(service, m));
    quote! {
        #doc
        #[derive(Clone, Debug)]
        #vis struct #client {
            inner: #cg::RpcClient,
        }

        impl #client {
            /// Connects a client over `bus`.
            pub async fn new(
                bus: #cg::SharedBus,
                options: #cg::ClientOptions,
            ) -> ::core::result::Result<Self, #cg::Error> {
                ::core::result::Result::Ok(Self {
                    inner: #cg::RpcClient::new(#wire, bus, options).await?,
                })
            }

            /// The underlying engine client.
            pub fn engine(&self) -> &#cg::RpcClient {
                &self.inner
            }

            #(#methods)*
        }
    }
}

fn client_method(service: &Service, method: &Method) -> TokenStream {
    let cg = codegen(service);
    let info = info_path(service, method);
    let (params, topics) = topic_params(service, method);
    let (req, resp) = (&method.request, &method.response);
    let name = &method.ident;
    let doc = docs(&method.docs, &format!("Calls `{}`.", method.wire_name));
    let result = |ty: TokenStream| quote!(::core::result::Result<#ty, #cg::Error>);
    match method.kind {
        MethodKind::Subscription { .. } => {
            let sub = format_ident!("subscribe_{}", method.ident.to_string().trim_start_matches("r#"));
            let ret = result(quote!(#cg::TypedSubscription<#req>));
            let doc = docs(&method.docs, &format!("Subscribes to `{}`.", method.wire_name));
            quote! {
                #doc
                pub async fn #sub(&self, #params) -> #ret {
                    self.inner.subscribe(&#info, #topics).await
                }
            }
        }
        MethodKind::Stream(_) => {
            let ret = result(quote!(#cg::ClientStream<#req, #resp>));
            quote! {
                #doc
                pub async fn #name(&self, #params options: #cg::RequestOptions) -> #ret {
                    self.inner.open_stream(&#info, #topics, options).await
                }
            }
        }
        MethodKind::Multi { .. } => {
            let ret = result(quote!(#cg::MultiResponses<#resp>));
            quote! {
                #doc
                pub async fn #name(&self, #params request: &#req, options: #cg::RequestOptions) -> #ret {
                    self.inner.request_multi(&#info, #topics, request, options).await
                }
            }
        }
        MethodKind::Unary(_) => {
            let ret = result(quote!(#resp));
            quote! {
                #doc
                pub async fn #name(&self, #params request: &#req, options: #cg::RequestOptions) -> #ret {
                    ::core::result::Result::Ok(self.inner.request_single(&#info, #topics, request, options).await?.message)
                }
            }
        }
    }
}

/// Methods with one response per call: the ones a local value can stand in for.
fn single_response(service: &Service) -> impl Iterator<Item = &Method> {
    service.methods.iter().filter(|m| matches!(m.kind, MethodKind::Unary(_)))
}

/// `<Svc>Api`: a dyn-compatible trait over the single-response methods,
/// implemented by the client, so a local implementation and the remote
/// client are interchangeable behind `Arc<dyn <Svc>Api>` or a generic.
fn api(service: &Service) -> TokenStream {
    let cg = codegen(service);
    let vis = &service.vis;
    let api = format_ident!("{}Api", service.ident);
    let client = format_ident!("{}Client", service.ident);
    let doc = format!(
        "The `{}` calls with one response, as a dyn-compatible trait; [`{client}`] \
         implements it, and so can a local implementation.",
        service.wire_name
    );
    let ret = |m: &Method| {
        let resp = &m.response;
        quote!(#cg::futures_util::future::BoxFuture<'_, ::core::result::Result<#resp, #cg::Error>>)
    };
    let params = |m: &Method| {
        let topics = &m.topics;
        let types = topics.iter().map(|t| topic_type(service, m, t));
        quote!(#(#topics: #types,)*)
    };
    let decls = single_response(service).map(|m| {
        let (name, req, ret, params) = (&m.ident, &m.request, ret(m), params(m));
        let doc = docs(&m.docs, &format!("Calls `{}`.", m.wire_name));
        quote! {
            #doc
            fn #name(&self, #params request: #req) -> #ret;
        }
    });
    let impls = single_response(service).map(|m| {
        let (name, req, ret, params) = (&m.ident, &m.request, ret(m), params(m));
        let topics = &m.topics;
        quote! {
            fn #name(&self, #params request: #req) -> #ret {
                ::std::boxed::Box::pin(async move {
                    #client::#name(self, #(#topics,)* &request, #cg::RequestOptions::default()).await
                })
            }
        }
    });
    quote! {
        #[doc = #doc]
        #vis trait #api: ::core::marker::Send + ::core::marker::Sync {
            #(#decls)*
        }

        impl #api for #client {
            #(#impls)*
        }
    }
}

fn served(service: &Service) -> impl Iterator<Item = &Method> {
    service.methods.iter().filter(|m| !m.kind.is_subscription())
}

fn server_impl(service: &Service) -> TokenStream {
    let cg = codegen(service);
    let vis = &service.vis;
    let ident = format_ident!("{}ServerImpl", service.ident);
    let defaults = service.unimplemented_defaults;
    let doc = if defaults {
        format!(
            "The handlers a `{}` server runs. Every method has a default: handlers answer \
             `unimplemented`, affinity functions return -1 (the server never claims the call).",
            service.wire_name
        )
    } else {
        format!("The handlers a `{}` server runs.", service.wire_name)
    };
    let fns = served(service).map(|m| {
        let name = &m.ident;
        let (req, resp) = (&m.request, &m.response);
        let doc = docs(&m.docs, &format!("Handles `{}`.", m.wire_name));
        let future = |out: TokenStream| {
            quote!(impl ::core::future::Future<Output = ::core::result::Result<#out, #cg::Error>> + ::core::marker::Send)
        };
        let body = |unused: TokenStream| {
            if defaults {
                quote!({
                    let _ = #unused;
                    async { ::core::result::Result::Err(#cg::Error::unimplemented()) }
                })
            } else {
                quote!(;)
            }
        };
        let handler = if m.kind.is_stream() {
            let (ret, body) = (future(quote!(())), body(quote!(stream)));
            quote!(#doc fn #name(&self, stream: #cg::ServerStream<#resp, #req>) -> #ret #body)
        } else {
            let (ret, body) = (future(quote!(#resp)), body(quote!((ctx, request))));
            quote!(#doc fn #name(&self, ctx: #cg::RequestContext, request: #req) -> #ret #body)
        };
        let affinity = (m.kind.routing() == Routing::Affinity).then(|| {
            let aff = format_ident!("{}_affinity", m.ident.to_string().trim_start_matches("r#"));
            let doc = format!("This server's affinity for a `{}` request; negative: do not claim it.", m.wire_name);
            let body = |unused: TokenStream| if defaults { quote!({ let _ = #unused; -1.0 }) } else { quote!(;) };
            if m.kind.is_stream() {
                let body = body(quote!(ctx));
                quote!(#[doc = #doc] fn #aff(&self, ctx: &#cg::RequestContext) -> f32 #body)
            } else {
                let body = body(quote!((ctx, request)));
                quote!(#[doc = #doc] fn #aff(&self, ctx: &#cg::RequestContext, request: &#req) -> f32 #body)
            }
        });
        quote!(#handler #affinity)
    });
    quote! {
        #[doc = #doc]
        #vis trait #ident: ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#fns)*
        }
    }
}

fn server(service: &Service) -> TokenStream {
    let cg = codegen(service);
    let vis = &service.vis;
    let server = format_ident!("{}Server", service.ident);
    let server_impl = format_ident!("{}ServerImpl", service.ident);
    let wire = &service.wire_name;
    let doc = docs(&service.docs, &format!("A `{wire}` server: serves a [`{server_impl}`] over a bus."));
    let initial = served(service).filter(|m| !m.has_topics()).map(|m| {
        let register = register_call(service, m, quote!(::std::vec::Vec::new()));
        quote!(#register;)
    });
    let topic_fns = served(service).filter(|m| m.has_topics()).map(|m| {
        let (params, topics) = topic_params(service, m);
        let bare = m.ident.to_string();
        let bare = bare.trim_start_matches("r#");
        let register = format_ident!("register_{bare}_topic");
        let deregister = format_ident!("deregister_{bare}_topic");
        let call = register_call(service, m, topics.clone());
        let name = &m.wire_name;
        let rdoc = format!("Starts serving `{name}` on the given topics.");
        let ddoc = format!("Stops serving `{name}` on the given topics.");
        quote! {
            #[doc = #rdoc]
            pub async fn #register(&self, #params) -> ::core::result::Result<(), #cg::Error> {
                let svc = &self.svc;
                #call
            }

            #[doc = #ddoc]
            pub async fn #deregister(&self, #params) {
                self.server.deregister(#name, &#topics).await;
            }
        }
    });
    let publish_fns = service.methods.iter().filter(|m| m.kind.is_subscription()).map(|m| {
        let (params, topics) = topic_params(service, m);
        let publish = format_ident!("publish_{}", m.ident.to_string().trim_start_matches("r#"));
        let info = info_path(service, m);
        let req = &m.request;
        let doc = format!("Publishes to the subscribers of `{}`.", m.wire_name);
        let body = match &m.type_url {
            Some(url) => quote! {
                let payload = #cg::prost::Message::encode_to_vec(message);
                self.server.publish_raw(&#info, #topics, #url, &payload).await
            },
            None => quote!(self.server.publish(&#info, #topics, message).await),
        };
        quote! {
            #[doc = #doc]
            pub async fn #publish(&self, #params message: &#req) -> ::core::result::Result<(), #cg::Error> {
                #body
            }
        }
    });
    let group_fns = groups(service);
    quote! {
        #doc
        #vis struct #server<S: #server_impl> {
            server: #cg::RpcServer,
            svc: ::std::sync::Arc<S>,
        }

        impl<S: #server_impl> ::core::fmt::Debug for #server<S> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(::core::stringify!(#server)).field("server", &self.server).finish_non_exhaustive()
            }
        }

        impl<S: #server_impl> #server<S> {
            /// Starts serving every method without topics.
            pub async fn new(
                svc: S,
                bus: #cg::SharedBus,
                options: #cg::ServerOptions,
            ) -> ::core::result::Result<Self, #cg::Error> {
                let server = #cg::RpcServer::new(#wire, bus, options);
                let svc = ::std::sync::Arc::new(svc);
                {
                    let server = &server;
                    let svc = &svc;
                    #(#initial)*
                    let _ = (server, svc);
                }
                ::core::result::Result::Ok(Self { server, svc })
            }

            /// The underlying engine server.
            pub fn engine(&self) -> &#cg::RpcServer {
                &self.server
            }

            /// The implementation this server runs.
            pub fn service(&self) -> &::std::sync::Arc<S> {
                &self.svc
            }

            #(#topic_fns)*
            #(#publish_fns)*
            #group_fns

            /// Drains in-flight calls, then stops serving.
            pub async fn shutdown(&self) {
                self.server.shutdown().await;
            }

            /// Stops serving at once.
            pub async fn kill(&self) {
                self.server.kill().await;
            }
        }
    }
}

/// `register_all_<group>_topics` / `deregister_all_<group>_topics` for each
/// topic group of served methods; the group's first method names the topics.
fn groups(service: &Service) -> TokenStream {
    let cg = codegen(service);
    let grouped: Vec<&Method> = served(service).filter(|m| m.has_topics()).collect();
    let mut groups: Vec<&Ident> = Vec::new();
    for group in grouped.iter().filter_map(|m| m.group.as_ref()) {
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    let fns = groups.into_iter().map(|group| {
        let members: Vec<&Method> = grouped.iter().copied().filter(|m| m.group.as_ref() == Some(group)).collect();
        let first = members[0];
        let names = &first.topics;
        let (params, _) = topic_params(service, first);
        let types: Vec<TokenStream> = names.iter().map(|t| topic_type(service, first, t)).collect();
        let calls = |prefix: &str, then: TokenStream| -> Vec<TokenStream> {
            let f = |m: &Method| format_ident!("{prefix}_{}_topic", m.ident.to_string().trim_start_matches("r#"));
            members.iter().map(|m| f(m)).map(|f| quote!(self.#f(#(#names.clone()),*).await #then;)).collect()
        };
        let (register, deregister) = (calls("register", quote!(?)), calls("deregister", quote!()));
        let group = group.to_string();
        let group = group.trim_start_matches("r#");
        let all_register = format_ident!("register_all_{group}_topics");
        let all_deregister = format_ident!("deregister_all_{group}_topics");
        let rdoc = format!("Starts serving every `{group}` topic method on the given topics.");
        let ddoc = format!("Stops serving every `{group}` topic method on the given topics.");
        // Untyped topics arrive as `impl Into<String>`: made strings once,
        // then cloned for each member; newtypes are cloned as they are.
        let owned = (!first.typed).then(|| quote!(#(let #names: #types = #names.into();)*));
        quote! {
            #[doc = #rdoc]
            pub async fn #all_register(&self, #params) -> ::core::result::Result<(), #cg::Error> {
                #owned
                #(#register)*
                ::core::result::Result::Ok(())
            }

            #[doc = #ddoc]
            pub async fn #all_deregister(&self, #params) {
                #owned
                #(#deregister)*
            }
        }
    });
    quote!(#(#fns)*)
}

/// `server.register_…(…).await?` for one method; expects `server` (or
/// `self.server`) and `svc: &Arc<S>` in scope.
fn register_call(service: &Service, method: &Method, topics: TokenStream) -> TokenStream {
    let cg = codegen(service);
    let info = info_path(service, method);
    let name = &method.ident;
    let aff = format_ident!("{}_affinity", method.ident.to_string().trim_start_matches("r#"));
    let affine = method.kind.routing() == Routing::Affinity;
    let server = if method.has_topics() { quote!(self.server) } else { quote!(server) };
    let ret = if method.has_topics() { quote!() } else { quote!(?) };
    let none = quote!(::core::option::Option::None);
    if method.kind.is_stream() {
        let affinity = if affine {
            quote! {{
                let svc = ::std::sync::Arc::clone(svc);
                ::core::option::Option::Some(::std::sync::Arc::new(move |ctx: &#cg::RequestContext| svc.#aff(ctx)))
            }}
        } else {
            none
        };
        quote! {{
            let handler = ::std::sync::Arc::clone(svc);
            #server.register_stream(&#info, #topics, move |stream| {
                let handler = ::std::sync::Arc::clone(&handler);
                async move { handler.#name(stream).await }
            }, #affinity).await #ret
        }}
    } else {
        let req = &method.request;
        let affinity = if affine {
            quote! {{
                let svc = ::std::sync::Arc::clone(svc);
                ::core::option::Option::Some(::std::sync::Arc::new(
                    move |ctx: &#cg::RequestContext, request: &#req| svc.#aff(ctx, request),
                ))
            }}
        } else {
            none
        };
        quote! {{
            let handler = ::std::sync::Arc::clone(svc);
            #server.register_unary(&#info, #topics, move |ctx, request: #req| {
                let handler = ::std::sync::Arc::clone(&handler);
                async move { handler.#name(ctx, request).await }
            }, #affinity).await #ret
        }}
    }
}
