//! The client engine: one [`RpcClient`] per service per process.
//!
//! A client subscribes to its three channels (responses, claims, stream
//! frames) once, and one dispatcher task routes every received envelope to
//! the call waiting for it by request or stream id. Calls wait on their own
//! futures: no task is spawned per call.
//!
//! This module only assembles; nothing below it names it. The client's
//! state (`ClientInner`) lives in `engine`, which every call module and the
//! dispatcher build on; [`RpcClient`], the handle users hold, lives in
//! `handle`. A call module whose result is a type of its own (`multi`:
//! [`MultiResponses`], `subscription`: [`TypedSubscription`]) works on the
//! engine and `handle` calls it, so the handle depends on those modules and
//! not the reverse; `single` and `stream` return nothing of their own and
//! add their methods to [`RpcClient`] directly.

mod dispatch;
mod engine;
mod first_claim;
mod handle;
mod multi;
mod routes;
mod sampling;
mod select;
mod single;
mod stream;
mod subscription;
mod targets;

pub use handle::RpcClient;
pub use multi::{MultiResponses, Response};
pub use subscription::TypedSubscription;
