//! Opening a stream from the client.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::timeout_at;

use super::RpcClient;
use super::routes::RouteGuard;
use crate::deadline;
use crate::discovery::calls;
use crate::error::Error;
use crate::info::MethodInfo;
use crate::metadata::unix_nanos;
use crate::options::{Call, RequestOptions};
use crate::payload::Payload;
use crate::stream::{ClientStream, RpcStream, StreamCore, StreamSetup, spawn_pump};
use crate::transport::envelope::{self, ClaimResponse, stream::Body};
use crate::transport::id;

impl RpcClient {
    /// Opens a bidirectional stream with one server (selected through the
    /// claim exchange); resolves once the server acknowledged the open.
    ///
    /// `method` must be a stream method, and `options` may set only the
    /// fields streams use (see [`RequestOptions`]); otherwise the call fails
    /// `invalid_argument` before anything is published.
    pub async fn open_stream<Out: Payload, In: Payload>(
        &self,
        method: &MethodInfo,
        topics: Vec<String>,
        options: RequestOptions,
    ) -> Result<ClientStream<Out, In>, Error> {
        let client = self.inner();
        client.ensure_open()?;
        Call::Stream.admit(method, Some(&options))?;
        let sticky = calls::before_call(&client.options, &client.service, method, &topics, Some(&options))?;
        let info = client.rpc_info(method, topics);
        let timeout = client.timeout(&options);
        let deadline = deadline::after(timeout);
        let stream_id = id::new_stream_id();
        let request_id = id::new_request_id();
        let capacity = client.options.channel_capacity;

        let mut guard = RouteGuard::new(client.routes.clone());
        let mut frames = guard.stream(&stream_id, capacity);
        let mut claims = method.require_claim().then(|| guard.claim(&request_id, capacity));

        let now = SystemTime::now();
        let open = envelope::Stream {
            stream_id: stream_id.clone(),
            request_id: request_id.clone(),
            sent_at: unix_nanos(now),
            expiry: deadline::expiry(now, timeout),
            body: Some(Body::Open(envelope::StreamOpen {
                node_id: client.id.clone(),
                metadata: options.metadata.clone(),
            })),
        };
        let server_channel = info.stream_server_channel();
        client.publish(&server_channel, &open, deadline).await?;

        if let Some(claims) = claims.as_mut() {
            let selection = sticky.map_or_else(|| client.selection(method, &options), |s| s.selection);
            let chosen = timeout_at(deadline, super::select::select_server(claims, None, &selection))
                .await
                .map_err(|_| Error::request_timed_out())??;
            guard.release_claims();
            let claim = ClaimResponse { request_id: request_id.clone(), server_id: chosen };
            client.publish(&info.claim_response_channel(), &claim, deadline).await?;
        }

        loop {
            match timeout_at(deadline, frames.recv()).await {
                Err(_) => return Err(Error::request_timed_out()),
                Ok(None) => return Err(Error::client_closed()),
                Ok(Some(frame)) => match frame.body {
                    Some(Body::Ack(_)) if frame.request_id == request_id => break,
                    Some(Body::Close(close)) => {
                        return Err(Error::from_wire(&close.code, close.error, Vec::new()));
                    }
                    _ => {}
                },
            }
        }

        let (core, incoming) = StreamCore::new(StreamSetup {
            stream_id,
            info,
            bus: client.bus.clone(),
            peer_channel: server_channel,
            send_timeout: timeout,
            interceptors: client.options.stream_interceptors.clone(),
            keepalive: client.options.stream_keepalive,
            capacity,
            // The stream keeps its client (and so its dispatcher) alive until it closes.
            on_close: Box::new({
                let client = Arc::clone(client);
                move || drop((guard, client))
            }),
        });
        spawn_pump(core.clone(), frames, client.shutdown.subscribe(), Error::client_closed());
        Ok(RpcStream::new(core, incoming, None))
    }
}
