//! PgEventStore beyond the conformance kit: the one-statement batch insert, typed bad input,
//! and failing loudly when the server is down.

mod common;

use std::{collections::HashMap, time::Duration};

use common::TestSchema;
use serde_json::json;
use switchboard_core::{
    Cursor, Error, ErrorKind, EventId, EventStore, InvalidInput, NewEvent, store::MAX_PAGE_SIZE,
};
use switchboard_postgres::{PgConfig, PgError, PgEventStore};

fn event(n: usize) -> NewEvent {
    NewEvent::new("test", "store.events", json!({ "n": n })).unwrap()
}

fn keyed(n: usize, key: &str) -> NewEvent {
    event(n).with_idempotency_key(key).unwrap()
}

async fn count(store: &PgEventStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn store() -> (PgEventStore, TestSchema) {
    let schema = TestSchema::migrated().await;
    (PgEventStore::new(schema.pool.clone()), schema)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_outcomes_follow_input_order_and_keys() {
    let (store, _schema) = store().await;
    let existing = store.insert(keyed(0, "old")).await.unwrap();
    let batch = vec![
        keyed(1, "a"),
        event(2),
        keyed(3, "a"),   // repeats a key of this batch
        keyed(4, "old"), // repeats a stored key
        event(5),
        keyed(6, "b"),
    ];
    let out = store.insert_many(batch).await.unwrap();
    assert_eq!(out.len(), 6);
    let created: Vec<bool> = out.iter().map(|o| o.created).collect();
    assert_eq!(created, [true, true, false, false, true, true]);
    assert_eq!(out[2].id, out[0].id, "a repeated key reports the first row");
    assert_eq!(
        out[3].id, existing.id,
        "a stored key reports the stored row"
    );
    let new_ids = [out[0].id, out[1].id, out[4].id, out[5].id];
    assert!(
        new_ids.windows(2).all(|w| w[0] < w[1]),
        "ids grow in input order: {new_ids:?}"
    );
    for (o, n) in [(out[0], 1), (out[1], 2), (out[4], 5), (out[5], 6)] {
        let row = store.get(o.id).await.unwrap().unwrap();
        assert_eq!(
            row.payload,
            json!({ "n": n }),
            "row {} holds input {n}",
            o.id
        );
    }
    let old = store.get(existing.id).await.unwrap().unwrap();
    assert_eq!(old.payload, json!({ "n": 0 }), "the first write wins");
    assert_eq!(count(&store).await, 5);
    assert!(store.insert_many(Vec::new()).await.unwrap().is_empty());
}

/// Batches sharing keys, written concurrently: each key lands once and every outcome names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_with_shared_keys_store_each_key_once() {
    let (store, _schema) = store().await;
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let batch: Vec<NewEvent> = (0..50)
                    .map(|i| keyed(t * 100 + i, &format!("k{}", (i + t) % 60)))
                    .collect();
                let keys: Vec<String> = (0..50).map(|i| format!("k{}", (i + t) % 60)).collect();
                let out = store.insert_many(batch).await.unwrap();
                keys.into_iter().zip(out).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: HashMap<String, EventId> = HashMap::new();
    let mut created = 0;
    for task in tasks {
        for (key, outcome) in task.await.unwrap() {
            created += usize::from(outcome.created);
            let id = *ids.entry(key.clone()).or_insert(outcome.id);
            assert_eq!(id, outcome.id, "key {key} reported two ids");
        }
    }
    assert_eq!(created, ids.len(), "exactly one insert per key creates");
    assert_eq!(count(&store).await, ids.len() as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_payload_is_typed_bad_input_and_stores_nothing() {
    let (store, _schema) = store().await;
    let bad = NewEvent::new("test", "t", json!({ "text": "a\u{0}b" })).unwrap();
    let err = store.insert(bad.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("NUL"), "{err}");

    let err = store
        .insert_many(vec![event(1), bad, event(2)])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    assert_eq!(count(&store).await, 0, "a rejected batch stores nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraint_violation_is_typed_bad_input() {
    let (store, _schema) = store().await;
    let err = sqlx::query("INSERT INTO events (source, topic) VALUES ('', 't')")
        .execute(store.pool())
        .await
        .unwrap_err();
    let err = Error::from(PgError::from(err));
    match &err {
        Error::InvalidInput(InvalidInput::InvalidName { value, .. }) => {
            assert_eq!(value, "events_source_check")
        }
        other => panic!("expected bad input, got {other:?}"),
    }
    assert!(err.to_string().contains("check constraint"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_and_page_sizes() {
    let (store, _schema) = store().await;
    for bad in ["", "0", "-5", "abc", "1.5", "99999999999999999999"] {
        assert!(
            matches!(bad.parse::<Cursor>(), Err(InvalidInput::InvalidCursor(_))),
            "{bad:?} must be a typed bad cursor"
        );
    }
    let out = store
        .insert_many((0..3).map(event).collect())
        .await
        .unwrap();
    let zero = store.page(None, 0).await.unwrap_err();
    assert!(
        matches!(
            zero,
            Error::InvalidInput(InvalidInput::OutOfRange {
                what: "page size",
                ..
            })
        ),
        "a zero page size is typed bad input, got {zero:?}"
    );
    let one = store.page(None, 1).await.unwrap();
    assert_eq!(one.events.len(), 1);
    assert_eq!(one.events[0].id, out[2].id, "newest first");

    let cursor: Cursor = one.next.unwrap().to_string().parse().unwrap();
    let rest = store.page(Some(cursor), MAX_PAGE_SIZE).await.unwrap();
    let ids: Vec<EventId> = rest.events.iter().map(|e| e.id).collect();
    assert_eq!(ids, [out[1].id, out[0].id]);
    assert_eq!(rest.next, None);

    let beyond = store
        .page(Some(Cursor::after(EventId(i64::MAX))), 10)
        .await
        .unwrap();
    assert_eq!(
        beyond.events.len(),
        3,
        "a cursor above every id lists from the newest"
    );
    let below = store
        .page(Some(Cursor::after(out[0].id)), 10)
        .await
        .unwrap();
    assert!(below.events.is_empty() && below.next.is_none());
}

const CLOSED_PORT_URL: &str = "postgres://postgres@127.0.0.1:1/test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_a_transient_unavailable_error() {
    let config = PgConfig::new(CLOSED_PORT_URL).acquire_timeout(Duration::from_secs(2));
    let err = config.connect().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");

    let store = PgEventStore::new(config.connect_lazy().unwrap());
    for err in [
        store.insert(event(1)).await.unwrap_err(),
        store.page(None, 10).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        assert!(err.is_transient());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "Start it with `scripts/test`")]
async fn test_helper_says_what_to_start() {
    common::connect_or_explain(CLOSED_PORT_URL).await;
}

#[tokio::test]
async fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let pool = PgConfig::new(CLOSED_PORT_URL).connect_lazy().unwrap();
    let store = PgEventStore::new(pool.clone());
    assert_send(&store.insert(event(1)));
    assert_send(&store.insert_many(vec![event(1)]));
    assert_send(&store.page(None, 1));
    assert_send(&switchboard_postgres::migrate(&pool));
    assert_send(&switchboard_postgres::revert_last(&pool));
}

/// A connection killed under a running query is a transient `Unavailable`, and the next call
/// reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connection_is_transient_and_the_pool_recovers() {
    use sqlx::{Connection, Executor};

    let schema = TestSchema::migrated().await;
    let base = common::database_url();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}application_name={}", schema.name);
    let pool = PgConfig::new(url)
        .schema(&schema.name)
        .unwrap()
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    let store = PgEventStore::new(pool);

    // Hold the table so the store's query waits, then kill the connection serving it.
    let mut admin = common::connect_or_explain(&base).await;
    admin.execute("BEGIN").await.unwrap();
    admin
        .execute(format!("LOCK TABLE {}.events IN ACCESS EXCLUSIVE MODE", schema.name).as_str())
        .await
        .unwrap();
    let blocked = {
        let store = store.clone();
        tokio::spawn(async move { store.get(EventId(1)).await })
    };
    let mut terminated = false;
    for _ in 0..100 {
        terminated = sqlx::query_scalar(
            "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity \
             WHERE application_name = $1 AND wait_event_type = 'Lock'",
        )
        .bind(&schema.name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if terminated {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    admin.execute("ROLLBACK").await.unwrap();
    admin.close().await.unwrap();
    assert!(terminated, "the store's query never waited on the lock");

    let err = blocked.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(err.is_transient());
    assert_eq!(store.get(EventId(1)).await.unwrap(), None, "reconnected");
}
