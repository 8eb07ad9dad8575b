//! [`MemEventStore`]: the events table in process.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
};

use chrono::Utc;

use crate::{
    Error, Result,
    store::{Cursor, Event, EventId, EventStore, Inserted, NewEvent, Page, page_limit},
};

#[derive(Default)]
struct Table {
    last_id: i64,
    rows: BTreeMap<EventId, Event>,
    by_idempotency_key: HashMap<String, EventId>,
}

/// An in-process event store, bounded to `capacity` rows. Cheap to clone; clones share rows.
#[derive(Clone)]
pub struct MemEventStore {
    table: Arc<Mutex<Table>>,
    capacity: usize,
}

impl std::fmt::Debug for MemEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemEventStore")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Default for MemEventStore {
    fn default() -> Self {
        Self::with_capacity(1_000_000)
    }
}

impl MemEventStore {
    /// A store with room for 1,000,000 rows.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store with room for `capacity` rows.
    pub fn with_capacity(capacity: usize) -> Self {
        MemEventStore {
            table: Arc::default(),
            capacity,
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl EventStore for MemEventStore {
    async fn insert(&self, event: NewEvent) -> Result<Inserted> {
        let mut table = self.table();
        if let Some(&id) = event
            .idempotency_key()
            .and_then(|k| table.by_idempotency_key.get(k))
        {
            return Ok(Inserted { id, created: false });
        }
        if table.rows.len() >= self.capacity {
            return Err(Error::CapacityExceeded {
                what: "in-memory event store",
                capacity: self.capacity,
            });
        }
        table.last_id += 1;
        let id = EventId(table.last_id);
        if let Some(key) = event.idempotency_key() {
            table.by_idempotency_key.insert(key.to_owned(), id);
        }
        let row = Event {
            id,
            source: event.source().to_owned(),
            topic: event.topic().to_owned(),
            payload: event.payload().clone(),
            created_at: Utc::now(),
            idempotency_key: event.idempotency_key().map(str::to_owned),
        };
        table.rows.insert(id, row);
        Ok(Inserted { id, created: true })
    }

    async fn get(&self, id: EventId) -> Result<Option<Event>> {
        Ok(self.table().rows.get(&id).cloned())
    }

    async fn delete(&self, id: EventId) -> Result<bool> {
        let mut table = self.table();
        let Some(row) = table.rows.remove(&id) else {
            return Ok(false);
        };
        if let Some(key) = row.idempotency_key {
            table.by_idempotency_key.remove(&key);
        }
        Ok(true)
    }

    async fn page(&self, before: Option<Cursor>, limit: u16) -> Result<Page> {
        let limit = page_limit(limit)?;
        let table = self.table();
        let upper = before.map_or(EventId(i64::MAX), |c| c.before_id());
        let rows = table
            .rows
            .range(..upper)
            .rev()
            .take(usize::from(limit) + 1)
            .map(|(_, e)| e.clone())
            .collect();
        Ok(Page::from_overfetch(rows, limit))
    }
}
