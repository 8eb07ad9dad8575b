//! What the Kafka and processor benches share: fresh topics, a backlog written by the raw
//! producer, and bounded waits.

use std::{future::Future, time::Duration};

use futures::future::join_all;
use rdkafka::{
    error::KafkaError,
    message::OwnedHeaders,
    producer::{DeliveryFuture, FutureProducer, FutureRecord},
    types::RDKafkaErrorCode,
};
use switchboard_core::{Subject, TopicAdmin};
use switchboard_kafka::{KafkaAdmin, KafkaConfig};

use crate::{env, number};

/// Partitions of every topic the benches create.
pub const PARTITIONS: u32 = 4;
/// Distinct record keys, so every partition gets records.
pub const KEYS: usize = 64;
/// The longest any one wait of a bench may take before the bench stops.
pub const PATIENCE: Duration = Duration::from_secs(60);
/// Records handed to a producer before waiting for their delivery reports.
pub const WINDOW: usize = 10_000;

/// The client settings of both sides: `KAFKA_BROKERS`; the producer's records per batch
/// from `SB_BENCH_KAFKA_BATCH` (default 1, as tansu 0.6 needs: a consumer that resumes inside
/// a batch loses the batch's rest there, docs/backends.md); and the consumers' prefetch
/// (librdkafka's `queued.min.messages`, on both sides) from `SB_BENCH_KAFKA_PREFETCH`
/// (default: the SDK's).
pub fn config() -> KafkaConfig {
    let config = KafkaConfig::new(env("KAFKA_BROKERS", "127.0.0.1:9092"))
        .with_batch_records(number("SB_BENCH_KAFKA_BATCH", 1));
    match number("SB_BENCH_KAFKA_PREFETCH", 0) {
        0 => config,
        prefetch => config.with_prefetch(prefetch),
    }
}

/// The record keys `k0`…`k63`, made once so that neither side formats a key per record.
pub fn keys() -> Vec<String> {
    (0..KEYS).map(|n| format!("k{n}")).collect()
}

/// A unique name part for one round's topic, group or database.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A fresh topic `bench.<what>.<unique>` with [`PARTITIONS`] partitions.
pub async fn topic(config: &KafkaConfig, what: &str) -> Subject {
    let topic = Subject::new(format!("bench.{what}.{}", unique())).unwrap();
    within("creating a topic", async {
        KafkaAdmin::new(config)
            .unwrap()
            .create_topic(&topic, PARTITIONS)
            .await
            .unwrap();
    })
    .await;
    topic
}

/// Waits for `work`, at most [`PATIENCE`]; past it the bench stops, naming `what`.
pub async fn within<T>(what: &str, work: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, work)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing for {PATIENCE:?}"))
}

/// Hands one record to librdkafka, waiting while its queue is full.
pub async fn send(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    payload: &[u8],
) -> DeliveryFuture {
    send_with_headers(producer, topic, key, payload, None).await
}

/// [`send`] with record headers (made afresh for each try).
pub async fn send_with_headers(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    payload: &[u8],
    headers: Option<&dyn Fn() -> OwnedHeaders>,
) -> DeliveryFuture {
    loop {
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        if let Some(headers) = headers {
            record = record.headers(headers());
        }
        match producer.send_result(record) {
            Ok(delivery) => return delivery,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err((err, _)) => panic!("producing to {topic}: {err}"),
        }
    }
}

/// Waits for every delivery report of a window; a failed delivery stops the bench.
pub async fn delivered(window: Vec<DeliveryFuture>) {
    for report in within("delivery reports", join_all(window)).await {
        report
            .expect("the producer went away")
            .map_err(|(err, _)| err)
            .expect("a record was not delivered");
    }
}

/// Writes `records` records (`payload(n)`, keyed `k{n % 64}`) to `topic` with the raw
/// producer, window by window, and waits until all are stored.
pub async fn backlog(
    config: &KafkaConfig,
    topic: &Subject,
    records: usize,
    payload: impl Fn(usize) -> Vec<u8>,
) {
    let producer: FutureProducer = config.producer_config().create().unwrap();
    let keys = keys();
    let mut window = Vec::with_capacity(WINDOW);
    for n in 0..records {
        let payload = payload(n);
        window.push(send(&producer, topic.as_str(), &keys[n % KEYS], &payload).await);
        if window.len() == WINDOW {
            delivered(std::mem::take(&mut window)).await;
        }
    }
    delivered(window).await;
}
