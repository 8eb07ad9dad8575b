use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use serde_json::json;

use super::*;
use switchboard_core::{
    Envelope, Error, EventStore, FIREHOSE_SUBJECT, Firehose, FirehoseEvent, Group, Inserted,
    KeyValue, LogConsumer, LogProducer, Namespace, NewEvent, Pattern, Subject, Subscriber,
    mem::{MemBus, MemEventStore, MemKv, MemLog},
    store::{Cursor, Event, EventId, Page},
};

/// An event store whose writes can be switched off, to check that nothing is acked then.
#[derive(Clone, Default)]
struct FlakyStore {
    inner: MemEventStore,
    down: Arc<AtomicBool>,
}

impl EventStore for FlakyStore {
    async fn insert(&self, event: NewEvent) -> switchboard_core::Result<Inserted> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::unavailable(std::io::Error::other("database down")));
        }
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

async fn next_delivery(log: &MemLog) -> switchboard_core::Delivery {
    let mut stream = log
        .join(&Group::new(PROCESSOR_GROUP).unwrap(), &[topic()])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("a delivery")
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn valid_record_is_cached_stored_announced_and_acked() {
    let rig = rig();
    let mut processed = rig
        .bus
        .subscribe(&Pattern::new(PROCESSED_SUBJECT).unwrap())
        .await
        .unwrap();
    let mut firehose = rig
        .bus
        .subscribe(&Pattern::new(FIREHOSE_SUBJECT).unwrap())
        .await
        .unwrap();
    rig.log
        .append(Envelope::json(topic(), &json!({"order": 7})).unwrap())
        .await
        .unwrap();
    let record = rig
        .processor
        .handle(next_delivery(&rig.log).await)
        .await
        .unwrap();
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

    let announced: ProcessedRecord = processed
        .next()
        .await
        .unwrap()
        .unwrap()
        .decode_json()
        .unwrap();
    assert_eq!(announced, record);
    let event: FirehoseEvent = firehose
        .next()
        .await
        .unwrap()
        .unwrap()
        .decode_json()
        .unwrap();
    assert_eq!(event.action, "processed");
    assert_eq!(event.payload["event_id"], json!(record.event_id));

    // Acked: the group gets nothing more.
    let mut again = rig
        .log
        .join(&Group::new(PROCESSOR_GROUP).unwrap(), &[topic()])
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), again.next())
            .await
            .is_err()
    );
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
    let record = rig
        .processor
        .handle(next_delivery(&rig.log).await)
        .await
        .unwrap();
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
    // Acked: not delivered again.
    let mut again = rig
        .log
        .join(&Group::new(PROCESSOR_GROUP).unwrap(), &[topic()])
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), again.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn failed_store_write_is_not_acked_and_comes_again() {
    let rig = rig();
    rig.log
        .append(Envelope::json(topic(), &json!({"n": 2})).unwrap())
        .await
        .unwrap();
    rig.store.down.store(true, Ordering::SeqCst);
    let mut stream = rig
        .log
        .join(&Group::new(PROCESSOR_GROUP).unwrap(), &[topic()])
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(rig.processor.handle(first).await.is_err());
    rig.store.down.store(false, Ordering::SeqCst);
    let again = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("redelivered after the nack")
        .unwrap()
        .unwrap();
    assert_eq!(again.attempt(), 2);
    let record = rig.processor.handle(again).await.unwrap();
    assert_eq!(rig.store.page(None, 10).await.unwrap().events.len(), 1);
    assert_eq!(record.status, RecordStatus::Stored);
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
