//! The processor pipeline: durable log → cache → event store → processed subject → ack,
//! a tower service run by the consumer [`Router`].

use std::{
    future::Future,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder};
use tracing::Instrument;

use super::record::{ProcessedRecord, RecordFailure, RecordStatus, cache_key, idempotency_key};
use crate::{
    Envelope, EventStore, Firehose, Flow, Group, KeyValue, LogConsumer, NewEvent, Position,
    Publisher, Result, Subject, Topic,
    consume::{Incoming, KeyOrderLayer, Outcome, RedeliverLayer, Router, RouterStats},
    layer::{Backoff, TimeoutLayer},
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
    /// Delay before a record whose store write failed is delivered again; it doubles with
    /// each further attempt, up to 30 seconds.
    pub retry_delay: Duration,
    /// Records worked at once: different keys (records without a key: different partitions)
    /// in parallel, each key in order (default 16).
    pub concurrency: usize,
    /// The longest one record may take before it counts as failed and is redelivered.
    pub timeout: Duration,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            cache_ttl: CACHE_TTL,
            processed_subject: Subject::new(PROCESSED_SUBJECT).expect("valid subject"),
            retry_delay: Duration::from_secs(1),
            concurrency: 16,
            timeout: Duration::from_secs(30),
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
    /// The work is this processor as a tower [`Service`] under a [`KeyOrderLayer`] (keys in
    /// parallel, each in order), a [`RedeliverLayer`] (a failed record is nacked with a
    /// growing delay, so it is never acked before its row is stored) and a [`TimeoutLayer`].
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
        let backoff = Backoff::new(self.config.retry_delay);
        let work = ServiceBuilder::new()
            .layer(KeyOrderLayer::new().with_failure_delay(self.config.retry_delay))
            .layer(RedeliverLayer::new(backoff))
            .layer(TimeoutLayer::new(self.config.timeout))
            .service(self.clone());
        Router::new(work)
            .with_max_in_flight(self.config.concurrency)
            .with_failure_delay(self.config.retry_delay)
            .consume(consumer, group, topics, shutdown)
            .await
    }

    /// Processes one record without settling it: cache (valid JSON only), insert idempotently
    /// on topic/partition/offset, publish a [`ProcessedRecord`], emit a firehose event.
    pub async fn process(
        &self,
        envelope: &Envelope,
        position: Position,
    ) -> Result<ProcessedRecord> {
        let span = tracing::info_span!("process", topic = %envelope.subject(),
            partition = position.partition, offset = position.offset);
        self.process_record(envelope, position)
            .instrument(span)
            .await
    }

    async fn process_record(
        &self,
        envelope: &Envelope,
        position: Position,
    ) -> Result<ProcessedRecord> {
        let topic = envelope.subject();
        let (payload, status) = match serde_json::from_slice::<Value>(envelope.payload()) {
            Ok(value) => {
                self.cache_last(topic, envelope.payload().clone()).await;
                (value, RecordStatus::Stored)
            }
            Err(err) => {
                tracing::warn!(error = %err, "record is not JSON; storing it as a failure");
                let failure = RecordFailure::invalid_json(&err, envelope.payload());
                (json!({ "failure": failure }), RecordStatus::Invalid)
            }
        };
        let event = NewEvent::new(SOURCE, topic.as_str(), payload)?
            .with_idempotency_key(idempotency_key(topic, position))?;
        let inserted = self.store.insert(event).await?;
        let record = ProcessedRecord {
            event_id: inserted.id,
            topic: topic.to_string(),
            source: SOURCE.to_owned(),
            partition: position.partition,
            offset: position.offset,
            status,
            duplicate: !inserted.created,
        };
        self.announce(&record).await;
        Ok(record)
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
        let payload = serde_json::to_value(record).unwrap_or(Value::Null);
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

/// The processor's work on one delivery; the [`Router`] acks once it returns `Ok`.
impl<K, S, P> Service<Incoming> for Processor<K, S, P>
where
    K: KeyValue + Clone + 'static,
    S: EventStore + Clone + 'static,
    P: Publisher + Clone + 'static,
{
    type Response = ProcessedRecord;
    type Error = crate::Error;
    type Future = BoxFuture<'static, Result<ProcessedRecord>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Incoming) -> Self::Future {
        let processor = self.clone();
        Box::pin(async move {
            let result = processor.process(req.envelope(), req.position()).await;
            if let Err(err) = &result {
                let position = req.position();
                processor.firehose.emit(
                    Flow::Kafka,
                    "retry",
                    json!({ "topic": req.topic().as_str(), "partition": position.partition,
                            "offset": position.offset, "attempt": req.attempt(),
                            "error": crate::report(err) }),
                );
            }
            result
        })
    }
}
