//! psrpc facade.
