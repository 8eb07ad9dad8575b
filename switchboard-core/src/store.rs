//! Event store: events with idempotent insert and keyset pagination.
//!
//! # Semantics
//!
//! - Ids grow with every insert; pages list events newest first.
//! - [`EventStore::page`] is keyset-paginated: pass back the `next` cursor of a page to get the
//!   events just older than it. A walk through the pages lists every event committed before its
//!   first page was fetched exactly once, whatever is inserted meanwhile. (An insert still in
//!   flight during the walk may take an id the walk has passed; the next walk shows it.)
//! - An insert carrying an idempotency key that is already stored adds nothing and returns the
//!   existing id with `created: false`: an at-least-once consumer writes each event once.

use std::{fmt, future::Future, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{InvalidInput, Result, erased::dyn_twin};

/// The largest page [`EventStore::page`] returns; larger requests are capped to it.
pub const MAX_PAGE_SIZE: u16 = 100;
/// Longest `source` accepted.
pub const MAX_SOURCE_LEN: usize = 64;
/// Longest `topic` accepted.
pub const MAX_TOPIC_LEN: usize = 249;
/// Longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 512;

/// An event's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub i64);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for EventId {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, InvalidInput> {
        match s.parse::<i64>() {
            Ok(id) if id > 0 => Ok(EventId(id)),
            _ => Err(InvalidInput::name(
                "event id",
                s,
                "must be a positive integer",
            )),
        }
    }
}

/// An event to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    source: String,
    topic: String,
    payload: Value,
    idempotency_key: Option<String>,
}

fn check_text(what: &'static str, value: &str, max: usize) -> Result<(), InvalidInput> {
    if value.trim().is_empty() {
        Err(InvalidInput::Empty { what })
    } else if value.len() > max {
        Err(InvalidInput::TooLong {
            what,
            len: value.len(),
            max,
        })
    } else if value.chars().any(char::is_control) {
        Err(InvalidInput::name(
            what,
            value,
            "control characters are not allowed",
        ))
    } else {
        Ok(())
    }
}

impl NewEvent {
    /// Validates `source` (1–64 bytes) and `topic` (1–249 bytes); neither may hold control
    /// characters.
    pub fn new(
        source: impl Into<String>,
        topic: impl Into<String>,
        payload: Value,
    ) -> Result<Self, InvalidInput> {
        let (source, topic) = (source.into(), topic.into());
        check_text("source", &source, MAX_SOURCE_LEN)?;
        check_text("topic", &topic, MAX_TOPIC_LEN)?;
        Ok(NewEvent {
            source,
            topic,
            payload,
            idempotency_key: None,
        })
    }

    /// Like [`NewEvent::new`] with a payload given as JSON text; text that is not JSON is
    /// [`InvalidInput::NotJson`].
    pub fn from_json_text(
        source: impl Into<String>,
        topic: impl Into<String>,
        payload: &str,
    ) -> Result<Self, InvalidInput> {
        let payload = serde_json::from_str(payload).map_err(InvalidInput::NotJson)?;
        Self::new(source, topic, payload)
    }

    /// Makes the insert idempotent on `key`.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Result<Self, InvalidInput> {
        let key = key.into();
        check_text("idempotency key", &key, MAX_IDEMPOTENCY_KEY_LEN)?;
        self.idempotency_key = Some(key);
        Ok(self)
    }

    /// Where the event came from (`kafka`, `web`…).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Its topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Its JSON payload.
    pub fn payload(&self) -> &Value {
        &self.payload
    }

    /// Its idempotency key, if any.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Its id.
    pub id: EventId,
    /// Where it came from.
    pub source: String,
    /// Its topic.
    pub topic: String,
    /// Its JSON payload.
    pub payload: Value,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// Its idempotency key, if it was inserted with one.
    pub idempotency_key: Option<String>,
}

/// The outcome of an insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted {
    /// The id of the new row, or of the existing row with the same idempotency key.
    pub id: EventId,
    /// `false` when the idempotency key was already stored and nothing was added.
    pub created: bool,
}

/// A position in the newest-first listing. Opaque: pass back what a [`Page`] handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor(EventId);

impl Cursor {
    /// The cursor just after `id` in newest-first order (the next page starts below `id`).
    pub fn after(id: EventId) -> Self {
        Cursor(id)
    }

    /// The id the next page lists below.
    pub fn before_id(&self) -> EventId {
        self.0
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Cursor {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, InvalidInput> {
        s.parse::<EventId>()
            .map(Cursor)
            .map_err(|_| InvalidInput::InvalidCursor(s.escape_debug().take(64).collect()))
    }
}

/// One page of events, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The events.
    pub events: Vec<Event>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

impl Page {
    /// Builds a page from up to `limit + 1` rows fetched newest first: the extra row only tells
    /// that another page exists.
    pub fn from_overfetch(mut events: Vec<Event>, limit: u16) -> Page {
        let more = events.len() > usize::from(limit);
        events.truncate(usize::from(limit));
        let next = if more {
            events.last().map(|e| Cursor::after(e.id))
        } else {
            None
        };
        Page { events, next }
    }
}

/// Caps a requested page size to [`MAX_PAGE_SIZE`]; a size of 0 is
/// [`InvalidInput::OutOfRange`].
pub fn page_limit(limit: u16) -> Result<u16, InvalidInput> {
    if limit == 0 {
        return Err(InvalidInput::OutOfRange {
            what: "page size",
            min: 1,
            max: u64::from(MAX_PAGE_SIZE),
            got: 0,
        });
    }
    Ok(limit.min(MAX_PAGE_SIZE))
}

/// Stores events.
pub trait EventStore: Send + Sync {
    /// Inserts `event`, or returns the id of the row that already has its idempotency key.
    fn insert(&self, event: NewEvent) -> impl Future<Output = Result<Inserted>> + Send;

    /// The event with `id`.
    fn get(&self, id: EventId) -> impl Future<Output = Result<Option<Event>>> + Send;

    /// Deletes the event with `id`; `true` if it existed.
    fn delete(&self, id: EventId) -> impl Future<Output = Result<bool>> + Send;

    /// Up to `limit` events (capped to [`MAX_PAGE_SIZE`]) older than `before`, newest first.
    fn page(&self, before: Option<Cursor>, limit: u16)
    -> impl Future<Output = Result<Page>> + Send;

    /// Inserts many events; backends override this with one statement.
    fn insert_many(
        &self,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<Vec<Inserted>>> + Send {
        async move {
            let mut out = Vec::with_capacity(events.len());
            for event in events {
                out.push(self.insert(event).await?);
            }
            Ok(out)
        }
    }
}

dyn_twin! {
    /// A type-erased [`EventStore`].
    pub struct DynEventStore: EventStore via ErasedEventStore {
        fn insert(&self, event: NewEvent) -> Result<Inserted>;
        fn insert_many(&self, events: Vec<NewEvent>) -> Result<Vec<Inserted>>;
        fn get(&self, id: EventId) -> Result<Option<Event>>;
        fn delete(&self, id: EventId) -> Result<bool>;
        fn page(&self, before: Option<Cursor>, limit: u16) -> Result<Page>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_parse_is_typed() {
        assert_eq!("42".parse::<Cursor>().unwrap().before_id(), EventId(42));
        for bad in ["", "-1", "0", "abc", "1e3"] {
            assert!(
                matches!(bad.parse::<Cursor>(), Err(InvalidInput::InvalidCursor(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn new_event_validation() {
        assert!(NewEvent::new("", "t", Value::Null).is_err());
        assert!(NewEvent::new("web", "t\n", Value::Null).is_err());
        assert!(matches!(
            NewEvent::from_json_text("web", "t", "{oops"),
            Err(InvalidInput::NotJson(_))
        ));
        assert!(NewEvent::from_json_text("web", "t", r#"{"a":1}"#).is_ok());
    }

    #[test]
    fn page_limit_is_capped() {
        assert!(page_limit(0).is_err());
        assert_eq!(page_limit(5000).unwrap(), MAX_PAGE_SIZE);
    }
}
