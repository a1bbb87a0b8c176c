//! Test support for psrpc-rs: broker launchers, bus conformance and RPC suites.
