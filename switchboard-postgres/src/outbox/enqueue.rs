//! Writing envelopes into the outbox, inside the caller's transaction.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::{PgConnection, types::Json};
use switchboard_core::{
    Envelope, Result,
    outgoing::{Operation, Outgoing, Sends},
};

use crate::error::into_core;

/// Inserts the envelopes as arrays unnested side by side; an id already enqueued adds nothing.
const ENQUEUE: &str = "\
INSERT INTO outbox (id, subject, key, headers, payload, created_at)
SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::bytea[], $6::timestamptz[])
ON CONFLICT (id) DO NOTHING";

/// Enqueues `msg` on `conn`: pass the application's open transaction (`&mut *tx`), so the
/// message is relayed if and only if that transaction commits.
///
/// Enqueuing an envelope id twice stores it once.
pub async fn enqueue(conn: &mut PgConnection, msg: &Envelope) -> Result<()> {
    enqueue_many(conn, std::slice::from_ref(msg)).await
}

/// Enqueues `msgs` in one statement, in order (they are relayed in this order per key).
///
/// Each message gets a producer span (`enqueue <subject>`, `messaging.system = postgres`)
/// whose trace context is stored with it, so the relay's publish continues that trace.
pub async fn enqueue_many(conn: &mut PgConnection, msgs: &[Envelope]) -> Result<()> {
    if msgs.is_empty() {
        return Ok(());
    }
    let enqueues = Sends::new(Operation::Enqueue, SYSTEM);
    let outgoing: Vec<Outgoing<'_>> = msgs.iter().map(|msg| enqueues.open(msg)).collect();
    sqlx::query(ENQUEUE)
        .bind(msgs.iter().map(Envelope::id).collect::<Vec<_>>())
        .bind(
            msgs.iter()
                .map(|m| m.subject().as_str())
                .collect::<Vec<_>>(),
        )
        .bind(msgs.iter().map(Envelope::key).collect::<Vec<_>>())
        .bind(
            msgs.iter()
                .zip(&outgoing)
                .map(|(msg, out)| headers_json(msg, out))
                .collect::<Vec<_>>(),
        )
        .bind(
            msgs.iter()
                .map(|m| m.payload().as_ref())
                .collect::<Vec<_>>(),
        )
        .bind(
            msgs.iter()
                .map(|m| DateTime::<Utc>::from(m.timestamp()))
                .collect::<Vec<_>>(),
        )
        .execute(conn)
        .await
        .map_err(into_core)?;
    tracing::debug!(messages = msgs.len(), "enqueued in the outbox");
    outgoing.into_iter().for_each(Outgoing::sent);
    Ok(())
}

/// The `messaging.system` of the outbox's spans.
const SYSTEM: &str = "postgres";

fn headers_json(msg: &Envelope, out: &Outgoing<'_>) -> Json<Value> {
    let mut headers = msg.headers().clone();
    out.inject(&mut headers);
    let map: Map<String, Value> = headers
        .iter()
        .map(|(name, value)| (name.to_owned(), Value::from(value)))
        .collect();
    Json(Value::Object(map))
}
