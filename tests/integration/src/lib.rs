//! Cross-crate integration tests of psrpc-rs live in `tests/integration/tests/`; this library
//! holds what several of them share.

/// The one message the integration tests send: a line of text.
///
/// ```
/// let note = psrpc_integration_tests::Note { text: "hi".into() };
/// assert_eq!(prost::Message::encode_to_vec(&note), b"\x0a\x02hi");
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct Note {
    /// The text.
    #[prost(string, tag = "1")]
    pub text: String,
}

impl prost::Name for Note {
    const NAME: &'static str = "Note";
    const PACKAGE: &'static str = "tests";
}
