//! The Kafka flow end to end on the in-memory transports: produce → result on
//! `/kafka/results` → the row in `/events`.

use axum::http::StatusCode;
use switchboard_core::{Envelope, EventStore, LogProducer, Subject};

use super::{TestApp, assert_rejected, read_until};

#[tokio::test]
async fn produce_then_result_then_row() {
    let app = TestApp::new().await;
    let mut results = app.sse("/kafka/results").await;
    let produced = app
        .post(
            "/kafka/produce",
            "topic=switchboard.events&key=order-1&payload=%7B%22order%22%3A1%7D",
        )
        .await;
    assert_eq!(produced.status, StatusCode::OK, "{}", produced.body);
    assert!(produced.body.contains("partition") && produced.body.contains("offset"));
    let seen = read_until(&mut results, "stored").await;
    assert!(
        seen.contains("event: result") && seen.contains("event #1"),
        "{seen}"
    );
    let rows = app.get("/events").await;
    assert!(
        rows.body.contains("event-1") && rows.body.contains("kafka"),
        "{}",
        rows.body
    );
    assert!(rows.body.contains("{&#34;order&#34;:1}"), "{}", rows.body);
}

#[tokio::test]
async fn produce_rejects_bad_input_and_appends_nothing() {
    let app = TestApp::new().await;
    for (form, reason) in [
        (
            "topic=switchboard.events&payload=nope",
            "payload is not valid JSON",
        ),
        ("topic=switchboard.events", "missing field `payload`"),
        ("payload=1", "missing field `topic`"),
        (
            "topic=orders&payload=1",
            "the processor consumes only `switchboard.events`",
        ),
        ("topic=a..b&payload=1", "empty token"),
    ] {
        assert_rejected(
            &app.post("/kafka/produce", form).await,
            StatusCode::BAD_REQUEST,
            reason,
        );
    }
    // Nothing reached the log: the next record is the first one.
    let position = app
        .backends
        .log
        .producer
        .append(Envelope::new(Subject::new("switchboard.events").unwrap(), "{}").with_key("k"))
        .await
        .unwrap();
    assert_eq!(position.offset, 0);
}

#[tokio::test]
async fn invalid_record_shows_as_a_failure() {
    let app = TestApp::new().await;
    let mut results = app.sse("/kafka/results").await;
    let mut firehose = app.sse("/firehose/stream").await;
    app.backends
        .log
        .producer
        .append(Envelope::new(
            Subject::new("switchboard.events").unwrap(),
            "<not json>",
        ))
        .await
        .unwrap();
    read_until(&mut results, "invalid JSON, stored as a failure").await;
    let seen = read_until(&mut firehose, "invalid").await;
    assert!(seen.contains("processor"));
    let page = app.backends.store.store.page(None, 10).await.unwrap();
    assert_eq!(page.events[0].payload["failure"]["raw"], "<not json>");
}
