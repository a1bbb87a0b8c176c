//! psrpc-rs in-process message bus: the embedded default, no broker.
