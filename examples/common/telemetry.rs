//! Tracing: human-readable in `dev`, JSON in `prod`; `RUST_LOG` filters (default `info`).
//!
//! Spans always carry OpenTelemetry context, so the W3C trace context of incoming requests and
//! messages travels on through every transport. They are exported over OTLP (HTTP/protobuf)
//! only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the exporter reads the other standard
//! `OTEL_EXPORTER_OTLP_*` and `OTEL_BSP_*` variables too); otherwise nothing leaves the process.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    Resource, runtime,
    trace::{SdkTracerProvider, span_processor_with_async_runtime::BatchSpanProcessor},
};
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

use super::config::RunEnv;

/// The variable that turns OTLP export on.
pub(crate) const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The installed tracer; [`Telemetry::shutdown`] exports the spans still buffered.
#[must_use = "shut it down on exit so the last spans are exported"]
pub(crate) struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Exports what is still buffered and stops the exporter.
    pub(crate) async fn shutdown(self) {
        // The provider blocks until its batch task (on this runtime) has flushed.
        let provider = self.provider;
        if let Ok(Err(err)) = tokio::task::spawn_blocking(move || provider.shutdown()).await {
            tracing::warn!(error = %err, "exporting the last spans failed");
        }
    }
}

/// Installs the global subscriber once; must run inside the Tokio runtime (the exporter's
/// batches are sent from a task).
pub(crate) fn init(env: RunEnv, service: &str) -> Telemetry {
    let provider = provider(service);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let dev = matches!(env, RunEnv::Dev).then(tracing_subscriber::fmt::layer);
    let prod = matches!(env, RunEnv::Prod)
        .then(|| tracing_subscriber::fmt::layer().json().flatten_event(true));
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("switchboard"));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(dev)
        .with(prod)
        .with(otel)
        .try_init();
    if let Err(err) = installed {
        eprintln!("tracing was already initialised: {err}");
    }
    Telemetry { provider }
}

fn provider(service: &str) -> SdkTracerProvider {
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    if std::env::var_os(OTLP_ENDPOINT).is_none_or(|endpoint| endpoint.is_empty()) {
        return builder.build();
    }
    match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
    {
        Ok(exporter) => builder
            .with_span_processor(BatchSpanProcessor::builder(exporter, runtime::Tokio).build())
            .build(),
        Err(err) => {
            eprintln!("{OTLP_ENDPOINT} is set but the OTLP exporter failed to start: {err}");
            builder.build()
        }
    }
}
