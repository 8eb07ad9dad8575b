//! The processor end to end on live servers: a backlog of keyed records on a 4-partition Kafka
//! topic, taken through the idempotent Postgres insert, the Redis cache and the NATS
//! announcement, acked. Records per second from the processor's start to its last
//! announcement, record by record (`batch_records` 1, 16 in flight: the processor before
//! batching) against the default batches, interleaved over rounds, next to the Kafka consumer
//! alone acking the same backlog (the ceiling any processor on this log has); each round uses a
//! topic, a group and a database of its own.
//!
//! Run with `cargo bench -p switchboard-examples --bench processor_throughput` against the
//! servers of `scripts/test` (`DATABASE_URL`, `REDIS_URL`, `NATS_URL`, `KAFKA_BROKERS`;
//! `SB_BENCH_RECORDS=20000`, `SB_BENCH_ROUNDS=3`).

use std::time::{Duration, Instant};

use futures::{StreamExt, future::join_all};
use sqlx::{Connection, Executor, PgConnection, postgres::PgPoolOptions};
use switchboard_core::{
    Envelope, Firehose, Group, LogConsumer, LogProducer, Namespace, Pattern, Subject, Subscriber,
    TopicAdmin,
};
use switchboard_flows::{Processor, ProcessorConfig};
use switchboard_kafka::{KafkaAdmin, KafkaConfig, KafkaConsumer, KafkaProducer};
use switchboard_nats::NatsBus;
use switchboard_postgres::PgEventStore;
use switchboard_redis::{Redis, RedisConfig};

const PARTITIONS: u32 = 4;
const KEYS: usize = 64;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn number(name: &str, default: usize) -> usize {
    env(name, &default.to_string())
        .parse()
        .unwrap_or_else(|_| panic!("{name}: a number"))
}

#[tokio::main]
async fn main() {
    let records = number("SB_BENCH_RECORDS", 20_000);
    let rounds = number("SB_BENCH_ROUNDS", 3);
    let modes = [
        ("record by record (batch 1, 16 in flight)", 1, 16),
        (
            "batched (defaults)",
            ProcessorConfig::default().batch_records,
            ProcessorConfig::default().in_flight,
        ),
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let mut ceiling = Vec::new();
    for round in 0..rounds {
        let rate = consume_only(records).await;
        eprintln!("round {round}: consume and ack only: {rate:.0} records/s");
        ceiling.push(rate);
        for (i, (name, batch, in_flight)) in modes.iter().enumerate() {
            let rate = run(records, *batch, *in_flight).await;
            eprintln!("round {round}: {name}: {rate:.0} records/s");
            rates[i].push(rate);
        }
    }
    println!(
        "processor end to end, {records} records over {PARTITIONS} partitions and {KEYS} keys, {rounds} rounds (median, min–max)"
    );
    println!("| mode | records/s |");
    println!("|---|---:|");
    let named = std::iter::once(("consume and ack only, no work (the log's ceiling)", ceiling));
    for (name, mut got) in named.chain(modes.iter().map(|m| m.0).zip(rates)) {
        got.sort_by(f64::total_cmp);
        let median = got[got.len() / 2];
        println!(
            "| {name} | {median:.0} ({:.0}–{:.0}) |",
            got[0],
            got[got.len() - 1]
        );
    }
}

/// A backlog of `records` on a fresh topic.
async fn backlog(kafka: &KafkaConfig, id: &str, records: usize) -> Subject {
    let topic = Subject::new(format!("bench.processor.{id}")).unwrap();
    KafkaAdmin::new(kafka)
        .unwrap()
        .create_topic(&topic, PARTITIONS)
        .await
        .unwrap();
    let producer = KafkaProducer::new(kafka).unwrap();
    for chunk in (0..records).collect::<Vec<_>>().chunks(1000) {
        let appends = chunk.iter().map(|n| {
            let msg = Envelope::new(topic.clone(), format!("{{\"n\":{n}}}"))
                .with_key(format!("k{}", n % KEYS));
            producer.append(msg)
        });
        for appended in join_all(appends).await {
            appended.unwrap();
        }
    }
    topic
}

/// The Kafka consumer alone on the same backlog: each delivery acked at once.
async fn consume_only(records: usize) -> f64 {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let kafka = KafkaConfig::new(env("KAFKA_BROKERS", "127.0.0.1:9092")).with_batch_records(1);
    let topic = backlog(&kafka, &id, records).await;
    let group = Group::new(format!("bench-{id}")).unwrap();
    let started = Instant::now();
    let mut member = KafkaConsumer::new(&kafka)
        .join(&group, &[topic])
        .await
        .unwrap();
    for seen in 0..records {
        match tokio::time::timeout(Duration::from_secs(120), member.next()).await {
            Ok(Some(Ok(delivery))) => delivery.ack().await.unwrap(),
            other => panic!("delivery {seen} of {records} did not come: {other:?}"),
        }
    }
    records as f64 / started.elapsed().as_secs_f64()
}

/// One round: a fresh topic, group and database; returns records per second.
async fn run(records: usize, batch_records: usize, in_flight: usize) -> f64 {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let kafka = KafkaConfig::new(env("KAFKA_BROKERS", "127.0.0.1:9092")).with_batch_records(1);
    let topic = backlog(&kafka, &id, records).await;

    let admin_url = env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test");
    let database = format!("sb_bench_{id}");
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {database}").as_str())
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&format!("{base}/{database}"))
        .await
        .unwrap();
    switchboard_postgres::migrate(&pool).await.unwrap();

    let redis = Redis::connect(RedisConfig::new(env("REDIS_URL", "redis://127.0.0.1:6379")))
        .await
        .unwrap();
    let cache = redis.key_value(Namespace::new(format!("bench-{id}")).unwrap());
    let bus = NatsBus::connect(&env("NATS_URL", "nats://127.0.0.1:4222"))
        .await
        .unwrap();
    let processed = Subject::new(format!("bench.processed.{id}")).unwrap();
    let mut announced = bus
        .subscribe(&Pattern::new(processed.as_str()).unwrap())
        .await
        .unwrap();
    let config = ProcessorConfig {
        processed_subject: processed,
        batch_records,
        in_flight,
        ..ProcessorConfig::default()
    };
    let processor = Processor::new(
        cache,
        PgEventStore::new(pool.clone()),
        bus.clone(),
        Firehose::disabled("bench"),
    )
    .with_config(config);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = KafkaConsumer::new(&kafka);
    let group = Group::new(format!("bench-{id}")).unwrap();
    let started = Instant::now();
    let task = tokio::spawn(async move {
        processor
            .run(&consumer, &group, &[topic], async move {
                let _ = stopped.await;
            })
            .await
    });
    for seen in 0..records {
        match tokio::time::timeout(Duration::from_secs(120), announced.next()).await {
            Ok(Some(Ok(_))) => {}
            other => panic!("announcement {seen} of {records} did not come: {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows as usize, records, "one row per record");
    pool.close().await;
    admin
        .execute(format!("DROP DATABASE {database} WITH (FORCE)").as_str())
        .await
        .unwrap();
    records as f64 / elapsed.as_secs_f64()
}
