use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use serde_json::json;

use super::*;
use switchboard_core::{
    Envelope, Error, EventStore, FIREHOSE_SUBJECT, Firehose, FirehoseEvent, Group, Inserted,
    KeyValue, LogConsumer, LogProducer, Namespace, NewEvent, Pattern, Subject, Subscriber,
    consume::RouterStats,
    mem::{MemBus, MemEventStore, MemKv, MemLog},
    store::{Cursor, Event, EventId, Page},
};

/// An event store whose writes can be switched off (or fail a set number of times), to check
/// that nothing is acked then, and that counts the events of each `insert_many`.
#[derive(Clone, Default)]
struct FlakyStore {
    inner: MemEventStore,
    down: Arc<AtomicBool>,
    failures_left: Arc<AtomicUsize>,
    batches: Arc<Mutex<Vec<usize>>>,
}

impl FlakyStore {
    fn check_up(&self) -> switchboard_core::Result<()> {
        let failing = self.failures_left.load(Ordering::SeqCst) > 0;
        if failing {
            self.failures_left.fetch_sub(1, Ordering::SeqCst);
        }
        if failing || self.down.load(Ordering::SeqCst) {
            return Err(Error::unavailable(std::io::Error::other("database down")));
        }
        Ok(())
    }
}

impl EventStore for FlakyStore {
    async fn insert_many(&self, events: Vec<NewEvent>) -> switchboard_core::Result<Vec<Inserted>> {
        self.check_up()?;
        self.batches.lock().unwrap().push(events.len());
        self.inner.insert_many(events).await
    }
    async fn insert(&self, event: NewEvent) -> switchboard_core::Result<Inserted> {
        self.check_up()?;
        self.inner.insert(event).await
    }
    async fn get(&self, id: EventId) -> switchboard_core::Result<Option<Event>> {
        self.inner.get(id).await
    }
    async fn delete(&self, id: EventId) -> switchboard_core::Result<bool> {
        self.inner.delete(id).await
    }
    async fn page(&self, before: Option<Cursor>, limit: u16) -> switchboard_core::Result<Page> {
        self.inner.page(before, limit).await
    }
}

struct Rig {
    bus: MemBus,
    log: MemLog,
    kv: MemKv,
    store: FlakyStore,
    processor: Processor<switchboard_core::mem::MemKeyValue, FlakyStore, MemBus>,
}

fn rig() -> Rig {
    let bus = MemBus::new();
    let kv = MemKv::new();
    let store = FlakyStore::default();
    let firehose = Firehose::spawn(bus.clone(), "processor", 64);
    let processor = Processor::new(
        kv.namespace(Namespace::new(CACHE_NAMESPACE).unwrap()),
        store.clone(),
        bus.clone(),
        firehose,
    )
    .with_config(ProcessorConfig {
        retry_delay: Duration::from_millis(10),
        ..ProcessorConfig::default()
    });
    Rig {
        bus,
        log: MemLog::new(),
        kv,
        store,
        processor,
    }
}

fn topic() -> Subject {
    Subject::new(EVENTS_TOPIC).unwrap()
}

/// Runs the processor until `n` records were announced on the processed subject, then shuts
/// it down; returns the records and the router's figures.
async fn run_until_processed(rig: &Rig, n: usize) -> (Vec<ProcessedRecord>, RouterStats) {
    let mut processed = rig
        .bus
        .subscribe(&Pattern::new(PROCESSED_SUBJECT).unwrap())
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (processor, log) = (rig.processor.clone(), rig.log.clone());
    let task = tokio::spawn(async move {
        let group = Group::new(PROCESSOR_GROUP).unwrap();
        processor
            .run(&log, &group, &[topic()], async move {
                let _ = stopped.await;
            })
            .await
    });
    let mut records = Vec::new();
    for _ in 0..n {
        let record: ProcessedRecord =
            tokio::time::timeout(Duration::from_secs(10), processed.next())
                .await
                .expect("a processed record within 10 s")
                .unwrap()
                .unwrap()
                .decode_json()
                .unwrap();
        records.push(record);
    }
    stop.send(()).unwrap();
    (records, task.await.unwrap().unwrap())
}

async fn assert_nothing_more(log: &MemLog) {
    let mut again = log
        .join(&Group::new(PROCESSOR_GROUP).unwrap(), &[topic()])
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), again.next())
            .await
            .is_err(),
        "every record was acked"
    );
}

#[tokio::test]
async fn valid_record_is_cached_stored_announced_and_acked() {
    let rig = rig();
    let mut firehose = rig
        .bus
        .subscribe(&Pattern::new(FIREHOSE_SUBJECT).unwrap())
        .await
        .unwrap();
    rig.log
        .append(Envelope::json(topic(), &json!({"order": 7})).unwrap())
        .await
        .unwrap();
    let (records, stats) = run_until_processed(&rig, 1).await;
    let record = records[0].clone();
    assert_eq!(stats.handled, 1, "{stats:?}");
    assert_eq!(record.status, RecordStatus::Stored);
    assert!(!record.duplicate);

    let cache = rig.kv.namespace(Namespace::new(CACHE_NAMESPACE).unwrap());
    let key = cache_key(&topic()).unwrap();
    assert_eq!(key.as_str(), "last:switchboard.events");
    assert_eq!(
        cache.get(&key).await.unwrap().unwrap().as_ref(),
        br#"{"order":7}"#
    );
    let ttl = cache.ttl(&key).await.unwrap().unwrap().unwrap();
    assert!(ttl <= CACHE_TTL && ttl > CACHE_TTL - Duration::from_secs(10));

    let row = rig.store.get(record.event_id).await.unwrap().unwrap();
    assert_eq!(
        (row.source.as_str(), row.topic.as_str()),
        ("kafka", EVENTS_TOPIC)
    );
    assert_eq!(row.payload, json!({"order": 7}));
    assert_eq!(
        row.idempotency_key,
        Some(format!("switchboard.events/{}/0", record.partition))
    );

    let event: FirehoseEvent = firehose
        .next()
        .await
        .unwrap()
        .unwrap()
        .decode_json()
        .unwrap();
    assert_eq!(event.action, "processed");
    assert_eq!(event.payload["event_id"], json!(record.event_id));
    assert_nothing_more(&rig.log).await;
}

#[tokio::test]
async fn redelivery_never_makes_a_second_row() {
    let rig = rig();
    let msg = Envelope::json(topic(), &json!({"n": 1})).unwrap();
    let position = rig.log.append(msg.clone()).await.unwrap();
    let first = rig.processor.process(&msg, position).await.unwrap();
    let second = rig.processor.process(&msg, position).await.unwrap();
    assert_eq!(first.event_id, second.event_id);
    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(rig.store.page(None, 10).await.unwrap().events.len(), 1);
}

#[tokio::test]
async fn invalid_json_is_stored_as_a_typed_failure_and_acked() {
    let rig = rig();
    let mut firehose = rig
        .bus
        .subscribe(&Pattern::new(FIREHOSE_SUBJECT).unwrap())
        .await
        .unwrap();
    rig.log
        .append(Envelope::new(topic(), "{not json"))
        .await
        .unwrap();
    let (records, _) = run_until_processed(&rig, 1).await;
    let record = records[0].clone();
    assert_eq!(record.status, RecordStatus::Invalid);
    let row = rig.store.get(record.event_id).await.unwrap().unwrap();
    let failure: RecordFailure = serde_json::from_value(row.payload["failure"].clone()).unwrap();
    assert_eq!(failure.kind, "invalid_json");
    assert_eq!(failure.raw, "{not json");
    // Not cached: the cache holds the last valid payload only.
    let cache = rig.kv.namespace(Namespace::new(CACHE_NAMESPACE).unwrap());
    assert!(
        cache
            .get(&cache_key(&topic()).unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let event: FirehoseEvent = firehose
        .next()
        .await
        .unwrap()
        .unwrap()
        .decode_json()
        .unwrap();
    assert_eq!(event.action, "invalid");
    assert_nothing_more(&rig.log).await;
}

#[tokio::test]
async fn failed_store_write_is_not_acked_and_comes_again() {
    let rig = rig();
    let mut firehose = rig
        .bus
        .subscribe(&Pattern::new(FIREHOSE_SUBJECT).unwrap())
        .await
        .unwrap();
    // The first write fails; the record must come again rather than be acked.
    rig.store.failures_left.store(1, Ordering::SeqCst);
    rig.log
        .append(Envelope::json(topic(), &json!({"n": 2})).unwrap())
        .await
        .unwrap();
    let retried = tokio::spawn(async move {
        loop {
            let event: FirehoseEvent = firehose
                .next()
                .await
                .unwrap()
                .unwrap()
                .decode_json()
                .unwrap();
            if event.action == "retry" {
                assert_eq!(event.payload["attempt"], 1);
                return;
            }
        }
    });
    let (records, stats) = run_until_processed(&rig, 1).await;
    retried.await.unwrap();
    assert_eq!(records[0].status, RecordStatus::Stored);
    assert_eq!((stats.redelivered, stats.handled), (1, 1), "{stats:?}");
    assert_eq!(rig.store.page(None, 10).await.unwrap().events.len(), 1);
    assert_nothing_more(&rig.log).await;
}

#[tokio::test]
async fn a_backlog_is_stored_in_batches_each_key_in_order() {
    let rig = rig();
    for n in 0..40 {
        let msg = Envelope::json(topic(), &json!({ "n": n }))
            .unwrap()
            .with_key(format!("k{}", n % 4));
        rig.log.append(msg).await.unwrap();
    }
    let (records, stats) = run_until_processed(&rig, 40).await;
    assert_eq!(stats.handled, 40, "{stats:?}");
    // Each key's records are announced in the order they were appended.
    let mut last: std::collections::HashMap<u64, u64> = Default::default();
    for record in &records {
        let row = rig.store.get(record.event_id).await.unwrap().unwrap();
        let n = row.payload["n"].as_u64().unwrap();
        if let Some(before) = last.insert(n % 4, n) {
            assert!(
                n > before,
                "key k{} out of order: {n} after {before}",
                n % 4
            );
        }
    }
    assert_eq!(rig.store.page(None, 100).await.unwrap().events.len(), 40);
    let batches = rig.store.batches.lock().unwrap().clone();
    assert_eq!(batches.iter().sum::<usize>(), 40, "{batches:?}");
    assert!(batches.len() < 40, "one insert per record: {batches:?}");
}

#[tokio::test]
async fn run_processes_until_shutdown() {
    let rig = rig();
    let mut processed = rig
        .bus
        .subscribe(&Pattern::new(PROCESSED_SUBJECT).unwrap())
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let processor = rig.processor.clone();
    let log = rig.log.clone();
    let task = tokio::spawn(async move {
        processor
            .run(
                &log,
                &Group::new(PROCESSOR_GROUP).unwrap(),
                &[topic()],
                async move {
                    let _ = stopped.await;
                },
            )
            .await
            .map(drop)
    });
    for n in 0..3 {
        rig.log
            .append(Envelope::json(topic(), &json!({ "n": n })).unwrap())
            .await
            .unwrap();
    }
    for _ in 0..3 {
        let _: ProcessedRecord = tokio::time::timeout(Duration::from_secs(5), processed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .decode_json()
            .unwrap();
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(rig.store.page(None, 10).await.unwrap().events.len(), 3);
}
