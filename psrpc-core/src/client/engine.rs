//! The client's state, shared by its handles, its dispatcher and its calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use super::routes::Routes;
use super::targets::CallTargets;
use crate::error::Error;
use crate::info::{MethodInfo, RpcInfo};
use crate::options::{ClientOptions, RequestOptions, SelectionOptions};
use crate::outbound;
use crate::transport::bus::SharedBus;
use crate::transport::channel::Channel;
use crate::transport::envelope::Request;
use crate::transport::frame::Envelope;

#[derive(Debug)]
pub(crate) struct ClientInner {
    pub(crate) service: Arc<str>,
    pub(crate) id: String,
    pub(crate) bus: SharedBus,
    pub(crate) options: ClientOptions,
    pub(crate) routes: Arc<Routes>,
    pub(crate) closed: AtomicBool,
    /// Flips to `true` once; the dispatcher and streams watch it.
    pub(crate) shutdown: watch::Sender<bool>,
    /// Call descriptions and channels by method and topics.
    pub(crate) targets: CallTargets,
}

impl ClientInner {
    pub(crate) fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.shutdown.send_replace(true);
            self.routes.clear();
        }
    }

    pub(crate) fn ensure_open(&self) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) { Err(Error::client_closed()) } else { Ok(()) }
    }

    pub(crate) fn rpc_info(&self, method: &MethodInfo, topics: Vec<String>) -> RpcInfo {
        RpcInfo::new(Arc::clone(&self.service), method, topics)
    }

    /// Encodes `message` for `channel` (once) and publishes it, giving up
    /// with `deadline_exceeded` at the call's `deadline`: a publish that waits
    /// on the transport counts against the call's time like everything else.
    pub(crate) async fn publish<E: Envelope>(
        &self,
        channel: &Channel,
        message: &E,
        deadline: tokio::time::Instant,
    ) -> Result<(), Error> {
        tokio::time::timeout_at(deadline, outbound::publish(&*self.bus, channel, message))
            .await
            .map_err(|_| Error::request_timed_out())?
    }

    /// Publishes `request` as [`publish`](Self::publish) does, with
    /// `request_id` and this client's id as its ids.
    pub(crate) async fn publish_request(
        &self,
        channel: &Channel,
        request_id: &str,
        request: &Request,
        deadline: tokio::time::Instant,
    ) -> Result<(), Error> {
        let publish = outbound::publish_with_ids(&*self.bus, channel, (request_id, &self.id), request);
        tokio::time::timeout_at(deadline, publish).await.map_err(|_| Error::request_timed_out())?
    }

    /// The timeout of a call: the request's, else the client's, kept within the
    /// caller's deadline (the request's, else the calling task's).
    pub(crate) fn timeout(&self, options: &RequestOptions) -> std::time::Duration {
        crate::deadline::within(options.timeout.unwrap_or(self.options.timeout), options.deadline)
    }

    /// The selection of a call: the request's, else the method's default.
    pub(crate) fn selection(&self, method: &MethodInfo, options: &RequestOptions) -> SelectionOptions {
        options.selection.clone().unwrap_or_else(|| {
            if method.affinity_enabled() {
                SelectionOptions::best_affinity(self.options.selection_timeout)
            } else {
                SelectionOptions::first_available(self.options.selection_timeout)
            }
        })
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}
