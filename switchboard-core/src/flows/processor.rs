//! The processor pipeline: durable log → cache → event store → processed subject → ack.

use std::{future::Future, time::Duration};

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tracing::Instrument;

use super::record::{ProcessedRecord, RecordFailure, RecordStatus, cache_key, idempotency_key};
use crate::{
    Delivery, Envelope, Error, EventStore, Firehose, Flow, Group, KeyValue, LogConsumer, NewEvent,
    Position, Publisher, Result, Subject, Topic,
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
    /// Delay before a record whose store write failed is delivered again.
    pub retry_delay: Duration,
    /// The `messaging.system` of the log consumed, on each record's span (default `kafka`).
    pub system: &'static str,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            cache_ttl: CACHE_TTL,
            processed_subject: Subject::new(PROCESSED_SUBJECT).expect("valid subject"),
            retry_delay: Duration::from_secs(1),
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

    /// Joins `group` on `topics` and handles every delivery until `shutdown` resolves; the
    /// record in hand is finished first, and the consumer is dropped (committing) on return.
    pub async fn run<C: LogConsumer>(
        &self,
        consumer: &C,
        group: &Group,
        topics: &[Topic],
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<()> {
        let stream = consumer.join(group, topics).await?;
        tracing::info!(group = %group, topics = ?topics, "processor joined");
        let mut stream = std::pin::pin!(stream.take_until(shutdown));
        while let Some(item) = stream.next().await {
            match item {
                Ok(delivery) => {
                    if let Err(err) = self.handle(delivery).await {
                        tracing::warn!(error = %err, "record not processed; it will be redelivered");
                    }
                }
                Err(Error::Closed) => return Err(Error::Closed),
                Err(err) => tracing::warn!(error = %err, "consumer error"),
            }
        }
        tracing::info!(group = %group, "processor stopped");
        Ok(())
    }

    /// Processes one delivery and settles it: ack after the store write succeeded, nack with
    /// [`ProcessorConfig::retry_delay`] otherwise.
    pub async fn handle(&self, delivery: Delivery) -> Result<ProcessedRecord> {
        match self.process(delivery.envelope(), delivery.position()).await {
            Ok(record) => {
                delivery.ack().await?;
                Ok(record)
            }
            Err(err) => {
                let topic = delivery.envelope().subject().clone();
                let position = delivery.position();
                self.firehose.emit(
                    Flow::Kafka,
                    "retry",
                    json!({ "topic": topic.as_str(), "partition": position.partition,
                            "offset": position.offset, "error": err.to_string() }),
                );
                delivery.nack(self.config.retry_delay).await?;
                Err(err)
            }
        }
    }

    /// Processes one record without settling it: cache (valid JSON only), insert idempotently
    /// on topic/partition/offset, publish a [`ProcessedRecord`], emit a firehose event.
    pub async fn process(
        &self,
        envelope: &Envelope,
        position: Position,
    ) -> Result<ProcessedRecord> {
        let span = crate::trace::delivery_span(self.config.system, envelope, position);
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
