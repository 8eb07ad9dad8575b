//! The `events` row as sqlx decodes it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use switchboard_core::{Event, EventId};

/// The columns every read selects, in [`EventRow`]'s order.
pub(crate) const EVENT_COLUMNS: &str = "id, source, topic, payload, created_at, idempotency_key";

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: i64,
    source: String,
    topic: String,
    payload: Value,
    created_at: DateTime<Utc>,
    idempotency_key: Option<String>,
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Event {
            id: EventId(row.id),
            source: row.source,
            topic: row.topic,
            payload: row.payload,
            created_at: row.created_at,
            idempotency_key: row.idempotency_key,
        }
    }
}
