//! psrpc-rs NATS message bus (async-nats), wire-compatible with Go psrpc.
