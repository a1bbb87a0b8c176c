//! psrpc-rs Redis message bus (redis-rs), wire-compatible with Go psrpc.
