//! Misuse of `#[psrpc::service]` fails to compile with a clear message.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
