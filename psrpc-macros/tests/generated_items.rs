//! What the macro generates beyond the calls themselves: unimplemented
//! defaults, the trait's visibility, a re-exported psrpc path, Go-CamelCased
//! wire names, and code without warnings (this file denies them).

#![deny(warnings)]

use std::sync::Arc;

use psrpc::{ClientOptions, ErrorCode, RequestContext, RequestOptions, ServerOptions, SharedBus};

/// A message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Note {
    /// Payload text.
    #[prost(string, tag = "1")]
    pub text: String,
}

/// A crate that reaches psrpc through a re-export.
mod reexport {
    pub(crate) use ::psrpc as rpc;
}

/// A private module: generated items keep the trait's `pub(crate)`, so the
/// test module below can name them.
mod service {
    use super::Note;

    /// Only `implemented` has a handler; the rest answer `unimplemented`.
    #[psrpc_macros::service(crate = "crate::reexport::rpc")]
    pub(crate) trait Partial {
        /// Implemented by the test.
        fn implemented(&self, note: Note) -> Note;
        /// Left to its default.
        fn left_out(&self, note: Note) -> Note;
        /// Left to its default, affinity included.
        #[psrpc(affinity)]
        fn left_out_affine(&self, note: Note) -> Note;
        /// A snake_case name goes on the wire CamelCased, as Go psrpc does.
        fn get_2fa_code(&self, note: Note) -> Note;
        /// Topics named like the generated parameters become `request_topic`
        /// and `options_topic`.
        #[psrpc(topics(request, options))]
        fn by_request(&self, note: Note) -> Note;
    }
}

use service::{PartialClient, PartialServer, PartialServerImpl};

struct Impl;

impl PartialServerImpl for Impl {
    async fn implemented(&self, _ctx: RequestContext, note: Note) -> Result<Note, psrpc::Error> {
        Ok(note)
    }
}

async fn setup() -> (PartialServer<Impl>, PartialClient) {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let server = PartialServer::new(Impl, bus.clone(), ServerOptions::default()).await.expect("server");
    let client = PartialClient::new(bus, ClientOptions::default()).await.expect("client");
    (server, client)
}

fn note(text: &str) -> Note {
    Note { text: text.into() }
}

#[tokio::test]
async fn methods_left_out_answer_unimplemented() {
    let (_server, client) = setup().await;
    assert_eq!(client.implemented(&note("a"), RequestOptions::default()).await.expect("implemented").text, "a");
    let err = client.left_out(&note("b"), RequestOptions::default()).await.expect_err("default handler");
    assert_eq!(err.code(), ErrorCode::Unimplemented, "{err}");
}

#[tokio::test(start_paused = true)]
async fn default_affinity_never_claims() {
    let (_server, client) = setup().await;
    let err = client.left_out_affine(&note("c"), RequestOptions::default()).await.expect_err("no server claims");
    assert_ne!(err.code(), ErrorCode::Unimplemented, "{err}");
}

#[tokio::test]
async fn topics_named_like_parameters_are_renamed() {
    let (server, client) = setup().await;
    server.register_by_request_topic("r", "o").await.expect("register");
    let err = client.by_request("r", "o", &note("e"), RequestOptions::default()).await.expect_err("default handler");
    assert_eq!(err.code(), ErrorCode::Unimplemented, "{err}");
}

#[tokio::test]
async fn wire_names_are_go_camel_case() {
    let (_server, client) = setup().await;
    // The server answers `Get_2FaCode` (protobuf-go's CamelCase of `get_2fa_code`):
    // a raw engine call with that name reaches the default handler.
    let info =
        psrpc::MethodInfo::new("Get_2FaCode", psrpc::MethodKind::Unary(psrpc::Selection::Queue { topics: false }));
    let err = client
        .engine()
        .request_single::<Note, Note>(&info, Vec::new(), &note("d"), RequestOptions::default())
        .await
        .expect_err("default handler");
    assert_eq!(err.code(), ErrorCode::Unimplemented, "{err}");
}
