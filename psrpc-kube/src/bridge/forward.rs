//! Calls forwarded to a pod's gRPC server, and gRPC statuses mapped back to
//! psrpc errors.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::uri::PathAndQuery;
use psrpc_core::context::RequestContext;
use psrpc_core::error::{Error, ErrorCode, GrpcCode};
use psrpc_core::payload::RawPayload;
use psrpc_core::stream::ServerStream;
use tokio::sync::mpsc;
use tonic::client::Grpc;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::transport::Channel;

use crate::codec::BytesCodec;

/// A gRPC client for one pod.
pub(crate) type PodClient = Grpc<Channel>;

/// Forwards one unary call; the pod gets the caller's metadata and the time
/// left before the call's deadline.
pub(crate) async fn unary(
    mut client: PodClient,
    path: PathAndQuery,
    ctx: RequestContext,
    payload: Bytes,
) -> Result<RawPayload, Error> {
    client.ready().await.map_err(transport_error)?;
    let response = client.unary(request(&ctx, payload), path, BytesCodec).await.map_err(status_error)?;
    Ok(RawPayload(response.into_inner()))
}

/// Pipes a psrpc stream through a bidirectional gRPC stream until either
/// side ends it. Each direction runs on its own half of the psrpc stream, so
/// a pod that stops reading does not stall its answers, and a client slow to
/// acknowledge does not stall its messages. The handler's result is the
/// pod's status (a gRPC error closes the psrpc stream with its code), or the
/// psrpc stream's error when the client's side failed; an orderly end from
/// the client ends the gRPC call too.
pub(crate) async fn bidi(
    mut client: PodClient,
    path: PathAndQuery,
    stream: ServerStream<RawPayload, RawPayload>,
) -> Result<(), Error> {
    let (to_pod, outbound) = mpsc::channel::<Bytes>(16);
    let outbound = futures_util::stream::unfold(outbound, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    let mut request = tonic::Request::new(outbound);
    if let Some(ctx) = stream.context() {
        copy_metadata(ctx, &mut request);
    }
    client.ready().await.map_err(transport_error)?;
    let mut from_pod = client.streaming(request, path, BytesCodec).await.map_err(status_error)?.into_inner();
    let (sender, mut receiver) = stream.split();
    let to_client = async {
        while let Some(message) = from_pod.message().await.map_err(status_error)? {
            sender.send(&RawPayload(message)).await?;
        }
        Ok(())
    };
    let to_pod = async {
        while let Some(RawPayload(message)) = receiver.recv().await? {
            // Refused once the pod closed its side; its answer (or error)
            // then ends the call.
            let _ = to_pod.send(message).await;
        }
        Ok(())
    };
    tokio::select! {
        result = to_client => result,
        result = to_pod => result,
    }
}

/// Opens a server-streaming call and returns its messages.
pub(crate) async fn feed(
    mut client: PodClient,
    path: PathAndQuery,
    message: Bytes,
) -> Result<impl futures_util::Stream<Item = Result<Bytes, Error>>, Error> {
    client.ready().await.map_err(transport_error)?;
    let response =
        client.server_streaming(tonic::Request::new(message), path, BytesCodec).await.map_err(status_error)?;
    Ok(response.into_inner().map(|m| m.map_err(status_error)))
}

fn request(ctx: &RequestContext, payload: Bytes) -> tonic::Request<Bytes> {
    let mut request = tonic::Request::new(payload);
    copy_metadata(ctx, &mut request);
    let left = ctx.deadline().saturating_duration_since(tokio::time::Instant::now());
    request.set_timeout(left.max(Duration::from_millis(1)));
    request
}

/// psrpc metadata becomes gRPC metadata where the key and value are valid
/// ASCII metadata (others are dropped: gRPC cannot carry them).
fn copy_metadata<T>(ctx: &RequestContext, request: &mut tonic::Request<T>) {
    let metadata = request.metadata_mut();
    for (key, value) in ctx.metadata() {
        if let (Ok(key), Ok(value)) =
            (key.to_ascii_lowercase().parse::<AsciiMetadataKey>(), value.parse::<AsciiMetadataValue>())
        {
            metadata.insert(key, value);
        }
    }
}

/// The psrpc error for a gRPC status: the code by the gRPC mapping, the
/// status message kept, the status itself as the local source.
pub(crate) fn status_error(status: tonic::Status) -> Error {
    let code = ErrorCode::from_grpc(GrpcCode::from_i32(status.code() as i32));
    Error::new(code, status.message().to_owned()).with_source(status)
}

fn transport_error(error: tonic::transport::Error) -> Error {
    Error::new(ErrorCode::Unavailable, format!("pod unreachable: {error}")).with_source(error)
}
