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

/// A bidirectional stream handler that answers each note with its text and
/// the id of the server that handled it (`"hi from SERVER_ID"`): tests see
/// which instance a stream reached.
///
/// ```
/// use psrpc::{MethodInfo, MethodKind, RpcServer, Selection, ServerOptions};
/// use psrpc_integration_tests::talk;
/// static TALK: MethodInfo = MethodInfo::new("Talk", MethodKind::Stream(Selection::Queue { topics: false }));
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
/// let server = RpcServer::new("Chat", std::sync::Arc::new(psrpc::local::LocalBus::new()), ServerOptions::default());
/// server.register_stream(&TALK, (), talk, None).await?;
/// # Ok(()) }
/// ```
pub async fn talk(mut stream: psrpc::ServerStream<Note, Note>) -> Result<(), psrpc::Error> {
    while let Some(note) = stream.recv().await? {
        let server = stream.context().map(|c| c.server_id().to_owned()).unwrap_or_default();
        stream.send(&Note { text: format!("{} from {server}", note.text) }).await?;
    }
    Ok(())
}
