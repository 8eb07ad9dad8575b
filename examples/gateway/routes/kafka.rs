//! Flow 5, Kafka: produce to `switchboard.events`; processed results over SSE.

use axum::{
    extract::State,
    response::{Html, Response},
};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use switchboard_core::{
    CONTENT_TYPE, Envelope, JSON, LogProducer, Pattern, Subject, Subscriber, trace,
};
use switchboard_flows::{EVENTS_TOPIC, Flow, PROCESSED_SUBJECT, ProcessedRecord, RecordStatus};

use super::pages::fragment;
use crate::{
    error::AppError,
    params::Params,
    sse,
    state::AppState,
    views::{Line, ResultView, render},
};

#[derive(Deserialize)]
pub(crate) struct ProduceForm {
    topic: Option<String>,
    key: Option<String>,
    payload: Option<String>,
}

/// `POST /kafka/produce` (topic, key, payload as JSON): the partition and offset.
pub(crate) async fn produce(
    State(s): State<AppState>,
    Params(form): Params<ProduceForm>,
) -> Result<Html<String>, AppError> {
    let topic = Subject::new(AppError::required(&form.topic, "topic")?)?;
    if topic.as_str() != EVENTS_TOPIC {
        return Err(AppError::bad_request(format!(
            "the processor consumes only `{EVENTS_TOPIC}`"
        )));
    }
    let payload = AppError::required(&form.payload, "payload")?;
    serde_json::from_str::<serde_json::Value>(payload)
        .map_err(|err| AppError::bad_request(format!("payload is not valid JSON: {err}")))?;
    let mut msg = Envelope::new(topic.clone(), payload.to_owned()).with_header(CONTENT_TYPE, JSON);
    let key = form.key.as_deref().map(str::trim).filter(|k| !k.is_empty());
    if let Some(key) = key {
        msg = msg.with_key(key);
    }
    let position = s.producer.append(msg).await?;
    s.firehose.emit(
        Flow::Kafka,
        "produce",
        json!({ "topic": topic.as_str(), "key": key, "partition": position.partition, "offset": position.offset }),
    );
    fragment(
        &ResultView::new("produced")
            .item("topic", &topic)
            .item("key", key.unwrap_or("(none)"))
            .item("partition", position.partition)
            .item("offset", position.offset),
    )
}

/// `GET /kafka/results`: SSE of the processor's results (`switchboard.processed`).
pub(crate) async fn results(State(s): State<AppState>) -> Result<Response, AppError> {
    let pattern = Pattern::new(PROCESSED_SUBJECT)?;
    let messages = s.bus_subscriber.subscribe(&pattern).await?;
    let system = s.bus_backend;
    let lines = sse::render_subscription(messages, "result", move |msg| {
        // The result's span continues the trace of the produce request that caused it.
        let _span = trace::consumer_span(system, "process", msg).entered();
        let record: ProcessedRecord = msg.decode_json().ok()?;
        let status = match (record.status, record.duplicate) {
            (_, true) => "duplicate",
            (RecordStatus::Invalid, _) => "invalid JSON, stored as a failure",
            _ => "stored",
        };
        render(&Line::new(
            Utc::now(),
            "kafka",
            &format!("event #{}", record.event_id),
            format!(
                "{} {}@{} · {status}",
                record.topic, record.partition, record.offset
            ),
        ))
    });
    Ok(sse::respond(lines, &s.shutdown))
}
