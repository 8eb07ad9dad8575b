//! `GET /metrics`: everything the libraries record (`switchboard_core::metric`), as Prometheus
//! text.

use std::sync::OnceLock;

use axum::{Router, http::header, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use switchboard_core::metric;

/// Request latency buckets, in seconds: in-memory round trips to slow remote ones.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// The process's recorder, installed on first use (call it at startup so recording starts
/// then). If another recorder was installed first, `/metrics` renders an empty one.
pub(crate) fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(metric::REQUEST_DURATION.into()),
                &LATENCY_BUCKETS,
            )
            .expect("the bucket list is not empty");
        let handle = match builder.install_recorder() {
            Ok(handle) => handle,
            Err(err) => {
                tracing::warn!(error = %err, "a metrics recorder was already installed");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        metric::describe();
        handle
    })
}

/// Adds `GET /metrics` to `router`.
pub(crate) fn route(router: Router) -> Router {
    router.route("/metrics", get(render))
}

async fn render() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
}
