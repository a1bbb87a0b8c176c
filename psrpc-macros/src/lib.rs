//! The `#[psrpc::service]` attribute macro.
//!
//! Put it on a trait whose methods each take one prost message and return
//! one; it expands to `<Trait>Client`, `<Trait>Api`, `<Trait>ServerImpl` and
//! `<Trait>Server` (see psrpc-codegen), with the trait's visibility and doc
//! comments. Method attributes select the kind:
//!
//! ```ignore
//! #[psrpc::service]
//! pub(crate) trait MyService {
//!     #[psrpc(name = "NormalRPC")]
//!     fn normal_rpc(&self, req: MyRequest) -> MyResponse;
//!     #[psrpc(affinity)]
//!     fn intensive_rpc(&self, req: MyRequest) -> MyResponse;
//!     #[psrpc(multi, topics(region))]
//!     fn get_region_stats(&self, req: MyRequest) -> MyResponse;
//!     #[psrpc(stream)]
//!     fn exchange_updates(&self, msg: MyClientMessage) -> MyServerMessage;
//!     #[psrpc(subscription, multi)]
//!     fn update_state(&self, update: MyUpdate);
//! }
//! ```
//!
//! A declaration reads as the service's shape (one message in, one out,
//! as a `.proto` `rpc` line), not as any one generated signature: the
//! client calls add topic arguments and `RequestOptions`, the
//! `<Trait>ServerImpl` handlers are `async`, take a `RequestContext` and
//! return a `Result`, a stream's handler takes a `ServerStream`, and a
//! subscription has no handler at all. Implement `<Trait>ServerImpl`.
//!
//! Names on the wire are Go psrpc's for the same names in a `.proto`: the
//! trait and method names CamelCased by protobuf-go's rule
//! (`get_region_stats` → `GetRegionStats`), unless `name = "..."` says
//! otherwise.
//!
//! Service options: `#[psrpc::service(name = "...")]` (the wire name),
//! `crate = "::path::to::psrpc"` (for crates that re-export psrpc; an
//! absolute path), `unimplemented_defaults = false` (no default handler
//! bodies: every method must be implemented; by default they answer
//! `unimplemented` and affinity functions return -1).
//!
//! Attribute combinations that describe no servable method (`stream` with
//! `multi`, `single_server` without `topics(...)`, a `subscription` that is
//! a `stream`, …) fail to compile with the message psrpc-build gives for the
//! same `.proto` options: both validate through psrpc-codegen.

mod parse;

use proc_macro::TokenStream;

/// Generates a psrpc client and server from a service trait.
#[proc_macro_attribute]
pub fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(item as syn::ItemTrait);
    parse::service_args(args.into())
        .and_then(|args| parse::service(&item, args))
        .map(|svc| psrpc_codegen::emit(&svc))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
