//! What the broker buses' interop tests share: the server a hand-built
//! Go-style request is sent to, that request, the checks of its reply, and
//! the call whose frames are captured.

use bytes::Bytes;
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::{Error, MethodInfo, MethodKind, RequestContext, RpcClient, RpcServer, Selection, SharedBus};
use psrpc_protocol::envelope::{Msg, Response};

use crate::handmade as pb;
use crate::rpc_suite::{Ping, Pong};

/// A multi method, `Everyone`.
pub static EVERYONE: MethodInfo = MethodInfo::new("Everyone", MethodKind::Multi { topics: false });

/// A queue single method, `Single`.
pub static SINGLE: MethodInfo = MethodInfo::new("Single", MethodKind::Unary(Selection::Queue { topics: false }));

/// The client id of the hand-built request, whose responses go to
/// `CLI_gopeer000000`.
pub const GO_PEER: &str = "CLI_gopeer000000";

/// The client id of [`capture_call`]'s client.
pub const CAPTURE_CLIENT: &str = "CLI_capture00000";

/// Answers `text` with "`text` from rust", naming the server.
///
/// ```
/// # async fn f(ctx: psrpc_core::RequestContext) {
/// let pong = psrpc_test_support::interop::from_rust(ctx, psrpc_test_support::rpc_suite::ping("hi")).await.unwrap();
/// assert_eq!(pong.text, "hi from rust");
/// # }
/// ```
pub async fn from_rust(ctx: RequestContext, p: Ping) -> Result<Pong, Error> {
    Ok(Pong { text: format!("{} from rust", p.text), server: ctx.server_id().into() })
}

/// A server of a service of its own (`Interop…`) on `bus`, answering
/// `method` with [`from_rust`]: the service's name and the server.
///
/// ```no_run
/// # async fn f(bus: psrpc_core::SharedBus) {
/// use psrpc_test_support::interop::{SINGLE, server};
/// let (svc, server) = server(bus, &SINGLE).await;
/// assert!(svc.starts_with("Interop"));
/// # let _ = server; }
/// ```
pub async fn server(bus: SharedBus, method: &'static MethodInfo) -> (String, RpcServer) {
    let svc = crate::unique_name("Interop");
    let server = RpcServer::new(svc.as_str(), bus, ServerOptions::default());
    server.register_unary(method, vec![], from_rust, None).await.expect("register");
    (svc, server)
}

/// A request frame built by hand as the Go peer [`GO_PEER`] sends it:
/// request `REQ_handmade0000` of a `Ping` "hello", routing key `channel`.
///
/// ```
/// let frame = psrpc_test_support::interop::go_style_request("");
/// assert!(frame.starts_with(b"\x0a\x24type.googleapis.com/internal.Request"));
/// ```
pub fn go_style_request(channel: &str) -> Vec<u8> {
    let mut ping = Vec::new();
    pb::bytes(1, b"hello", &mut ping);
    let request = pb::request("REQ_handmade0000", GO_PEER, true, &ping);
    pb::frame("type.googleapis.com/internal.Request", &request, channel)
}

/// Checks that `frame` is the reply of `server_id` to [`go_style_request`]:
/// a `Response` frame with no routing key, no error and the `Pong`
/// "hello from rust".
///
/// ```no_run
/// # fn f(frame: bytes::Bytes) {
/// psrpc_test_support::interop::assert_go_style_reply(frame, "SRV_someone00000");
/// # }
/// ```
pub fn assert_go_style_reply(frame: Bytes, server_id: &str) {
    let msg: Msg = prost::Message::decode(frame).expect("a Msg frame");
    assert_eq!(msg.type_url, "type.googleapis.com/internal.Response");
    assert_eq!(msg.channel, "", "client channels carry no routing key");
    let response: Response = prost::Message::decode(msg.value).expect("a Response");
    assert_eq!((response.request_id.as_str(), response.server_id.as_str()), ("REQ_handmade0000", server_id));
    assert_eq!(response.error, "");
    let pong: Pong = prost::Message::decode(response.raw_response).expect("a Pong");
    assert_eq!(pong.text, "hello from rust");
}

/// One [`SINGLE`] call of `svc` on `bus` by a client [`CAPTURE_CLIENT`]:
/// the frames whose names and bytes the interop tests check.
///
/// ```no_run
/// # async fn f(bus: psrpc_core::SharedBus) {
/// psrpc_test_support::interop::capture_call(bus, "Interop").await;
/// # }
/// ```
pub async fn capture_call(bus: SharedBus, svc: &str) {
    let client = RpcClient::new(svc, bus, ClientOptions::default().client_id(CAPTURE_CLIENT)).await.expect("client");
    let ping = Ping { text: "x".into(), delay_ms: 0 };
    client.request_single::<Ping, Pong>(&SINGLE, vec![], &ping, RequestOptions::default()).await.expect("reply");
}
