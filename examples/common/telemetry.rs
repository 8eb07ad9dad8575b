//! Tracing: human-readable in `dev` (coloured only on a terminal, and not under `NO_COLOR`),
//! JSON in `prod`; `RUST_LOG` filters the logs (default `info`).
//!
//! Spans always carry OpenTelemetry context, so the W3C trace context of incoming requests and
//! messages travels on through every transport. They are exported over OTLP (HTTP/protobuf)
//! only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the exporter reads the other standard
//! `OTEL_EXPORTER_OTLP_*` and `OTEL_BSP_*` variables too); otherwise nothing leaves the process.
//!
//! The spans made per message (sent, received or handled) and per HTTP request are `debug`, so
//! that logging at `info` builds none of them. Exporting asks for them ([`TRACE_SPANS`]);
//! without an exporter the tracer sees what the logs see (at `debug`, the request spans carry a
//! caller's trace context into every message; at `info` nothing is carried).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    Resource, runtime,
    trace::{SdkTracerProvider, span_processor_with_async_runtime::BatchSpanProcessor},
};
use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use super::config::RunEnv;

/// The variable that turns OTLP export on.
pub(crate) const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// What exporting adds to `RUST_LOG`'s directives: the messaging spans of every transport and
/// the HTTP request spans.
const TRACE_SPANS: &str =
    "switchboard_core::outgoing=debug,switchboard_core::trace=debug,switchboard::http=debug";

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
    let (provider, exporting) = provider(service);
    let logs = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    let traces = if exporting {
        format!("{logs},{TRACE_SPANS}")
    } else {
        logs.clone()
    };
    let dev = matches!(env, RunEnv::Dev).then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(coloured())
            .with_filter(filter(&logs))
    });
    let prod = matches!(env, RunEnv::Prod).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_filter(filter(&logs))
    });
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("switchboard"))
        .with_filter(filter(&traces));
    let installed = tracing_subscriber::registry()
        .with(dev)
        .with(prod)
        .with(otel)
        .try_init();
    if let Err(err) = installed {
        eprintln!("tracing was already initialised: {err}");
    }
    Telemetry { provider }
}

/// `directives` as a filter; a bad one is reported and skipped, as `RUST_LOG` always was.
fn filter(directives: &str) -> EnvFilter {
    EnvFilter::builder()
        .with_default_directive(tracing::level_filters::LevelFilter::INFO.into())
        .parse_lossy(directives)
}

/// Colours only for a person at a terminal who has not asked for none.
fn coloured() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The tracer provider, and whether it exports.
fn provider(service: &str) -> (SdkTracerProvider, bool) {
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    if std::env::var_os(OTLP_ENDPOINT).is_none_or(|endpoint| endpoint.is_empty()) {
        return (builder.build(), false);
    }
    match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
    {
        Ok(exporter) => (
            builder
                .with_span_processor(BatchSpanProcessor::builder(exporter, runtime::Tokio).build())
                .build(),
            true,
        ),
        Err(err) => {
            eprintln!("{OTLP_ENDPOINT} is set but the OTLP exporter failed to start: {err}");
            (builder.build(), false)
        }
    }
}
