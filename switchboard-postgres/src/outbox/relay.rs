//! [`OutboxRelay`]: forwards committed outbox rows, in order per key, at least once.

use std::{future::Future, sync::LazyLock, time::Duration};

use sqlx::{PgPool, postgres::PgListener};
use switchboard_core::{Result, forward::Forward, report, trace};
use tracing::Instrument;

use super::row::{OUTBOX_COLUMNS, OutboxRow};
use crate::error::into_core;

/// The channel the outbox trigger notifies when rows are committed.
pub const OUTBOX_CHANNEL: &str = "switchboard_outbox";

/// Claims pending rows in order, skipping rows another relay holds, and keeps only rows with
/// no earlier pending row of their key outside the claim: so two relays never work one key at
/// once, and a key's rows go out in `seq` order.
static CLAIM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH claimed AS (
            SELECT {OUTBOX_COLUMNS} FROM outbox
            WHERE delivered_at IS NULL
            ORDER BY seq
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        SELECT {OUTBOX_COLUMNS} FROM claimed c
        WHERE c.key IS NULL OR NOT EXISTS (
            SELECT 1 FROM outbox o
            WHERE o.key = c.key AND o.delivered_at IS NULL AND o.seq < c.seq
              AND o.seq NOT IN (SELECT seq FROM claimed)
        )
        ORDER BY c.seq"
    )
});

const MARK: &str = "UPDATE outbox SET delivered_at = now() WHERE seq = ANY($1)";
const DELETE: &str = "DELETE FROM outbox WHERE seq = ANY($1)";

/// What becomes of a forwarded row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Kept, with `delivered_at` set (default): an audit trail, to be purged by the operator.
    Mark,
    /// Deleted.
    Delete,
}

/// Settings of an [`OutboxRelay`].
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Rows claimed, forwarded and marked per transaction.
    pub batch_size: u16,
    /// How often to look for rows when no notification came (a missed NOTIFY, rows held back
    /// behind another relay's key).
    pub poll_interval: Duration,
    /// Whether forwarded rows are marked or deleted.
    pub delivered: Delivered,
    /// Pause after a failed batch before the next try.
    pub retry_delay: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch_size: 100,
            poll_interval: Duration::from_secs(1),
            delivered: Delivered::Mark,
            retry_delay: Duration::from_millis(500),
        }
    }
}

/// What one batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Rows forwarded and marked.
    pub forwarded: usize,
    /// Rows claimed but held back: an earlier row of their key was another relay's, or a
    /// forward failed before them.
    pub held_back: usize,
}

/// Forwards committed outbox rows to a [`Forward`] destination (any `LogProducer` through
/// `Append`, any `Publisher` through `Publish`).
///
/// - **At least once.** A batch is claimed, forwarded and marked in one transaction; a relay
///   that dies before the commit leaves its rows pending and another relay (or itself, once
///   restarted) sends them again. Each keeps its envelope id, so a deduplicating destination
///   (JetStream's `Nats-Msg-Id`; a consumer's `DedupeLayer` on Kafka's id header) keeps one copy.
/// - **In order per key.** Rows of one key go out in `seq` order, a batch stops at its first
///   failed forward, and no relay starts a key whose earlier row another relay holds.
///   Rows without a key are not ordered with each other.
/// - **Shared work.** Any number of relays run on one table: `FOR UPDATE SKIP LOCKED` gives
///   each row to one of them.
/// - **Woken by LISTEN/NOTIFY** on [`OUTBOX_CHANNEL`] when a transaction that enqueued commits;
///   [`RelayConfig::poll_interval`] catches what a notification missed.
#[derive(Clone, Debug)]
pub struct OutboxRelay<F> {
    pool: PgPool,
    destination: F,
    config: RelayConfig,
}

impl<F: Forward> OutboxRelay<F> {
    /// A relay of the outbox in `pool`'s schema to `destination`, with the default settings.
    pub fn new(pool: PgPool, destination: F) -> Self {
        OutboxRelay {
            pool,
            destination,
            config: RelayConfig::default(),
        }
    }

    /// Replaces the settings.
    pub fn with_config(mut self, config: RelayConfig) -> Self {
        self.config = config;
        self
    }

    /// Claims one batch, forwards it in order and marks (or deletes) what was forwarded, in
    /// one transaction.
    pub async fn relay_batch(&self) -> Result<BatchReport> {
        let mut tx = self.pool.begin().await.map_err(into_core)?;
        let rows: Vec<OutboxRow> = sqlx::query_as(&CLAIM)
            .bind(i64::from(self.config.batch_size.max(1)))
            .fetch_all(&mut *tx)
            .await
            .map_err(into_core)?;
        let claimed = rows.len();
        let mut done = Vec::with_capacity(claimed);
        let mut failure = None;
        for row in rows {
            let seq = row.seq;
            match row.envelope() {
                Ok(msg) => {
                    // The send continues the trace of the span that enqueued the row.
                    let span = trace::consumer_span("postgres", "process", &msg);
                    if let Err(err) = self.destination.forward(msg).instrument(span).await {
                        failure = Some(err);
                        break;
                    }
                }
                // Enqueue takes typed subjects only; a row written by hand that breaks the
                // rules can never be sent, and must not hold back its key forever.
                Err(bad) => {
                    tracing::error!(seq, error = %bad, "outbox row cannot be sent; dropped")
                }
            }
            done.push(seq);
        }
        if !done.is_empty() {
            let sql = match self.config.delivered {
                Delivered::Mark => MARK,
                Delivered::Delete => DELETE,
            };
            sqlx::query(sql)
                .bind(&done)
                .execute(&mut *tx)
                .await
                .map_err(into_core)?;
        }
        tx.commit().await.map_err(into_core)?;
        let report = BatchReport {
            forwarded: done.len(),
            held_back: claimed - done.len(),
        };
        if report.forwarded > 0 {
            tracing::debug!(forwarded = report.forwarded, "outbox batch relayed");
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(report),
        }
    }

    /// Relays batches until none is left, then waits for a notification or the poll
    /// interval, until `shutdown` resolves; returns how many rows it forwarded.
    pub async fn run(&self, shutdown: impl Future<Output = ()> + Send) -> Result<u64> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(into_core)?;
        listener.listen(OUTBOX_CHANNEL).await.map_err(into_core)?;
        tracing::info!(channel = OUTBOX_CHANNEL, "outbox relay listening");
        let mut forwarded = 0u64;
        loop {
            let pause = match self.drain(&mut forwarded).await {
                Ok(()) => self.config.poll_interval,
                Err(err) => {
                    tracing::warn!(error = %report(&err), "outbox batch failed; retrying");
                    self.config.retry_delay
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                notified = listener.recv() => {
                    if let Err(err) = notified {
                        tracing::warn!(error = %err, "outbox listener failed; polling until it reconnects");
                        tokio::time::sleep(self.config.retry_delay).await;
                    }
                }
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!(forwarded, "outbox relay stopped");
        Ok(forwarded)
    }

    /// Relays full batches back to back; stops at a short one.
    async fn drain(&self, forwarded: &mut u64) -> Result<()> {
        loop {
            let report = self.relay_batch().await?;
            *forwarded += report.forwarded as u64;
            if report.forwarded + report.held_back < usize::from(self.config.batch_size.max(1)) {
                return Ok(());
            }
        }
    }
}
