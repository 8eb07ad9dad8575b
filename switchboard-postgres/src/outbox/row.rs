//! An outbox row as the relay claims it, and the envelope it stands for.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use switchboard_core::{Envelope, Headers, InvalidInput, Subject};
use uuid::Uuid;

/// The columns the relay reads, in [`OutboxRow`]'s order.
pub(crate) const OUTBOX_COLUMNS: &str = "seq, id, subject, key, headers, payload, created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct OutboxRow {
    pub(crate) seq: i64,
    id: Uuid,
    subject: String,
    key: Option<String>,
    headers: Json<Value>,
    payload: Vec<u8>,
    created_at: DateTime<Utc>,
}

impl OutboxRow {
    /// The envelope as it was enqueued: same id, subject, key, headers, payload and time.
    pub(crate) fn envelope(self) -> Result<Envelope, InvalidInput> {
        let subject = Subject::new(&self.subject)?;
        let headers: Headers = match self.headers.0 {
            Value::Object(map) => map
                .into_iter()
                .filter_map(|(name, value)| match value {
                    Value::String(value) => Some((name, value)),
                    _ => None,
                })
                .collect(),
            _ => Headers::new(),
        };
        let msg = Envelope::new(subject, self.payload)
            .with_id(self.id)
            .with_headers(headers)
            .with_timestamp(self.created_at.into());
        Ok(match self.key {
            Some(key) => msg.with_key(key),
            None => msg,
        })
    }
}
