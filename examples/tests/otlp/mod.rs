//! An in-process OTLP/HTTP receiver: collects the spans the services export.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::any_value,
};
use prost::Message;
use tokio::sync::Notify;

/// One exported span.
#[derive(Clone, Debug)]
pub(crate) struct Span {
    pub(crate) service: String,
    pub(crate) name: String,
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    pub(crate) parent_span_id: String,
}

#[derive(Default)]
struct Collected {
    spans: Mutex<Vec<Span>>,
    arrived: Notify,
}

/// A receiver listening on a loopback port.
pub(crate) struct Receiver {
    pub(crate) endpoint: String,
    collected: Arc<Collected>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let collected = Arc::new(Collected::default());
        let app = Router::new()
            .route("/v1/traces", post(export))
            .with_state(collected.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            endpoint,
            collected,
        }
    }

    /// Waits until `done` holds for the spans received so far; fails naming `what` after
    /// `limit`.
    pub(crate) async fn wait_for<T>(
        &self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&[Span]) -> Option<T>,
    ) -> T {
        let wait = async {
            loop {
                let arrived = self.collected.arrived.notified();
                if let Some(found) = done(&self.collected.spans.lock().unwrap()) {
                    return found;
                }
                arrived.await;
            }
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(found) => found,
            Err(_) => panic!(
                "no {what} within {limit:?}; spans received: {:#?}",
                self.collected.spans.lock().unwrap()
            ),
        }
    }
}

async fn export(State(collected): State<Arc<Collected>>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
    let mut spans = Vec::new();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(name) => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(Span {
                service: service.clone(),
                name: span.name,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
            });
        }
    }
    collected.spans.lock().unwrap().extend(spans);
    collected.arrived.notify_waiters();
    ExportTraceServiceResponse::default().encode_to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
