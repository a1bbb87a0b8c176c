//! Re-exports for generated code.
