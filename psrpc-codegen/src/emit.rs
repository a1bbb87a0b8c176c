//! Turns a [`Service`] into client, server-trait and server code.

use heck::ToShoutySnakeCase;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use psrpc_method::{Delivery, MethodKind, Routing, Selection};

use crate::model::{Method, Service};

/// Emits `<Svc>Client`, `<Svc>ServerImpl` and `<Svc>Server` for `service`.
pub fn emit(service: &Service) -> TokenStream {
    let infos = service.methods.iter().map(|m| method_info(service, m));
    let client = client(service);
    let server_impl = server_impl(service);
    let server = server(service);
    let api = api(service);
    quote! {
        #(#infos)*
        #client
        #api
        #server_impl
        #server
    }
}

fn info_ident(service: &Service, method: &Method) -> Ident {
    format_ident!(
        "__{}_{}",
        service.ident.to_string().to_shouty_snake_case(),
        method.ident.to_string().to_shouty_snake_case()
    )
}

fn method_info(service: &Service, method: &Method) -> TokenStream {
    let ident = info_ident(service, method);
    let name = &method.wire_name;
    let kind = kind_tokens(method.kind);
    quote! {
        static #ident: ::psrpc::__codegen::MethodInfo = ::psrpc::__codegen::MethodInfo::new(#name, #kind);
    }
}

/// The expression building `kind` in generated code.
fn kind_tokens(kind: MethodKind) -> TokenStream {
    let selection = |selection: Selection| match selection {
        Selection::Queue { topics } => quote!(::psrpc::__codegen::Selection::Queue { topics: #topics }),
        Selection::Affinity { topics } => quote!(::psrpc::__codegen::Selection::Affinity { topics: #topics }),
        Selection::SingleServer => quote!(::psrpc::__codegen::Selection::SingleServer),
    };
    match kind {
        MethodKind::Unary(s) => {
            let s = selection(s);
            quote!(::psrpc::__codegen::MethodKind::Unary(#s))
        }
        MethodKind::Multi { topics } => quote!(::psrpc::__codegen::MethodKind::Multi { topics: #topics }),
        MethodKind::Stream(s) => {
            let s = selection(s);
            quote!(::psrpc::__codegen::MethodKind::Stream(#s))
        }
        MethodKind::Subscription { delivery, topics } => {
            let delivery = match delivery {
                Delivery::Every => quote!(Every),
                Delivery::Queue => quote!(Queue),
            };
            quote! {
                ::psrpc::__codegen::MethodKind::Subscription {
                    delivery: ::psrpc::__codegen::Delivery::#delivery,
                    topics: #topics,
                }
            }
        }
    }
}

/// `region: impl Into<String>, …` parameters and the `vec![…]` converting them.
fn topic_params(method: &Method) -> (TokenStream, TokenStream) {
    let names = &method.topics;
    (quote!(#(#names: impl ::core::convert::Into<::std::string::String>,)*), quote!(::std::vec![#(#names.into()),*]))
}

fn client(service: &Service) -> TokenStream {
    let client = format_ident!("{}Client", service.ident);
    let wire = &service.wire_name;
    let doc = format!("Client of the `{wire}` service.");
    let methods = service.methods.iter().map(|m| client_method(service, m));
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug)]
        pub struct #client {
            inner: ::psrpc::__codegen::RpcClient,
        }

        impl #client {
            /// Connects a client over `bus`.
            pub async fn new(
                bus: ::psrpc::__codegen::SharedBus,
                options: ::psrpc::__codegen::ClientOptions,
            ) -> ::core::result::Result<Self, ::psrpc::__codegen::Error> {
                ::core::result::Result::Ok(Self {
                    inner: ::psrpc::__codegen::RpcClient::new(#wire, bus, options).await?,
                })
            }

            /// The underlying engine client.
            pub fn engine(&self) -> &::psrpc::__codegen::RpcClient {
                &self.inner
            }

            #(#methods)*
        }
    }
}

fn client_method(service: &Service, method: &Method) -> TokenStream {
    let info = info_ident(service, method);
    let (params, topics) = topic_params(method);
    let (req, resp) = (&method.request, &method.response);
    let name = &method.ident;
    let doc = format!("Calls `{}`.", method.wire_name);
    let result = |ty: TokenStream| quote!(::core::result::Result<#ty, ::psrpc::__codegen::Error>);
    match method.kind {
        MethodKind::Subscription { .. } => {
            let sub = format_ident!("subscribe_{}", method.ident);
            let ret = result(quote!(::psrpc::__codegen::TypedSubscription<#req>));
            let doc = format!("Subscribes to `{}`.", method.wire_name);
            quote! {
                #[doc = #doc]
                pub async fn #sub(&self, #params) -> #ret {
                    self.inner.subscribe(&#info, #topics).await
                }
            }
        }
        MethodKind::Stream(_) => {
            let ret = result(quote!(::psrpc::__codegen::ClientStream<#req, #resp>));
            quote! {
                #[doc = #doc]
                pub async fn #name(
                    &self, #params options: ::psrpc::__codegen::RequestOptions,
                ) -> #ret {
                    self.inner.open_stream(&#info, #topics, options).await
                }
            }
        }
        MethodKind::Multi { .. } => {
            let ret = result(quote!(::psrpc::__codegen::MultiResponses<#resp>));
            quote! {
                #[doc = #doc]
                pub async fn #name(
                    &self, #params request: &#req, options: ::psrpc::__codegen::RequestOptions,
                ) -> #ret {
                    self.inner.request_multi(&#info, #topics, request, options).await
                }
            }
        }
        MethodKind::Unary(_) => {
            let ret = result(quote!(#resp));
            quote! {
                #[doc = #doc]
                pub async fn #name(
                    &self, #params request: &#req, options: ::psrpc::__codegen::RequestOptions,
                ) -> #ret {
                    ::core::result::Result::Ok(
                        self.inner.request_single(&#info, #topics, request, options).await?.message,
                    )
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
    let api = format_ident!("{}Api", service.ident);
    let client = format_ident!("{}Client", service.ident);
    let doc = format!(
        "The `{}` calls with one response, as a dyn-compatible trait; [`{client}`] \
         implements it, and so can a local implementation.",
        service.wire_name
    );
    let ret = |m: &Method| {
        let resp = &m.response;
        quote! {
            ::psrpc::__codegen::futures_util::future::BoxFuture<
                '_, ::core::result::Result<#resp, ::psrpc::__codegen::Error>,
            >
        }
    };
    let decls = single_response(service).map(|m| {
        let (name, req, ret) = (&m.ident, &m.request, ret(m));
        let topics = &m.topics;
        let doc = format!("Calls `{}`.", m.wire_name);
        quote! {
            #[doc = #doc]
            fn #name(&self, #(#topics: ::std::string::String,)* request: #req) -> #ret;
        }
    });
    let impls = single_response(service).map(|m| {
        let (name, req, ret) = (&m.ident, &m.request, ret(m));
        let topics = &m.topics;
        quote! {
            fn #name(&self, #(#topics: ::std::string::String,)* request: #req) -> #ret {
                ::std::boxed::Box::pin(async move {
                    #client::#name(
                        self, #(#topics,)* &request, ::psrpc::__codegen::RequestOptions::default(),
                    ).await
                })
            }
        }
    });
    quote! {
        #[doc = #doc]
        pub trait #api: ::core::marker::Send + ::core::marker::Sync {
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
    let ident = format_ident!("{}ServerImpl", service.ident);
    let doc = format!("The handlers a `{}` server runs.", service.wire_name);
    let fns = served(service).map(|m| {
        let name = &m.ident;
        let (req, resp) = (&m.request, &m.response);
        let doc = format!("Handles `{}`.", m.wire_name);
        let handler = if m.kind.is_stream() {
            quote! {
                #[doc = #doc]
                fn #name(
                    &self, stream: ::psrpc::__codegen::ServerStream<#resp, #req>,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<(), ::psrpc::__codegen::Error>,
                > + ::core::marker::Send;
            }
        } else {
            quote! {
                #[doc = #doc]
                fn #name(
                    &self, ctx: ::psrpc::__codegen::RequestContext, request: #req,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<#resp, ::psrpc::__codegen::Error>,
                > + ::core::marker::Send;
            }
        };
        let affinity = (m.kind.routing() == Routing::Affinity).then(|| {
            let aff = format_ident!("{}_affinity", m.ident);
            let doc = format!("This server's affinity for a `{}` request.", m.wire_name);
            if m.kind.is_stream() {
                quote!(#[doc = #doc] fn #aff(&self, ctx: &::psrpc::__codegen::RequestContext) -> f32;)
            } else {
                quote! {
                    #[doc = #doc]
                    fn #aff(&self, ctx: &::psrpc::__codegen::RequestContext, request: &#req) -> f32;
                }
            }
        });
        quote!(#handler #affinity)
    });
    quote! {
        #[doc = #doc]
        pub trait #ident: ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#fns)*
        }
    }
}

fn server(service: &Service) -> TokenStream {
    let server = format_ident!("{}Server", service.ident);
    let server_impl = format_ident!("{}ServerImpl", service.ident);
    let wire = &service.wire_name;
    let doc = format!("A `{wire}` server: serves a [`{server_impl}`] over a bus.");
    let initial = served(service).filter(|m| !m.has_topics()).map(|m| {
        let register = register_call(service, m, quote!(::std::vec::Vec::new()));
        quote!(#register;)
    });
    let topic_fns = served(service).filter(|m| m.has_topics()).map(|m| {
        let (params, topics) = topic_params(m);
        let register = format_ident!("register_{}_topic", m.ident);
        let deregister = format_ident!("deregister_{}_topic", m.ident);
        let call = register_call(service, m, topics.clone());
        let name = &m.wire_name;
        let rdoc = format!("Starts serving `{name}` on the given topics.");
        let ddoc = format!("Stops serving `{name}` on the given topics.");
        quote! {
            #[doc = #rdoc]
            pub async fn #register(&self, #params) -> ::core::result::Result<(), ::psrpc::__codegen::Error> {
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
        let (params, topics) = topic_params(m);
        let publish = format_ident!("publish_{}", m.ident);
        let info = info_ident(service, m);
        let req = &m.request;
        let doc = format!("Publishes to the subscribers of `{}`.", m.wire_name);
        quote! {
            #[doc = #doc]
            pub async fn #publish(&self, #params message: &#req) -> ::core::result::Result<(), ::psrpc::__codegen::Error> {
                self.server.publish(&#info, #topics, message).await
            }
        }
    });
    let group_fns = groups(service);
    quote! {
        #[doc = #doc]
        pub struct #server<S: #server_impl> {
            server: ::psrpc::__codegen::RpcServer,
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
                bus: ::psrpc::__codegen::SharedBus,
                options: ::psrpc::__codegen::ServerOptions,
            ) -> ::core::result::Result<Self, ::psrpc::__codegen::Error> {
                let server = ::psrpc::__codegen::RpcServer::new(#wire, bus, options);
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
            pub fn engine(&self) -> &::psrpc::__codegen::RpcServer {
                &self.server
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
    let grouped: Vec<&Method> = served(service).filter(|m| m.has_topics()).collect();
    let mut groups: Vec<&Ident> = Vec::new();
    for group in grouped.iter().filter_map(|m| m.group.as_ref()) {
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    let fns = groups.into_iter().map(|group| {
        let members: Vec<&Method> = grouped.iter().copied().filter(|m| m.group.as_ref() == Some(group)).collect();
        let names = &members[0].topics;
        let (params, _) = topic_params(members[0]);
        let register = members.iter().map(|m| {
            let f = format_ident!("register_{}_topic", m.ident);
            quote!(self.#f(#(#names.clone()),*).await?;)
        });
        let deregister = members.iter().map(|m| {
            let f = format_ident!("deregister_{}_topic", m.ident);
            quote!(self.#f(#(#names.clone()),*).await;)
        });
        let all_register = format_ident!("register_all_{}_topics", group);
        let all_deregister = format_ident!("deregister_all_{}_topics", group);
        let rdoc = format!("Starts serving every `{group}` topic method on the given topics.");
        let ddoc = format!("Stops serving every `{group}` topic method on the given topics.");
        quote! {
            #[doc = #rdoc]
            pub async fn #all_register(&self, #params) -> ::core::result::Result<(), ::psrpc::__codegen::Error> {
                #(let #names: ::std::string::String = #names.into();)*
                #(#register)*
                ::core::result::Result::Ok(())
            }

            #[doc = #ddoc]
            pub async fn #all_deregister(&self, #params) {
                #(let #names: ::std::string::String = #names.into();)*
                #(#deregister)*
            }
        }
    });
    quote!(#(#fns)*)
}

/// `server.register_…(…).await?` for one method; expects `server` (or
/// `self.server`) and `svc: &Arc<S>` in scope.
fn register_call(service: &Service, method: &Method, topics: TokenStream) -> TokenStream {
    let info = info_ident(service, method);
    let name = &method.ident;
    let aff = format_ident!("{}_affinity", method.ident);
    let affine = method.kind.routing() == Routing::Affinity;
    let server = if method.has_topics() { quote!(self.server) } else { quote!(server) };
    let ret = if method.has_topics() { quote!() } else { quote!(?) };
    if method.kind.is_stream() {
        let affinity = if affine {
            quote! {{
                let svc = ::std::sync::Arc::clone(svc);
                ::core::option::Option::Some(::std::sync::Arc::new(
                    move |ctx: &::psrpc::__codegen::RequestContext| svc.#aff(ctx),
                ))
            }}
        } else {
            quote!(::core::option::Option::None)
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
                    move |ctx: &::psrpc::__codegen::RequestContext, request: &#req| svc.#aff(ctx, request),
                ))
            }}
        } else {
            quote!(::core::option::Option::None)
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
