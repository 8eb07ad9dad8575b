//! The processor end to end, side by side with a raw pipeline doing the same work with the
//! same guarantees.
//!
//! Each round, each side gets a fresh 4-partition topic holding a backlog of keyed JSON
//! records, a fresh consumer group and a fresh database, and takes every record through the
//! idempotent batch insert into Postgres, the `last:<topic>` write to Redis and one NATS
//! announcement per record, storing a partition's offsets only after all of that:
//!
//! - **SDK**: `switchboard_flows::Processor` with its default settings (the consumer
//!   `Router` over `BatchLayer`, `KafkaConsumer`, `PgEventStore`, `RedisKeyValue`,
//!   `NatsBus`);
//! - **raw**: an rdkafka `StreamConsumer` made from the same librdkafka settings, one lane per
//!   partition taking batches as `BatchLayer` does (500 records, 2 ms linger, one batch of a
//!   lane at a time), sqlx running the very statement of `PgEventStore::insert_many`
//!   (`switchboard_postgres::INSERT_BATCH`), redis-rs `SET … PX` on the same key, async-nats
//!   publishing the same `ProcessedRecord`, then `store_offset`, and a synchronous commit at
//!   the end.
//!
//! Records per second from the first announcement to the last, so that the group's join is
//! left out of both. A listener checks that every record is announced once; the database must
//! hold one row per record, each partition's rows stored in offset order.
//!
//! Run with `cargo bench -p switchboard-bench --bench processor` against the servers of
//! `scripts/test` (`DATABASE_URL`, `REDIS_URL`, `NATS_URL`, `KAFKA_BROKERS`). Settings:
//! `SB_BENCH_RECORDS` (default 10,000), `SB_BENCH_KAFKA_BATCH`, `SB_BENCH_ROUNDS` (default 3).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Instant,
};

use futures::{StreamExt, future::join_all};
use rdkafka::{
    Message as _,
    consumer::{CommitMode, Consumer as _, StreamConsumer},
};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, PgPool, postgres::PgPoolOptions, types::Json};
use switchboard_bench::{
    Better, Sample, compare, env,
    kafka::{self, within},
    number, print_header, rounds,
};
use switchboard_core::{
    EventId, Firehose, Group, Namespace, Position, Subject,
    consume::{DEFAULT_BATCH_LINGER, DEFAULT_BATCH_RECORDS},
};
use switchboard_flows::{
    ProcessedRecord, Processor, ProcessorConfig, RecordFailure, RecordStatus, cache_key,
    idempotency_key,
};
use switchboard_kafka::{KafkaConfig, KafkaConsumer};
use switchboard_nats::NatsBus;
use switchboard_postgres::{INSERT_BATCH, PgEventStore};
use switchboard_redis::{Redis, RedisConfig, RedisKeyValue};
use tokio::sync::{mpsc, oneshot};

#[tokio::main]
async fn main() {
    let config = kafka::config();
    let records = number("SB_BENCH_RECORDS", 10_000);
    print_header();
    let figures = compare(
        &format!(
            "processor end to end, {records} records, {} partitions",
            kafka::PARTITIONS
        ),
        rounds(),
        &[("records/s", Better::Higher, 0.8)],
        async || Round::new(&config, records).await.raw().await,
        async || Round::new(&config, records).await.sdk().await,
    )
    .await;
    let sdk = figures[0].sdk.clone();
    let median = {
        let mut sorted = sdk;
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    println!(
        "| processor end to end (SDK alone) | records/s | | {median:.0} | | ≥ 20000 | {} |",
        if median >= 20_000.0 { "yes" } else { "**no**" }
    );
}

/// Rows stored before a row of a lower offset of their partition: each partition's (and so
/// each key's) records must be stored in offset order.
const OUT_OF_ORDER: &str = "\
SELECT count(*) FROM (
    SELECT id, lag(id) OVER (
        PARTITION BY split_part(idempotency_key, '/', 2)
        ORDER BY split_part(idempotency_key, '/', 3)::bigint
    ) AS before
    FROM events
) AS stored WHERE before > id";

/// One side's round: its topic, group, database and the subject it announces on.
struct Round {
    id: String,
    kafka: KafkaConfig,
    topic: Subject,
    group: Group,
    processed: Subject,
    records: usize,
    admin: PgConnection,
    database: String,
    pool: PgPool,
}

impl Round {
    async fn new(kafka: &KafkaConfig, records: usize) -> Round {
        let id = kafka::unique();
        let topic = kafka::topic(kafka, "processor").await;
        kafka::backlog(kafka, &topic, records, |n| {
            format!("{{\"n\":{n}}}").into_bytes()
        })
        .await;
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
        Round {
            group: Group::new(format!("bench-{id}")).unwrap(),
            processed: Subject::new(format!("bench.processed.{id}")).unwrap(),
            id,
            kafka: kafka.clone(),
            topic,
            records,
            admin,
            database,
            pool,
        }
    }

    fn cache(&self, redis: &Redis) -> RedisKeyValue {
        redis.key_value(Namespace::new(format!("bench-{}", self.id)).unwrap())
    }

    async fn nats(&self) -> async_nats::Client {
        async_nats::connect(env("NATS_URL", "nats://127.0.0.1:4222"))
            .await
            .unwrap()
    }

    async fn redis(&self) -> Redis {
        Redis::connect(RedisConfig::new(env("REDIS_URL", "redis://127.0.0.1:6379")))
            .await
            .unwrap()
    }

    /// Listens for the announcements; resolves with the rate once all came, checked.
    async fn listen(&self) -> impl Future<Output = f64> + use<> {
        let client = self.nats().await;
        let mut announced = client
            .subscribe(self.processed.as_str().to_owned())
            .await
            .unwrap();
        client.flush().await.unwrap();
        let records = self.records;
        async move {
            let _connected = client;
            let mut seen = HashSet::with_capacity(records);
            let mut first = None;
            for _ in 0..records {
                let msg = within("an announcement", announced.next()).await.unwrap();
                first.get_or_insert_with(Instant::now);
                let record: ProcessedRecord = serde_json::from_slice(&msg.payload).unwrap();
                assert!(
                    seen.insert((record.partition, record.offset)) && !record.duplicate,
                    "partition {} offset {} announced twice",
                    record.partition,
                    record.offset
                );
            }
            records as f64 / first.unwrap().elapsed().as_secs_f64()
        }
    }

    /// Checks one row per record, then drops the database.
    async fn finish(mut self, rate: f64) -> Sample {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .unwrap();
        assert_eq!(rows as usize, self.records, "one row per record");
        let out_of_order: i64 = sqlx::query_scalar(OUT_OF_ORDER)
            .fetch_one(&self.pool)
            .await
            .unwrap();
        assert_eq!(out_of_order, 0, "rows stored out of partition order");
        self.pool.close().await;
        self.admin
            .execute(format!("DROP DATABASE {} WITH (FORCE)", self.database).as_str())
            .await
            .unwrap();
        vec![("records/s", rate)]
    }

    async fn sdk(self) -> Sample {
        let listening = self.listen().await;
        let redis = self.redis().await;
        let bus = NatsBus::new(self.nats().await);
        let processor = Processor::new(
            self.cache(&redis),
            PgEventStore::new(self.pool.clone()),
            bus,
            Firehose::disabled("bench"),
        )
        .with_config(ProcessorConfig {
            processed_subject: self.processed.clone(),
            ..ProcessorConfig::default()
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let consumer = KafkaConsumer::new(&self.kafka);
        let (group, topic) = (self.group.clone(), self.topic.clone());
        let running = tokio::spawn(async move {
            processor
                .run(&consumer, &group, &[topic], async move {
                    let _ = stopped.await;
                })
                .await
        });
        let rate = listening.await;
        let _ = stop.send(());
        within("the processor's stop", running)
            .await
            .unwrap()
            .unwrap();
        self.finish(rate).await
    }

    async fn raw(self) -> Sample {
        let listening = self.listen().await;
        let redis = self.redis().await;
        let consumer: Arc<StreamConsumer> = Arc::new(
            self.kafka
                .consumer_config(self.group.as_str())
                .create()
                .unwrap(),
        );
        consumer.subscribe(&[self.topic.as_str()]).unwrap();
        let work = Arc::new(RawWork {
            topic: self.topic.clone(),
            processed: self.processed.clone(),
            cache_key: self
                .cache(&redis)
                .redis_key(&cache_key(&self.topic).unwrap()),
            redis: redis::Client::open(env("REDIS_URL", "redis://127.0.0.1:6379"))
                .unwrap()
                .get_connection_manager()
                .await
                .unwrap(),
            pool: self.pool.clone(),
            nats: self.nats().await,
            consumer: consumer.clone(),
        });
        let (stop, mut stopped) = oneshot::channel::<()>();
        let dispatching = tokio::spawn(async move {
            let mut lanes: HashMap<i32, mpsc::UnboundedSender<RawRecord>> = HashMap::new();
            let mut running = Vec::new();
            loop {
                let record = tokio::select! {
                    _ = &mut stopped => break,
                    record = consumer.recv() => record.unwrap(),
                };
                let lane = lanes.entry(record.partition()).or_insert_with(|| {
                    let (queue, waiting) = mpsc::unbounded_channel();
                    running.push(tokio::spawn(lane(waiting, work.clone())));
                    queue
                });
                let record = RawRecord {
                    partition: record.partition(),
                    offset: record.offset(),
                    payload: record.payload().unwrap_or_default().to_vec(),
                };
                lane.send(record).unwrap();
            }
            drop(lanes);
            join_all(running).await;
            consumer.commit_consumer_state(CommitMode::Sync).unwrap();
        });
        let rate = listening.await;
        let _ = stop.send(());
        within("the raw pipeline's stop", dispatching)
            .await
            .unwrap();
        self.finish(rate).await
    }
}

struct RawRecord {
    partition: i32,
    offset: i64,
    payload: Vec<u8>,
}

/// What every lane of the raw pipeline writes to.
struct RawWork {
    topic: Subject,
    processed: Subject,
    cache_key: String,
    redis: redis::aio::ConnectionManager,
    pool: PgPool,
    nats: async_nats::Client,
    consumer: Arc<StreamConsumer>,
}

/// One partition's records, batch after batch, as `BatchLayer` takes them.
async fn lane(mut waiting: mpsc::UnboundedReceiver<RawRecord>, work: Arc<RawWork>) {
    while let Some(first) = waiting.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + DEFAULT_BATCH_LINGER;
        while batch.len() < DEFAULT_BATCH_RECORDS {
            match waiting.try_recv() {
                Ok(record) => batch.push(record),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, waiting.recv()).await {
                        Ok(Some(record)) => batch.push(record),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        work.batch(&batch).await;
    }
}

impl RawWork {
    /// Insert and cache, then announce, then store the offset past the batch. A failure
    /// stops the bench before the offset is stored: the records would come again.
    async fn batch(&self, batch: &[RawRecord]) {
        let mut values = Vec::with_capacity(batch.len());
        let mut statuses = Vec::with_capacity(batch.len());
        let mut last_valid = None;
        for record in batch {
            match serde_json::from_slice::<Value>(&record.payload) {
                Ok(value) => {
                    values.push(value);
                    statuses.push(RecordStatus::Stored);
                    last_valid = Some(&record.payload);
                }
                Err(err) => {
                    let failure = RecordFailure::invalid_json(&err, &record.payload);
                    values.push(json!({ "failure": failure }));
                    statuses.push(RecordStatus::Invalid);
                }
            }
        }
        let keys: Vec<String> = batch
            .iter()
            .map(|r| idempotency_key(&self.topic, position(r)))
            .collect();
        let insert = sqlx::query_as::<_, (i64, Option<i64>, bool)>(INSERT_BATCH)
            .bind(vec!["kafka"; batch.len()])
            .bind(vec![self.topic.as_str(); batch.len()])
            .bind(values.iter().map(Json).collect::<Vec<_>>())
            .bind(keys)
            .fetch_all(&self.pool);
        let cache = async {
            if let Some(payload) = last_valid {
                redis::cmd("SET")
                    .arg(&self.cache_key)
                    .arg(payload.as_slice())
                    .arg("PX")
                    .arg(300_000)
                    .exec_async(&mut self.redis.clone())
                    .await
                    .unwrap();
            }
        };
        let (rows, ()) = futures::join!(insert, cache);
        let rows = rows.unwrap();
        assert_eq!(rows.len(), batch.len(), "one row per input");
        let announcements = rows.iter().zip(batch.iter().zip(statuses)).map(
            |((_, id, created), (record, status))| {
                let at = position(record);
                let announcement = ProcessedRecord {
                    event_id: EventId(id.expect("no concurrent writer in the bench")),
                    topic: self.topic.to_string(),
                    source: "kafka".to_owned(),
                    partition: at.partition,
                    offset: at.offset,
                    status,
                    duplicate: !created,
                };
                let payload = serde_json::to_vec(&announcement).unwrap();
                self.nats
                    .publish(self.processed.as_str().to_owned(), payload.into())
            },
        );
        for published in join_all(announcements).await {
            published.unwrap();
        }
        let last = batch.last().expect("a batch is never empty");
        self.consumer
            .store_offset(self.topic.as_str(), last.partition, last.offset + 1)
            .unwrap();
    }
}

fn position(record: &RawRecord) -> Position {
    Position {
        partition: record.partition as u32,
        offset: record.offset as u64,
    }
}
