//! Kafka side by side: the SDK's `KafkaProducer` and `KafkaConsumer` against rdkafka's
//! `FutureProducer` and `StreamConsumer` made from the very same librdkafka settings
//! (`KafkaConfig::producer_config`, `KafkaConfig::consumer_config`).
//!
//! - **produce**: 128 B keyed records to a fresh 4-partition topic, handed over window by
//!   window; both sides wait for every delivery report. Records per second.
//! - **consume + commit**: a fresh group reads a backlog of 128 B records; the SDK acks every
//!   delivery (awaiting each ack), the raw side stores every offset; both commit
//!   synchronously at the end (the SDK through `KafkaDeliveries::close`). Records per second
//!   from the first record to the commit, so the group's join is left out of both.
//!
//! - **produce, raw with the id header** (only with `SB_BENCH_KAFKA_HEADER_PROBE=1`): the raw
//!   producer against itself sending the `switchboard-id` header every SDK record carries (a
//!   fixed 36-byte value): what the header costs librdkafka and the broker, apart from the
//!   SDK's own code.
//!
//! Run with `cargo bench -p switchboard-bench --bench kafka` against a broker at
//! `KAFKA_BROKERS` (default `127.0.0.1:9092`). Settings: `SB_BENCH_PRODUCE_RECORDS` (default
//! 200,000), `SB_BENCH_PRODUCE_BATCH` (records per batch there, default 10,000),
//! `SB_BENCH_CONSUME_RECORDS` (default 20,000), `SB_BENCH_KAFKA_BATCH` (records per batch of
//! the backlog, default 1: see `switchboard_bench::kafka::config`), `SB_BENCH_ROUNDS`
//! (default 3), `SB_BENCH_KAFKA_HEADER_PROBE` (default 0).

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use futures::{StreamExt, future::join_all};
use rdkafka::{
    Message as _,
    consumer::{CommitMode, Consumer as _, StreamConsumer},
    message::{Header, OwnedHeaders},
    producer::FutureProducer,
};
use switchboard_bench::{
    Better, Sample, compare,
    kafka::{self, KEYS, WINDOW, within},
    number, print_header, rounds,
};
use switchboard_core::{Envelope, Group, LogConsumer, LogProducer, Subject};
use switchboard_kafka::{KafkaConfig, KafkaConsumer, KafkaProducer};

const PAYLOAD: [u8; 128] = [b'x'; 128];

#[tokio::main]
async fn main() {
    let config = kafka::config();
    // Producing needs no tansu workaround: batches as large as librdkafka makes them.
    let producing = config
        .clone()
        .with_batch_records(number("SB_BENCH_PRODUCE_BATCH", 10_000));
    let produced = number("SB_BENCH_PRODUCE_RECORDS", 200_000);
    let consumed = number("SB_BENCH_CONSUME_RECORDS", 20_000);
    print_header();
    compare(
        "Kafka produce, 128 B, every delivery report awaited",
        rounds(),
        &[("records/s", Better::Higher, 0.9)],
        async || produce_raw(&producing, produced, false).await,
        async || produce_sdk(&producing, produced).await,
    )
    .await;
    if number("SB_BENCH_KAFKA_HEADER_PROBE", 0) == 1 {
        compare(
            "Kafka produce, raw rdkafka: with the SDK's id header ÷ without (diagnostic)",
            rounds(),
            &[("records/s", Better::Higher, 0.9)],
            async || produce_raw(&producing, produced, false).await,
            async || produce_raw(&producing, produced, true).await,
        )
        .await;
    }
    compare(
        "Kafka consume, 128 B, every record acked, commit at the end",
        rounds(),
        &[("records/s", Better::Higher, 0.9)],
        async || consume_raw(&config, consumed).await,
        async || consume_sdk(&config, consumed).await,
    )
    .await;
}

fn rate(records: usize, started: Instant) -> Sample {
    vec![(
        "records/s",
        records as f64 / started.elapsed().as_secs_f64(),
    )]
}

/// The raw producer; with `id_header`, each record carries a `switchboard-id` header as the
/// SDK's do.
async fn produce_raw(config: &KafkaConfig, records: usize, id_header: bool) -> Sample {
    let topic = kafka::topic(config, "produce").await;
    let producer: FutureProducer = config.producer_config().create().unwrap();
    let keys = kafka::keys();
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let headers = || {
        OwnedHeaders::new_with_capacity(1).insert(Header {
            key: switchboard_kafka::ID_HEADER,
            value: Some(&id),
        })
    };
    let headers: Option<&dyn Fn() -> OwnedHeaders> = id_header.then_some(&headers);
    let started = Instant::now();
    let mut window = Vec::with_capacity(WINDOW);
    for n in 0..records {
        let key = &keys[n % KEYS];
        window.push(
            kafka::send_with_headers(&producer, topic.as_str(), key, &PAYLOAD, headers).await,
        );
        if window.len() == WINDOW {
            kafka::delivered(std::mem::take(&mut window)).await;
        }
    }
    kafka::delivered(window).await;
    rate(records, started)
}

async fn produce_sdk(config: &KafkaConfig, records: usize) -> Sample {
    let topic = kafka::topic(config, "produce").await;
    let producer = KafkaProducer::new(config).unwrap();
    // Shared keys, as an application that keys by a few ids holds them: a clone is a count.
    let keys: Vec<Arc<str>> = kafka::keys().into_iter().map(Arc::from).collect();
    let payload = Bytes::from_static(&PAYLOAD);
    let started = Instant::now();
    for first in (0..records).step_by(WINDOW) {
        let appends = (first..records.min(first + WINDOW)).map(|n| {
            let msg =
                Envelope::new(topic.clone(), payload.clone()).with_key(keys[n % KEYS].clone());
            producer.append(msg)
        });
        for appended in within("appends", join_all(appends)).await {
            appended.expect("a record was not appended");
        }
    }
    rate(records, started)
}

/// A fresh topic holding `records` records of 128 B, and a fresh group to read it.
async fn backlog(config: &KafkaConfig, records: usize) -> (Subject, Group) {
    let topic = kafka::topic(config, "consume").await;
    kafka::backlog(config, &topic, records, |_| PAYLOAD.to_vec()).await;
    let group = Group::new(format!("bench-{}", kafka::unique())).unwrap();
    (topic, group)
}

async fn consume_raw(config: &KafkaConfig, records: usize) -> Sample {
    let (topic, group) = backlog(config, records).await;
    let consumer: StreamConsumer = config.consumer_config(group.as_str()).create().unwrap();
    consumer.subscribe(&[topic.as_str()]).unwrap();
    let mut started = None;
    for _ in 0..records {
        let record = within("a record", consumer.recv()).await.unwrap();
        started.get_or_insert_with(Instant::now);
        consumer
            .store_offset(record.topic(), record.partition(), record.offset() + 1)
            .unwrap();
    }
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    rate(records, started.unwrap())
}

async fn consume_sdk(config: &KafkaConfig, records: usize) -> Sample {
    let (topic, group) = backlog(config, records).await;
    let mut member = KafkaConsumer::new(config)
        .join(&group, &[topic])
        .await
        .unwrap();
    let mut started = None;
    for _ in 0..records {
        let delivery = within("a delivery", member.next()).await.unwrap().unwrap();
        started.get_or_insert_with(Instant::now);
        delivery.ack().await.unwrap();
    }
    member.close().await.unwrap();
    rate(records, started.unwrap())
}
