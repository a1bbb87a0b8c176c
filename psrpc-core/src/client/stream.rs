//! Opening a stream from the client.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::timeout_at;
use tracing::Instrument as _;

use super::handle::RpcClient;
use super::routes::RouteGuard;
use crate::deadline;
use crate::discovery::calls;
use crate::error::Error;
use crate::info::{Describes, Topics};
use crate::metadata::unix_nanos;
use crate::observe::Role;
use crate::options::{Call, RequestOptions};
use crate::payload::Payload;
use crate::stream::{ClientStream, RpcStream, StreamCore, StreamSetup, spawn_pump};
use crate::transport::envelope::{self, ClaimResponse, stream::Body};
use crate::transport::id;
use crate::{spans, user_code};

impl RpcClient {
    /// Opens a bidirectional stream with one server (selected through the
    /// claim exchange); resolves once the server acknowledged the open.
    ///
    /// `method` must be a stream method, and `options` may set only the
    /// fields streams use (see [`RequestOptions`]); otherwise the call fails
    /// `invalid_argument` before anything is published.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use psrpc::{ClientOptions, Method, MethodKind, RequestOptions, RpcClient, RpcServer, Selection, ServerOptions, ServerStream, SharedBus};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Line { #[prost(string, tag = "1")] text: String }
    /// static ECHO: Method<Line, Line> = Method::new("Echo", MethodKind::Stream(Selection::Queue { topics: false }));
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), psrpc::Error> {
    /// # let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    /// let server = RpcServer::new("Echo", bus.clone(), ServerOptions::default());
    /// let echo = |mut stream: ServerStream<Line, Line>| async move {
    ///     while let Some(line) = stream.recv().await? {
    ///         stream.send(&line).await?;
    ///     }
    ///     Ok(())
    /// };
    /// server.register_stream(&ECHO, (), echo, None).await?;
    ///
    /// let client = RpcClient::new("Echo", bus, ClientOptions::default()).await?;
    /// let mut stream = client.open_stream(&ECHO, (), RequestOptions::default()).await?;
    /// stream.send(&Line { text: "ping".into() }).await?;
    /// assert_eq!(stream.recv().await?, Some(Line { text: "ping".into() }));
    /// stream.close(None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn open_stream<Out: Payload, In: Payload>(
        &self,
        method: &impl Describes<Out, In>,
        topics: impl Into<Topics>,
        options: RequestOptions,
    ) -> Result<ClientStream<Out, In>, Error> {
        let (method, topics) = (method.method_info(), topics.into().into_vec());
        let client = self.inner();
        client.ensure_open()?;
        Call::Stream.admit(method, client.options.wire_mode, Some(&options))?;
        let sticky = calls::before_call(&client.options, &client.service, method, &topics, Some(&options))?;
        let info = client.rpc_info(method, topics);
        let timeout = client.timeout(&options);
        let deadline = deadline::after(timeout);
        let stream_id = id::new_stream_id();
        let request_id = id::new_request_id();
        let capacity = client.options.channel_capacity;

        let mut guard = RouteGuard::new(client.routes.clone());
        let mut frames = guard.stream(&stream_id.as_str().into(), capacity);
        let mut claims =
            client.options.wire_mode.require_claim(method).then(|| guard.claim(&request_id.as_str().into(), capacity));

        let mut metadata = options.metadata.clone();
        for interceptor in &client.options.stream_interceptors {
            let on_open = || interceptor.on_open(&info, &mut metadata);
            user_code::catch(&info, "stream interceptor", on_open)?;
        }
        crate::stream::announce(&mut metadata, client.options.stream_keepalive, &stream_id);
        let now = SystemTime::now();
        let open = envelope::Stream {
            stream_id: stream_id.clone(),
            request_id: request_id.clone(),
            sent_at: unix_nanos(now),
            expiry: deadline::expiry(now, timeout),
            body: Some(Body::Open(envelope::StreamOpen { node_id: client.id.clone(), metadata })),
        };
        let server_channel = info.stream_server_channel();
        // A psrpc-rs server sends a keepalive before its ack (see `stream::announce`).
        let mut server_keeps_alive = false;
        let span = spans::call(&info, "stream");
        span.record("request_id", request_id.as_str());
        let established = async {
            client.publish(&server_channel, &open, deadline).await?;

            if let Some(claims) = claims.as_mut() {
                let selection = sticky.map_or_else(|| client.selection(method, &options), |s| s.selection);
                let chosen = super::select::select_server(&info, claims, None, &selection, false, deadline).await?;
                guard.release_claims();
                // Stream opens never allow claim skipping, so the chosen
                // server always waits for this response (as in Go psrpc).
                let claim = ClaimResponse { request_id: request_id.clone(), server_id: chosen.server_id };
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
                        None => server_keeps_alive = true,
                        _ => {}
                    },
                }
            }
            Ok(())
        }
        .instrument(span.clone())
        .await;
        spans::outcome(&span, &established);
        established?;

        let (core, incoming) = StreamCore::new(StreamSetup {
            stream_id,
            info,
            bus: client.bus.clone(),
            peer_channel: server_channel,
            send_timeout: timeout,
            interceptors: client.options.stream_interceptors.clone(),
            observer: client.options.observer.clone().map(|o| (o, Role::Client)),
            keepalive: client.options.stream_keepalive,
            capacity,
            // The stream keeps its client (and so its dispatcher) alive until it closes.
            on_close: Box::new({
                let client = Arc::clone(client);
                move || drop((guard, client))
            }),
        });
        spawn_pump(core.clone(), frames, client.shutdown.subscribe(), Error::client_closed(), server_keeps_alive);
        Ok(RpcStream::new(core, incoming, None))
    }
}
