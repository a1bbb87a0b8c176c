//! The engine's in-process entry point: a registered unary handler run for
//! a request that never went over the bus (local-first calls, see
//! `crate::local_first`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::error::Error;
use crate::metadata::Metadata;

/// One request handed to a local handler.
#[derive(Debug)]
pub(crate) struct LocalRequest {
    pub(crate) client_id: String,
    pub(crate) payload: Bytes,
    pub(crate) metadata: Metadata,
    pub(crate) timeout: Duration,
}

type RunHere = dyn Fn(LocalRequest) -> BoxFuture<'static, Result<Bytes, Error>> + Send + Sync;

/// Runs one request through a registered unary handler, in process.
#[derive(Clone)]
pub(crate) struct LocalHandler(Arc<RunHere>);

impl LocalHandler {
    pub(crate) fn new(
        run: impl Fn(LocalRequest) -> BoxFuture<'static, Result<Bytes, Error>> + Send + Sync + 'static,
    ) -> Self {
        LocalHandler(Arc::new(run))
    }

    pub(crate) async fn call(&self, request: LocalRequest) -> Result<Bytes, Error> {
        (self.0)(request).await
    }
}

impl std::fmt::Debug for LocalHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalHandler")
    }
}
