//! Cross-crate integration tests of psrpc-rs live in `tests/`; this library is empty.
