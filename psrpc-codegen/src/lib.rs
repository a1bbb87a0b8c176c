//! psrpc-rs code generation: one service model ([`Service`]) and one emitter
//! ([`emit`]) shared by the `#[psrpc::service]` trait macro and the `.proto`
//! front end (psrpc-build).
//!
//! Method kinds are psrpc-method's [`MethodKind`], the type the runtime uses
//! too; both front ends validate their options with [`MethodOptions::kind`],
//! so they accept and reject the same combinations with the same messages.
//!
//! Generated code refers only to `<psrpc>::__codegen` (`::psrpc` unless
//! [`Service::with_crate`] says otherwise), so users need no direct
//! dependency on the engine's support crates. Service and method names on
//! the wire follow Go psrpc's generator ([`go_camel_case`]).

mod emit;
mod model;
mod naming;

pub use emit::{emit, emit_topic_types, topic_type_ident};
pub use model::{InvalidMethod, InvalidOptions, Method, MethodOptions, Service};
pub use naming::go_camel_case;
pub use psrpc_method::{Delivery, MethodKind, Routing, Selection};
