//! The processor pipeline: durable log → cache → event store → processed subject → ack,
//! a tower service run by the consumer [`Router`].

use std::{
    future::Future,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures::future::{BoxFuture, join_all};
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder};
use tracing::Instrument;

use super::record::{ProcessedRecord, RecordFailure, RecordStatus, cache_key, idempotency_key};
use crate::Flow;
use switchboard_core::{
    Envelope, EventStore, Firehose, Group, KeyValue, LogConsumer, NewEvent, Position, Publisher,
    Result, Subject, Topic,
    consume::{
        BatchLayer, DEFAULT_BATCH_LINGER, DEFAULT_BATCH_RECORDS, Incoming, Outcome, Router,
        RouterStats,
    },
    layer::{Backoff, TimeoutLayer},
    trace,
};

/// The topic the processor consumes.
pub const EVENTS_TOPIC: &str = "switchboard.events";
/// The consumer group the processor joins.
pub const PROCESSOR_GROUP: &str = "processor";
/// Where processed records are announced.
pub const PROCESSED_SUBJECT: &str = "switchboard.processed";
/// The key/value namespace of the `last:<topic>` cache.
pub const CACHE_NAMESPACE: &str = "cache";
/// How long a cached payload lives.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// The event source of stored records.
const SOURCE: &str = "kafka";

/// Settings of a [`Processor`].
#[derive(Clone, Debug)]
pub struct ProcessorConfig {
    /// TTL of `last:<topic>` (default 5 minutes).
    pub cache_ttl: Duration,
    /// Where processed records are published (default [`PROCESSED_SUBJECT`]).
    pub processed_subject: Subject,
    /// Delay before a batch whose store write failed is delivered again; it doubles with
    /// each further attempt, up to 30 seconds.
    pub retry_delay: Duration,
    /// Records per batch at most: one `insert_many`, then their publishes, then their acks
    /// (default [`DEFAULT_BATCH_RECORDS`]). 1 works record by record.
    pub batch_records: usize,
    /// How long a batch waits for more records after its first (default
    /// [`DEFAULT_BATCH_LINGER`]).
    pub batch_linger: Duration,
    /// Records in flight at most, over all partitions: batches waiting and running (default
    /// 8,192: room for a running and a full waiting batch on each of 8 partitions; with less,
    /// a lane's next batch cannot fill while one runs). Partitions are worked in parallel,
    /// each in order.
    pub in_flight: usize,
    /// The longest one batch may take before it counts as failed and is redelivered.
    pub timeout: Duration,
    /// The `messaging.system` of the log consumed, on each record's span (default `kafka`).
    pub system: &'static str,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            cache_ttl: CACHE_TTL,
            processed_subject: Subject::new(PROCESSED_SUBJECT).expect("valid subject"),
            retry_delay: Duration::from_secs(1),
            batch_records: DEFAULT_BATCH_RECORDS,
            batch_linger: DEFAULT_BATCH_LINGER,
            in_flight: 8192,
            timeout: Duration::from_secs(30),
            system: "kafka",
        }
    }
}

/// Processes durable-log records: caches, stores idempotently, announces, then acks.
///
/// Generic over the cache ([`KeyValue`]), the store ([`EventStore`]) and the announcement
/// transport ([`Publisher`]); pass `Dyn…` handles to choose backends at run time.
#[derive(Clone, Debug)]
pub struct Processor<K, S, P> {
    cache: K,
    store: S,
    publisher: P,
    firehose: Firehose,
    config: ProcessorConfig,
}

impl<K: KeyValue, S: EventStore, P: Publisher> Processor<K, S, P> {
    /// A processor with the default [`ProcessorConfig`].
    pub fn new(cache: K, store: S, publisher: P, firehose: Firehose) -> Self {
        Processor {
            cache,
            store,
            publisher,
            firehose,
            config: ProcessorConfig::default(),
        }
    }

    /// Replaces the settings.
    pub fn with_config(mut self, config: ProcessorConfig) -> Self {
        self.config = config;
        self
    }

    /// Joins `group` on `topics` and works every delivery until `shutdown` resolves; the
    /// records in hand are finished and settled first, and the consumer is dropped
    /// (committing) on return.
    ///
    /// The work is this processor as a tower [`Service`] over batches, under a
    /// [`BatchLayer`] (up to [`ProcessorConfig::batch_records`] records of one partition per
    /// batch, partitions in parallel and each in order; a failed batch is redelivered with a
    /// growing delay, so no record is acked before its row is stored) and a
    /// [`TimeoutLayer`].
    pub async fn run<C: LogConsumer>(
        &self,
        consumer: &C,
        group: &Group,
        topics: &[Topic],
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<RouterStats>
    where
        K: Clone + 'static,
        S: Clone + 'static,
        P: Clone + 'static,
    {
        let batches = BatchLayer::new(self.config.batch_records, self.config.batch_linger)
            .with_backoff(Backoff::new(self.config.retry_delay));
        let work = ServiceBuilder::new()
            .layer(batches)
            .layer(TimeoutLayer::new(self.config.timeout))
            .service(self.clone());
        Router::new(work)
            .with_max_in_flight(self.config.in_flight)
            .with_failure_delay(self.config.retry_delay)
            .consume(consumer, group, topics, shutdown)
            .await
    }

    /// Processes one record without settling it: [`Processor::process_batch`] of one.
    pub async fn process(
        &self,
        envelope: &Envelope,
        position: Position,
    ) -> Result<ProcessedRecord> {
        let records = vec![Incoming::new(envelope.clone(), position, 1)];
        let mut processed = self.process_batch(&records).await?;
        Ok(processed.remove(0))
    }

    /// Processes records in order without settling them: caches each topic's last valid
    /// JSON payload, inserts them all idempotently on topic/partition/offset in one
    /// [`EventStore::insert_many`], then publishes a [`ProcessedRecord`] and emits a firehose
    /// event for each. Fails as a whole if the insert fails.
    pub async fn process_batch(&self, records: &[Incoming]) -> Result<Vec<ProcessedRecord>> {
        let Some(first) = records.first() else {
            return Ok(Vec::new());
        };
        let span = tracing::info_span!("process", topic = %first.topic(),
            partition = first.position().partition, offset = first.position().offset,
            records = records.len());
        self.process_records(records).instrument(span).await
    }

    async fn process_records(&self, records: &[Incoming]) -> Result<Vec<ProcessedRecord>> {
        let mut events = Vec::with_capacity(records.len());
        let mut statuses = Vec::with_capacity(records.len());
        // What record-by-record work would leave cached: each topic's last valid payload.
        let mut last: Vec<(&Topic, Bytes)> = Vec::new();
        for record in records {
            let (topic, payload) = (record.topic(), record.envelope().payload());
            let (value, status) = match serde_json::from_slice::<Value>(payload) {
                Ok(value) => {
                    match last.iter_mut().find(|(t, _)| *t == topic) {
                        Some(entry) => entry.1 = payload.clone(),
                        None => last.push((topic, payload.clone())),
                    }
                    (value, RecordStatus::Stored)
                }
                Err(err) => {
                    tracing::warn!(offset = record.position().offset, error = %err,
                        "record is not JSON; storing it as a failure");
                    let failure = RecordFailure::invalid_json(&err, payload);
                    (json!({ "failure": failure }), RecordStatus::Invalid)
                }
            };
            events.push(
                NewEvent::new(SOURCE, topic.as_str(), value)?
                    .with_idempotency_key(idempotency_key(topic, record.position()))?,
            );
            statuses.push(status);
        }
        let cached = join_all(last.into_iter().map(|(t, p)| self.cache_last(t, p)));
        let (inserted, _) = futures::join!(self.store.insert_many(events), cached);
        let processed: Vec<ProcessedRecord> = inserted?
            .into_iter()
            .zip(records.iter().zip(statuses))
            .map(|(inserted, (record, status))| ProcessedRecord {
                event_id: inserted.id,
                topic: record.topic().to_string(),
                source: SOURCE.to_owned(),
                partition: record.position().partition,
                offset: record.position().offset,
                status,
                duplicate: !inserted.created,
            })
            .collect();
        // Each announcement continues its own record's trace, not the batch's.
        join_all(processed.iter().zip(records).map(|(processed, record)| {
            let span =
                trace::delivery_span(self.config.system, record.envelope(), record.position());
            self.announce(processed).instrument(span)
        }))
        .await;
        Ok(processed)
    }

    async fn cache_last(&self, topic: &Topic, payload: Bytes) {
        let cached = match cache_key(topic) {
            Ok(key) => {
                self.cache
                    .set(&key, payload, Some(self.config.cache_ttl))
                    .await
            }
            Err(err) => Err(err),
        };
        if let Err(err) = cached {
            // The cache is an optimisation: a failing cache never blocks the durable write.
            tracing::warn!(error = %err, "caching the last payload failed");
            self.firehose.emit(
                Flow::Redis,
                "cache_failed",
                json!({ "topic": topic.as_str(), "error": err.to_string() }),
            );
        }
    }

    async fn announce(&self, record: &ProcessedRecord) {
        let published = match Envelope::json(self.config.processed_subject.clone(), record) {
            Ok(msg) => self.publisher.publish(msg).await,
            Err(err) => Err(err),
        };
        if let Err(err) = published {
            tracing::warn!(error = %err, "publishing the processed record failed");
        }
        let action = match (record.status, record.duplicate) {
            (_, true) => "duplicate",
            (RecordStatus::Invalid, _) => "invalid",
            _ => "processed",
        };
        // Counted all the same; the payload only where someone will see it.
        let payload = match self.firehose.is_enabled() {
            true => serde_json::to_value(record).unwrap_or(Value::Null),
            false => Value::Null,
        };
        self.firehose.emit(Flow::Kafka, action, payload);
    }
}

/// A record the processor stored acks; a redelivery it recognised counts as a duplicate.
impl From<ProcessedRecord> for Outcome {
    fn from(record: ProcessedRecord) -> Self {
        if record.duplicate {
            Outcome::Duplicate
        } else {
            Outcome::Handled
        }
    }
}

/// The processor's work on one batch of deliveries, in order; the [`Router`] acks each once
/// the batch returns `Ok`.
impl<K, S, P> Service<Vec<Incoming>> for Processor<K, S, P>
where
    K: KeyValue + Clone + 'static,
    S: EventStore + Clone + 'static,
    P: Publisher + Clone + 'static,
{
    type Response = Vec<ProcessedRecord>;
    type Error = switchboard_core::Error;
    type Future = BoxFuture<'static, Result<Vec<ProcessedRecord>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, batch: Vec<Incoming>) -> Self::Future {
        let processor = self.clone();
        Box::pin(async move {
            let result = processor.process_batch(&batch).await;
            if let (Err(err), Some(first)) = (&result, batch.first()) {
                let position = first.position();
                let attempt = batch.iter().map(Incoming::attempt).max().unwrap_or(1);
                processor.firehose.emit(
                    Flow::Kafka,
                    "retry",
                    json!({ "topic": first.topic().as_str(), "partition": position.partition,
                            "offset": position.offset, "records": batch.len(),
                            "attempt": attempt, "error": switchboard_core::report(err) }),
                );
            }
            result
        })
    }
}
