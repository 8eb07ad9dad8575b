//! Trace context from an HTTP request through the whole Kafka flow, on the in-memory transports.

use axum::http::{Method, StatusCode, header};
use switchboard_core::{Pattern, Subscriber, testkit::next_ok, testkit::traced, trace};
use switchboard_flows::PROCESSED_SUBJECT;

use super::TestApp;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[test]
fn traceparent_of_produce_reaches_the_processed_message() {
    traced::run(produce_under_a_traceparent());
}

async fn produce_under_a_traceparent() {
    let app = TestApp::new().await;
    let mut processed = app
        .backends
        .bus
        .subscriber
        .subscribe(&Pattern::new(PROCESSED_SUBJECT).unwrap())
        .await
        .unwrap();
    let req = app
        .request(Method::POST, "/kafka/produce")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .body("topic=switchboard.events&payload=%7B%7D".into())
        .unwrap();
    let produced = app.send(req).await;
    assert_eq!(produced.status, StatusCode::OK, "{}", produced.body);
    let msg = next_ok(
        &mut processed,
        std::time::Duration::from_secs(10),
        "the processed record",
    )
    .await;
    assert_eq!(
        trace::trace_id(msg.headers())
            .map(|id| id.to_string())
            .as_deref(),
        Some(TRACE_ID),
        "the produce request's trace did not reach {PROCESSED_SUBJECT}; headers: {:?}; spans: {:?}",
        msg.headers(),
        traced::ended()
            .iter()
            .map(|s| format!(
                "{} {}/{} ← {}",
                s.name,
                s.span_context.trace_id(),
                s.span_context.span_id(),
                s.parent_span_id
            ))
            .collect::<Vec<_>>()
    );
}
