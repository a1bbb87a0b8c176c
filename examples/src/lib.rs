//! Runnable psrpc-rs examples: see the `[[example]]` targets of this package.
