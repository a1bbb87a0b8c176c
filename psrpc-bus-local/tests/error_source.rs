//! An error's local source never travels: the caller gets the handler's
//! code, message and details, and no source.

use std::error::Error as _;
use std::sync::Arc;

use psrpc_bus_local::LocalBus;
use psrpc_core::options::{ClientOptions, RequestOptions, ServerOptions};
use psrpc_core::{Error, ErrorCode, MethodInfo, RequestContext, RpcClient, RpcServer, SharedBus};
use psrpc_test_support::rpc_suite::{Ping, Pong, ping};

static FAILING: MethodInfo =
    MethodInfo::new("Failing", psrpc_core::MethodKind::Unary(psrpc_core::Selection::Queue { topics: false }));

async fn fail(_: RequestContext, _: Ping) -> Result<Pong, Error> {
    let detail = prost_types::Duration { seconds: 7, nanos: 0 };
    Err(Error::new(ErrorCode::Internal, "could not store the order")
        .with_detail(&detail)
        .with_source(std::io::Error::other("disk full")))
}

#[tokio::test]
async fn the_callers_error_has_the_wire_fields_and_no_source() {
    let bus: SharedBus = Arc::new(LocalBus::new());
    let server = RpcServer::new("Errors", Arc::clone(&bus), ServerOptions::default());
    server.register_unary(&FAILING, vec![], fail, None).await.expect("register");
    let client = RpcClient::new("Errors", bus, ClientOptions::default()).await.expect("client");
    let err = client
        .request_single::<Ping, Pong>(&FAILING, vec![], &ping("x"), RequestOptions::default())
        .await
        .expect_err("the handler fails");
    assert_eq!((err.code(), err.message()), (ErrorCode::Internal, "could not store the order"));
    assert_eq!(err.detail::<prost_types::Duration>().map(|d| d.seconds), Some(7));
    assert!(err.source().is_none(), "the source stayed with the server: {:?}", err.source());
}
