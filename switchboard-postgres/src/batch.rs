//! [`EventStore::insert_many`](switchboard_core::EventStore::insert_many) in one statement.

use std::collections::HashMap;

use sqlx::types::Json;
use switchboard_core::{Error, EventId, EventStore, Inserted, NewEvent, Result};

use crate::{PgEventStore, error::into_core};

/// Inserts arrays of columns unnested side by side, numbered by `ord`. Ids are drawn in input
/// order before the insert so that each returned row can be matched to its input. A key that
/// was already stored before the statement began yields its existing id; a key committed by
/// a concurrent writer after that yields NULL, and that input is retried on its own.
///
/// Binds sources, topics, payloads (`jsonb`) and idempotency keys as four arrays; answers
/// `(ord, id, created)` per input. Public so that a raw sqlx client can run the very statement
/// [`EventStore::insert_many`] runs (the benchmarks compare against one).
pub const INSERT_BATCH: &str = "\
WITH input AS (
    SELECT t.ord, t.source, t.topic, t.payload, t.idempotency_key,
           nextval(pg_get_serial_sequence('events', 'id')) AS new_id
    FROM UNNEST($1::text[], $2::text[], $3::jsonb[], $4::text[])
         WITH ORDINALITY AS t(source, topic, payload, idempotency_key, ord)
),
inserted AS (
    INSERT INTO events (id, source, topic, payload, idempotency_key)
    SELECT new_id, source, topic, payload, idempotency_key FROM input ORDER BY ord
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
)
SELECT input.ord,
       COALESCE(inserted.id, existing.id) AS id,
       inserted.id IS NOT NULL AS created
FROM input
LEFT JOIN inserted ON inserted.id = input.new_id
LEFT JOIN events AS existing ON existing.idempotency_key = input.idempotency_key
ORDER BY input.ord";

/// Where an input's outcome comes from.
enum Slot {
    /// The `n`th row sent to the database (0-based).
    Sent(usize),
    /// A later input repeating the key of sent row `n`: it adds nothing.
    RepeatOf(usize),
}

impl PgEventStore {
    pub(crate) async fn insert_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Inserted>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // A key repeated within the batch is sent once; later copies report its outcome.
        let mut sent: Vec<&NewEvent> = Vec::with_capacity(events.len());
        let mut first_with_key: HashMap<&str, usize> = HashMap::new();
        let slots: Vec<Slot> = events
            .iter()
            .map(|event| match event.idempotency_key() {
                Some(key) if first_with_key.contains_key(key) => {
                    Slot::RepeatOf(first_with_key[key])
                }
                key => {
                    if let Some(key) = key {
                        first_with_key.insert(key, sent.len());
                    }
                    sent.push(event);
                    Slot::Sent(sent.len() - 1)
                }
            })
            .collect();

        let rows: Vec<(i64, Option<i64>, bool)> = sqlx::query_as(INSERT_BATCH)
            .bind(sent.iter().map(|e| e.source()).collect::<Vec<_>>())
            .bind(sent.iter().map(|e| e.topic()).collect::<Vec<_>>())
            .bind(sent.iter().map(|e| Json(e.payload())).collect::<Vec<_>>())
            .bind(sent.iter().map(|e| e.idempotency_key()).collect::<Vec<_>>())
            .fetch_all(self.pool())
            .await
            .map_err(into_core)?;

        if rows.len() != sent.len() {
            return Err(Error::backend(format!(
                "batch insert returned {} rows for {} events",
                rows.len(),
                sent.len()
            )));
        }
        let mut outcomes = Vec::with_capacity(sent.len());
        for ((ord, id, created), event) in rows.into_iter().zip(&sent) {
            debug_assert_eq!(
                ord,
                outcomes.len() as i64 + 1,
                "rows come back in input order"
            );
            outcomes.push(match id {
                Some(id) => Inserted {
                    id: EventId(id),
                    created,
                },
                None => EventStore::insert(self, (*event).clone()).await?,
            });
        }
        tracing::debug!(
            events = events.len(),
            created = outcomes.iter().filter(|o| o.created).count(),
            "inserted batch"
        );
        Ok(slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Sent(n) => outcomes[n],
                Slot::RepeatOf(n) => Inserted {
                    id: outcomes[n].id,
                    created: false,
                },
            })
            .collect())
    }
}
