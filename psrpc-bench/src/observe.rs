//! `--observe`: the observability installed on the measured client and
//! servers, to measure what it costs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use psrpc::observe::SharedObserver;
use psrpc::{ClientOptions, ServerOptions};
use psrpc_otel::Tracing;
use psrpc_prometheus::PsrpcMetrics;

/// What to install.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub(crate) enum Observe {
    /// Nothing.
    None,
    /// `psrpc-prometheus` as the observer of client and servers.
    Prometheus,
    /// `psrpc-otel` interceptors; spans sampled at `--otel-sampling` (parent
    /// based) and exported by the SDK's batch processor to a sink that
    /// counts them.
    Otel,
    /// Both.
    All,
}

/// An exporter that counts spans and drops them: the SDK's work up to the
/// wire, without a collector.
#[derive(Debug, Default)]
struct CountingSink(Arc<AtomicU64>);

impl SpanExporter for CountingSink {
    fn export(&self, batch: Vec<SpanData>) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

/// The installed stack of one measured setup.
pub(crate) struct Stack {
    metrics: Option<PsrpcMetrics>,
    tracing: Option<(Tracing, SdkTracerProvider)>,
    exported: Arc<AtomicU64>,
}

impl Stack {
    /// The stack of `observe`; traces are sampled at `sampling` (0 to 1).
    pub(crate) fn new(observe: Observe, sampling: f64) -> Self {
        let exported = Arc::new(AtomicU64::new(0));
        let metrics = matches!(observe, Observe::Prometheus | Observe::All).then(PsrpcMetrics::livekit);
        let tracing = matches!(observe, Observe::Otel | Observe::All).then(|| {
            let config = BatchConfigBuilder::default()
                .with_max_queue_size(65_536)
                .with_scheduled_delay(Duration::from_millis(100))
                .build();
            let processor =
                BatchSpanProcessor::builder(CountingSink(Arc::clone(&exported))).with_batch_config(config).build();
            let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(sampling)));
            let provider = SdkTracerProvider::builder().with_span_processor(processor).with_sampler(sampler).build();
            (Tracing::with_provider(&provider), provider)
        });
        Stack { metrics, tracing, exported }
    }

    pub(crate) fn client(&self, options: ClientOptions) -> ClientOptions {
        self.stacked(options, ClientOptions::observer, Tracing::client_options)
    }

    pub(crate) fn server(&self, options: ServerOptions) -> ServerOptions {
        self.stacked(options, ServerOptions::observer, Tracing::server_options)
    }

    /// `options` with the metrics as observer (`observer` sets it) and the
    /// tracing (`traced` adds it), of those that are on.
    fn stacked<O>(&self, mut options: O, observer: fn(O, SharedObserver) -> O, traced: fn(&Tracing, O) -> O) -> O {
        if let Some(metrics) = &self.metrics {
            options = observer(options, Arc::new(metrics.clone()));
        }
        match &self.tracing {
            Some((tracing, _)) => traced(tracing, options),
            None => options,
        }
    }

    /// Spans exported so far (after flushing the batch processor).
    pub(crate) fn spans_exported(&self) -> u64 {
        if let Some((_, provider)) = &self.tracing {
            // A failed flush only leaves the count short.
            let _ = provider.force_flush();
        }
        self.exported.load(Ordering::Relaxed)
    }
}
