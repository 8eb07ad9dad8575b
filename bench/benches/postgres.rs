//! Postgres: `PgEventStore` against sqlx running the same SQL on the same pool (10
//! connections, the store's defaults), in a fresh database per run.
//!
//! - **insert**: one idempotent insert at a time, in 5 × `SB_BENCH_ROUNDS` short rounds (`ON CONFLICT (idempotency_key) DO NOTHING
//!   RETURNING id`), each with a key of its own, as the processor writes; p50 and p99.
//! - **keyset page**: 20 rows newest first, on page 1 and at a depth of 100,000 rows
//!   (`WHERE id < $cursor`), each side decoding every row; p50. The SDK's deep page is also
//!   held to its own page 1 (≤ 1.5×).
//!
//! Run with `cargo bench -p switchboard-bench --bench postgres` (`SB_BENCH_ROUNDS`, default 3;
//! `SB_BENCH_PG_OPS`, operations per side and round, default 2000; `SB_BENCH_PG_DEPTH`,
//! default 100000). `DATABASE_URL` names the server (default: the development one).

use std::time::Instant;

use serde_json::{Value, json};
use sqlx::{
    PgPool,
    types::{
        Json,
        chrono::{DateTime, Utc},
    },
};
use switchboard_bench::{
    Better, Database, Latencies, Sample, compare, number, print_header, rounds, within,
};
use switchboard_core::{Cursor, EventId, EventStore, NewEvent};
use switchboard_postgres::{PgConfig, PgEventStore};

const SOURCE: &str = "bench";
const TOPIC: &str = "switchboard.events";
const PAGE: u16 = 20;
/// Insert rounds per `SB_BENCH_ROUNDS`, each of `SB_BENCH_PG_OPS / INSERT_SPLIT` inserts.
const INSERT_SPLIT: usize = 5;

/// The SQL the store runs, written out again for the raw side.
const INSERT: &str = "INSERT INTO events (source, topic, payload, idempotency_key) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id";
const FIRST_PAGE: &str = "SELECT id, source, topic, payload, created_at, idempotency_key \
     FROM events ORDER BY id DESC LIMIT $1";
const PAGE_BEFORE: &str = "SELECT id, source, topic, payload, created_at, idempotency_key \
     FROM events WHERE id < $1 ORDER BY id DESC LIMIT $2";

type Row = (i64, String, String, Value, DateTime<Utc>, Option<String>);

/// Idempotency keys of one side, unique over all rounds.
struct Keys {
    prefix: String,
    next: u64,
}

impl Keys {
    fn new(side: &str) -> Keys {
        Keys {
            prefix: format!("bench/{side}/{}", uuid::Uuid::new_v4().simple()),
            next: 0,
        }
    }

    fn next(&mut self) -> String {
        self.next += 1;
        format!("{}/{}", self.prefix, self.next)
    }
}

async fn raw_inserts(pool: &PgPool, keys: &mut Keys, n: usize) -> Sample {
    let mut latencies = Latencies::with_capacity(n);
    for i in 0..n {
        let key = keys.next();
        let started = Instant::now();
        let id: Option<i64> = sqlx::query_scalar(INSERT)
            .bind(SOURCE)
            .bind(TOPIC)
            .bind(Json(json!({ "n": i })))
            .bind(&key)
            .fetch_optional(pool)
            .await
            .unwrap();
        latencies.push(started.elapsed());
        assert!(id.is_some(), "a fresh key inserts a row");
    }
    insert_figures(latencies)
}

async fn sdk_inserts(store: &PgEventStore, keys: &mut Keys, n: usize) -> Sample {
    let mut latencies = Latencies::with_capacity(n);
    for i in 0..n {
        let key = keys.next();
        let started = Instant::now();
        let event = NewEvent::new(SOURCE, TOPIC, json!({ "n": i }))
            .and_then(|event| event.with_idempotency_key(key))
            .unwrap();
        let inserted = store.insert(event).await.unwrap();
        latencies.push(started.elapsed());
        assert!(inserted.created, "a fresh key inserts a row");
    }
    insert_figures(latencies)
}

fn insert_figures(mut latencies: Latencies) -> Sample {
    vec![
        ("p50 µs", latencies.percentile_us(50.0)),
        ("p99 µs", latencies.percentile_us(99.0)),
    ]
}

async fn raw_pages(pool: &PgPool, deep: EventId, n: usize) -> Sample {
    let overfetch = i64::from(PAGE) + 1;
    let (mut first, mut deeper) = (Latencies::with_capacity(n), Latencies::with_capacity(n));
    for _ in 0..n {
        let started = Instant::now();
        let rows: Vec<Row> = sqlx::query_as(FIRST_PAGE)
            .bind(overfetch)
            .fetch_all(pool)
            .await
            .unwrap();
        first.push(started.elapsed());
        assert_eq!(rows.len(), overfetch as usize);
        let started = Instant::now();
        let rows: Vec<Row> = sqlx::query_as(PAGE_BEFORE)
            .bind(deep.0)
            .bind(overfetch)
            .fetch_all(pool)
            .await
            .unwrap();
        deeper.push(started.elapsed());
        assert_eq!(rows.len(), overfetch as usize);
    }
    page_figures(first, deeper)
}

async fn sdk_pages(store: &PgEventStore, deep: EventId, n: usize) -> Sample {
    let (mut first, mut deeper) = (Latencies::with_capacity(n), Latencies::with_capacity(n));
    for _ in 0..n {
        let started = Instant::now();
        let page = store.page(None, PAGE).await.unwrap();
        first.push(started.elapsed());
        assert_eq!(page.events.len(), usize::from(PAGE));
        let started = Instant::now();
        let page = store.page(Some(Cursor::after(deep)), PAGE).await.unwrap();
        deeper.push(started.elapsed());
        assert_eq!(page.events.len(), usize::from(PAGE));
    }
    page_figures(first, deeper)
}

fn page_figures(mut first: Latencies, mut deep: Latencies) -> Sample {
    vec![
        ("page 1 p50 µs", first.percentile_us(50.0)),
        ("deep p50 µs", deep.percentile_us(50.0)),
    ]
}

/// `rows` more events in one statement; returns the newest id.
async fn seed(pool: &PgPool, rows: usize) -> i64 {
    sqlx::query(
        "INSERT INTO events (source, topic, payload) \
         SELECT 'seed', 'switchboard.events', jsonb_build_object('n', g) \
         FROM generate_series(1, $1) AS g",
    )
    .bind(rows as i64)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE events").execute(pool).await.unwrap();
    sqlx::query_scalar("SELECT max(id) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    let rounds = rounds();
    let ops = number("SB_BENCH_PG_OPS", 2000).max(1);
    let depth = number("SB_BENCH_PG_DEPTH", 100_000).max(1);
    let database = Database::create().await;
    let pool = PgConfig::new(&database.url).connect().await.unwrap();
    switchboard_postgres::migrate(&pool).await.unwrap();
    let store = PgEventStore::new(pool.clone());
    let (mut raw_keys, mut sdk_keys) = (Keys::new("raw"), Keys::new("sdk"));

    print_header();
    // One round of each side first, not counted: connections opened, statements prepared.
    raw_inserts(&pool, &mut raw_keys, ops / 10 + 1).await;
    sdk_inserts(&store, &mut sdk_keys, ops / 10 + 1).await;
    // Each insert commits, and the commit's flush on a disk shared with other work drifts
    // over seconds: five times the rounds, each a fifth as long, interleave the sides finer.
    let insert_ops = (ops / INSERT_SPLIT).max(1);
    compare(
        "Postgres insert, one at a time, idempotency key (raw: sqlx, same SQL and pool)",
        rounds * INSERT_SPLIT,
        &[
            ("p50 µs", Better::Lower, 1.1),
            ("p99 µs", Better::Lower, 1.2),
        ],
        async || raw_inserts(&pool, &mut raw_keys, insert_ops).await,
        async || sdk_inserts(&store, &mut sdk_keys, insert_ops).await,
    )
    .await;

    // The deep page starts `depth` rows below the newest: enough rows for it and a full page.
    let newest = seed(&pool, depth + usize::from(PAGE) + 1).await;
    let deep = EventId(newest - depth as i64 + 1);
    raw_pages(&pool, deep, ops / 10 + 1).await;
    sdk_pages(&store, deep, ops / 10 + 1).await;
    let figures = compare(
        &format!("Postgres keyset page of {PAGE} rows (raw: sqlx, same SQL and pool)"),
        rounds,
        &[
            ("page 1 p50 µs", Better::Lower, 1.1),
            ("deep p50 µs", Better::Lower, 1.1),
        ],
        async || raw_pages(&pool, deep, ops).await,
        async || sdk_pages(&store, deep, ops).await,
    )
    .await;
    within(
        &format!("Postgres keyset page: SDK at depth {depth} ÷ SDK page 1 (raw column: page 1)"),
        "p50 µs",
        &figures[0].sdk,
        &figures[1].sdk,
        Better::Lower,
        1.5,
    );
    pool.close().await;
    database.drop().await;
}
