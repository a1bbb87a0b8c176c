//! psrpc-rs code generation: one service model ([`Service`]) and one emitter
//! ([`emit`]) shared by the `#[psrpc::service]` trait macro and the `.proto`
//! front end (psrpc-build).
//!
//! Generated code refers only to `::psrpc::__codegen`, so users need no direct
//! dependency on the engine's support crates.

mod emit;
mod model;

pub use emit::emit;
pub use model::{Kind, Method, Routing, Service};
