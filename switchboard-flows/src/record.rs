//! What the processor stores and publishes for one record.

use serde::{Deserialize, Serialize};

use switchboard_core::{EventId, Key, Position, Result, Topic};

/// How the processor handled a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordStatus {
    /// Valid JSON, stored as an event.
    Stored,
    /// Not valid JSON: stored as a [`RecordFailure`] and acked, never retried.
    Invalid,
}

/// The payload stored for a record that could not be processed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFailure {
    /// Why (`invalid_json`).
    pub kind: String,
    /// The parser's message.
    pub reason: String,
    /// The record's payload as text, cut to [`RecordFailure::MAX_RAW`] bytes.
    pub raw: String,
}

impl RecordFailure {
    /// The longest excerpt of the raw payload kept.
    pub const MAX_RAW: usize = 1024;

    /// A failure for a payload that is not JSON.
    pub fn invalid_json(reason: &serde_json::Error, payload: &[u8]) -> Self {
        let mut raw = String::from_utf8_lossy(payload).into_owned();
        if raw.len() > Self::MAX_RAW {
            let mut end = Self::MAX_RAW;
            while !raw.is_char_boundary(end) {
                end -= 1;
            }
            raw.truncate(end);
        }
        RecordFailure {
            kind: "invalid_json".to_owned(),
            reason: reason.to_string(),
            raw,
        }
    }
}

/// Published to `switchboard.processed` once a record is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessedRecord {
    /// The stored event.
    pub event_id: EventId,
    /// The record's topic.
    pub topic: String,
    /// The event source (`kafka`).
    pub source: String,
    /// Its partition.
    pub partition: u32,
    /// Its offset.
    pub offset: u64,
    /// Stored or stored as a failure.
    pub status: RecordStatus,
    /// `true` when this was a redelivery and the event already existed.
    pub duplicate: bool,
}

/// The idempotency key of a record: `<topic>/<partition>/<offset>`.
pub fn idempotency_key(topic: &Topic, position: Position) -> String {
    format!("{topic}/{}/{}", position.partition, position.offset)
}

/// The cache key of a topic's last payload: `last:<topic>`.
pub fn cache_key(topic: &Topic) -> Result<Key> {
    Ok(Key::new(format!("last:{topic}"))?)
}
