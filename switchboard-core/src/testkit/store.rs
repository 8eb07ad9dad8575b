//! Event-store cases.

use std::{collections::HashSet, time::Duration};

use serde_json::json;

use super::{EventStoreFixture, within};
use crate::{EventId, EventStore, NewEvent, store::MAX_PAGE_SIZE};

fn event(i: usize) -> NewEvent {
    NewEvent::new(
        "test",
        "kit.events",
        json!({ "n": i, "text": "<b>hi</b> & \"quotes\"" }),
    )
    .expect("valid event")
}

/// Insert, get, delete; a second delete and a get of a deleted id find nothing.
pub async fn crud<F: EventStoreFixture>(f: &F) {
    let store = f.store();
    let inserted = store.insert(event(1)).await.expect("insert");
    assert!(inserted.created);
    let row = store
        .get(inserted.id)
        .await
        .expect("get")
        .expect("row exists");
    assert_eq!(
        (row.id, row.source.as_str(), row.topic.as_str()),
        (inserted.id, "test", "kit.events")
    );
    assert_eq!(
        row.payload,
        json!({ "n": 1, "text": "<b>hi</b> & \"quotes\"" })
    );
    let age = chrono::Utc::now() - row.created_at;
    assert!(
        age < chrono::Duration::minutes(5) && age > chrono::Duration::minutes(-5),
        "created_at is off by {age}"
    );
    let second = store.insert(event(2)).await.expect("insert");
    assert!(second.id > inserted.id, "ids must grow");
    assert!(store.delete(inserted.id).await.expect("delete"));
    assert_eq!(store.get(inserted.id).await.expect("get"), None);
    assert!(!store.delete(inserted.id).await.expect("second delete"));
    assert!(
        store.get(second.id).await.expect("get").is_some(),
        "delete removed another row"
    );
    assert_eq!(
        store.get(EventId(i64::MAX)).await.expect("get unknown"),
        None
    );
}

/// Walking the pages while inserts run lists every earlier event exactly once, newest first.
pub async fn pagination_is_complete_under_concurrent_inserts<F: EventStoreFixture>(f: &F) {
    let store = f.store();
    let mut before = HashSet::new();
    let batch: Vec<NewEvent> = (0..250).map(event).collect();
    for inserted in store.insert_many(batch).await.expect("insert_many") {
        assert!(inserted.created);
        before.insert(inserted.id);
    }
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..100 {
                store
                    .insert(event(1000 + i))
                    .await
                    .expect("concurrent insert");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    within(Duration::from_secs(60), "paging to the end", async {
        loop {
            let page = store.page(cursor, 20).await.expect("page");
            assert!(page.events.len() <= 20);
            seen.extend(page.events.iter().map(|e| e.id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    writer.await.expect("writer");
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "pages must list ids strictly newest first, without repeats"
    );
    let seen: HashSet<EventId> = seen.into_iter().collect();
    let missing: Vec<_> = before.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "pagination skipped {} events, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}

/// A page is never larger than the cap, whatever size is asked for.
pub async fn page_size_is_capped<F: EventStoreFixture>(f: &F) {
    let store = f.store();
    store
        .insert_many((0..usize::from(MAX_PAGE_SIZE) + 5).map(event).collect())
        .await
        .expect("insert_many");
    let page = store.page(None, u16::MAX).await.expect("page");
    assert_eq!(page.events.len(), usize::from(MAX_PAGE_SIZE));
    assert!(page.next.is_some());
    let rest = store.page(page.next, u16::MAX).await.expect("second page");
    assert_eq!(rest.events.len(), 5);
    assert_eq!(rest.next, None);
}

/// Inserting the same idempotency key twice stores one row and returns its id both times.
pub async fn idempotent_insert_stores_one_row<F: EventStoreFixture>(f: &F) {
    let store = f.store();
    let key = "events/0/42";
    let first = store
        .insert(event(1).with_idempotency_key(key).expect("key"))
        .await
        .expect("insert");
    let again = store
        .insert(event(2).with_idempotency_key(key).expect("key"))
        .await
        .expect("insert again");
    assert!(first.created);
    assert!(
        !again.created,
        "the second insert must report the existing row"
    );
    assert_eq!(again.id, first.id);
    let row = store.get(first.id).await.expect("get").expect("row");
    assert_eq!(row.payload["n"], 1, "the first write wins");
    assert_eq!(row.idempotency_key.as_deref(), Some(key));
    let page = store.page(None, 100).await.expect("page");
    assert_eq!(page.events.len(), 1);
}

/// Ten concurrent inserts of one idempotency key create exactly one row.
pub async fn concurrent_idempotent_inserts_store_one_row<F: EventStoreFixture>(f: &F) {
    let store = f.store();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .insert(event(i).with_idempotency_key("same").expect("key"))
                .await
                .expect("insert")
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task"));
    }
    assert_eq!(
        results.iter().filter(|r| r.created).count(),
        1,
        "exactly one insert creates the row"
    );
    assert!(
        results.windows(2).all(|w| w[0].id == w[1].id),
        "all inserts report one id"
    );
    assert_eq!(store.page(None, 100).await.expect("page").events.len(), 1);
}
