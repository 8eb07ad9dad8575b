//! [`PgEventStore`]: the [`EventStore`] on a [`PgPool`].

use std::{future::Future, sync::LazyLock};

use sqlx::{PgPool, types::Json};
use switchboard_core::{
    Cursor, Error, Event, EventId, EventStore, Inserted, NewEvent, Page, Result, store::page_limit,
};

use crate::{
    error::into_core,
    row::{EVENT_COLUMNS, EventRow},
};

/// Inserts one event; returns nothing when its idempotency key is already stored.
const INSERT: &str = "INSERT INTO events (source, topic, payload, idempotency_key) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (idempotency_key) DO NOTHING \
     RETURNING id";

const SELECT_ID_BY_KEY: &str = "SELECT id FROM events WHERE idempotency_key = $1";

const DELETE: &str = "DELETE FROM events WHERE id = $1";

static SELECT_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"));

static FIRST_PAGE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY id DESC LIMIT $1"));

static PAGE_BEFORE: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {EVENT_COLUMNS} FROM events WHERE id < $1 ORDER BY id DESC LIMIT $2")
});

/// How often an idempotent insert retries when the row holding its key is deleted between
/// the insert that found it and the select that reads its id.
const KEY_RACE_ATTEMPTS: usize = 5;

/// The [`EventStore`] on PostgreSQL: the `events` table of the schema the pool's
/// `search_path` selects (see [`PgConfig::schema`](crate::PgConfig::schema)).
///
/// - Ids come from a `BIGSERIAL`; pages are keyset-paginated on them, newest first.
/// - An insert whose idempotency key is stored already adds nothing and returns the existing
///   id with `created: false`; a unique index makes this hold under concurrent inserts.
/// - [`EventStore::insert_many`] writes a whole batch in one statement.
///
/// Cloning is cheap and shares the pool.
#[derive(Clone, Debug)]
pub struct PgEventStore {
    pool: PgPool,
}

impl PgEventStore {
    /// A store on `pool`. Run [`migrate`](crate::migrate) on the pool first.
    pub fn new(pool: PgPool) -> Self {
        PgEventStore { pool }
    }

    /// The pool this store uses.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn try_insert(&self, event: &NewEvent) -> Result<Option<i64>> {
        sqlx::query_scalar(INSERT)
            .bind(event.source())
            .bind(event.topic())
            .bind(Json(event.payload()))
            .bind(event.idempotency_key())
            .fetch_optional(&self.pool)
            .await
            .map_err(into_core)
    }

    async fn id_for_key(&self, key: &str) -> Result<Option<i64>> {
        sqlx::query_scalar(SELECT_ID_BY_KEY)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(into_core)
    }

    async fn insert_one(&self, event: NewEvent) -> Result<Inserted> {
        for _ in 0..KEY_RACE_ATTEMPTS {
            if let Some(id) = self.try_insert(&event).await? {
                tracing::debug!(topic = event.topic(), event_id = id, "inserted event");
                return Ok(Inserted {
                    id: EventId(id),
                    created: true,
                });
            }
            // Only an idempotency key can conflict: the row holding it is committed, so a new
            // statement sees it, unless it was deleted meanwhile; then insert again.
            let Some(key) = event.idempotency_key() else {
                return Err(Error::backend(
                    "insert without idempotency key returned no id",
                ));
            };
            if let Some(id) = self.id_for_key(key).await? {
                tracing::debug!(
                    topic = event.topic(),
                    event_id = id,
                    "idempotency key already stored"
                );
                return Ok(Inserted {
                    id: EventId(id),
                    created: false,
                });
            }
        }
        Err(Error::transient(format!(
            "the row holding idempotency key `{}` was deleted during each of {KEY_RACE_ATTEMPTS} insert attempts",
            event.idempotency_key().unwrap_or_default().escape_debug()
        )))
    }

    async fn get_one(&self, id: EventId) -> Result<Option<Event>> {
        let row: Option<EventRow> = sqlx::query_as(&SELECT_BY_ID)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(into_core)?;
        Ok(row.map(Event::from))
    }

    async fn delete_one(&self, id: EventId) -> Result<bool> {
        let done = sqlx::query(DELETE)
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(into_core)?;
        Ok(done.rows_affected() > 0)
    }

    async fn fetch_page(&self, before: Option<Cursor>, limit: u16) -> Result<Page> {
        let limit = page_limit(limit);
        let overfetch = i64::from(limit) + 1;
        let query = match before {
            None => sqlx::query_as(&FIRST_PAGE).bind(overfetch),
            Some(cursor) => sqlx::query_as(&PAGE_BEFORE)
                .bind(cursor.before_id().0)
                .bind(overfetch),
        };
        let rows: Vec<EventRow> = query.fetch_all(&self.pool).await.map_err(into_core)?;
        let events = rows.into_iter().map(Event::from).collect();
        Ok(Page::from_overfetch(events, limit))
    }
}

impl EventStore for PgEventStore {
    fn insert(&self, event: NewEvent) -> impl Future<Output = Result<Inserted>> + Send {
        self.insert_one(event)
    }

    fn get(&self, id: EventId) -> impl Future<Output = Result<Option<Event>>> + Send {
        self.get_one(id)
    }

    fn delete(&self, id: EventId) -> impl Future<Output = Result<bool>> + Send {
        self.delete_one(id)
    }

    fn page(
        &self,
        before: Option<Cursor>,
        limit: u16,
    ) -> impl Future<Output = Result<Page>> + Send {
        self.fetch_page(before, limit)
    }

    fn insert_many(
        &self,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<Vec<Inserted>>> + Send {
        self.insert_batch(events)
    }
}
