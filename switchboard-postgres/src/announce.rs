//! [`AnnounceInsert`] on Postgres: the row and its announcement commit in one transaction,
//! the announcement through the [`outbox`](crate::outbox).

use std::sync::LazyLock;

use sqlx::types::Json;
use switchboard_core::{
    Event, NewEvent, Result, Subject,
    announce::{AnnounceInsert, announcement},
};

use crate::{
    PgEventStore,
    error::into_core,
    outbox,
    row::{EVENT_COLUMNS, EventRow},
};

static INSERT_RETURNING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO events (source, topic, payload, idempotency_key) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING {EVENT_COLUMNS}"
    )
});

static SELECT_BY_KEY: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {EVENT_COLUMNS} FROM events WHERE idempotency_key = $1"));

impl AnnounceInsert for PgEventStore {
    async fn insert_announced(&self, event: NewEvent, subject: &Subject) -> Result<Event> {
        let mut tx = self.pool().begin().await.map_err(into_core)?;
        let row: Option<EventRow> = sqlx::query_as(&INSERT_RETURNING)
            .bind(event.source())
            .bind(event.topic())
            .bind(Json(event.payload()))
            .bind(event.idempotency_key())
            .fetch_optional(&mut *tx)
            .await
            .map_err(into_core)?;
        let Some(row) = row else {
            // Only an idempotency key conflicts: that row was announced when it was stored.
            let existing: EventRow = sqlx::query_as(&SELECT_BY_KEY)
                .bind(event.idempotency_key())
                .fetch_one(&mut *tx)
                .await
                .map_err(into_core)?;
            return Ok(existing.into());
        };
        let stored = Event::from(row);
        outbox::enqueue(&mut tx, &announcement(subject, &stored)?).await?;
        tx.commit().await.map_err(into_core)?;
        tracing::debug!(event_id = stored.id.0, subject = %subject, "inserted and announced through the outbox");
        Ok(stored)
    }
}
