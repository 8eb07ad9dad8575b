//! [`KafkaProducer`]: the idempotent, pipelined [`LogProducer`].

use std::{future::Future, time::Duration};

use rdkafka::{
    error::KafkaError,
    producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _},
    types::RDKafkaErrorCode,
};
use switchboard_core::{
    Envelope, Error, InvalidInput, LogProducer, Position, Result,
    outgoing::{Operation, Sends},
};
use tracing::debug;

use crate::{
    KafkaConfig, codec,
    context::TracingContext,
    error::{self, KafkaBackendError},
};

/// How long an append waits before trying again when librdkafka's local queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(5);

/// Appends envelopes to Kafka topics: idempotent (`enable.idempotence=true`, `acks=all`), so a
/// retry inside the client never stores a record twice nor reorders a partition.
///
/// [`append`](LogProducer::append) hands the record to librdkafka before it returns its
/// future, so appends started in order are stored in that order per partition even when many
/// are awaited together; none waits for another's acknowledgement. The envelope's key picks the
/// partition (Java's murmur2 partitioner, so other clients agree). Cheap to clone.
#[derive(Clone)]
pub struct KafkaProducer {
    producer: FutureProducer<TracingContext>,
    max_message_bytes: usize,
    delivery_timeout: Duration,
    request_timeout: Duration,
    appends: Sends,
}

impl std::fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProducer").finish_non_exhaustive()
    }
}

impl KafkaProducer {
    /// A producer with `config`'s settings. Connects lazily: a broker that is down shows up as
    /// appends that wait, then fail with a transient error after the delivery timeout.
    pub fn new(config: &KafkaConfig) -> Result<Self> {
        let client = config.producer_config();
        let max_message_bytes = client
            .get("message.max.bytes")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let producer = client
            .create_with_context(TracingContext)
            .map_err(error::config)?;
        Ok(KafkaProducer {
            producer,
            max_message_bytes,
            delivery_timeout: config.delivery_timeout(),
            request_timeout: config.request_timeout(),
            appends: Sends::new(Operation::Append, "kafka"),
        })
    }

    /// What the client still holds: appends not yet acknowledged by the broker, plus delivery
    /// reports and requests in its queues (librdkafka's `outq_len`). A gauge for back
    /// pressure and shutdown, not an exact count of pending appends.
    pub fn pending(&self) -> usize {
        usize::try_from(self.producer.in_flight_count()).unwrap_or_default()
    }

    /// Waits until every append handed to the client so far is acknowledged or failed.
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(Error::backend)?
            .map_err(error::map)
    }

    /// Hands `msg` to librdkafka now; `Err` carries the code when it refused.
    fn enqueue(&self, msg: &Envelope) -> Result<DeliveryFuture, KafkaError> {
        let mut record = FutureRecord::<str, [u8]>::to(msg.subject().as_str())
            .payload(msg.payload().as_ref())
            .headers(codec::record_headers(msg))
            .timestamp(codec::record_timestamp(msg));
        if let Some(key) = msg.key() {
            record = record.key(key);
        }
        self.producer.send_result(record).map_err(|(err, _)| err)
    }

    /// Maps a refused or failed append onto the portable error.
    async fn failed(&self, msg: &Envelope, err: KafkaError) -> Error {
        let topic = msg.subject().as_str();
        match err.rdkafka_error_code() {
            Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize) => {
                InvalidInput::PayloadTooLarge {
                    size: msg.payload().len(),
                    limit: self.max_message_bytes,
                }
                .into()
            }
            Some(
                RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownPartition,
            ) => unknown_topic(topic),
            // librdkafka waits for a missing topic until the delivery timeout: say which it was.
            Some(RDKafkaErrorCode::MessageTimedOut) => match self.topic_exists(topic).await {
                Some(false) => unknown_topic(topic),
                _ => Error::Timeout {
                    after: self.delivery_timeout,
                },
            },
            _ => error::map(err),
        }
    }

    /// Whether the broker lists `topic`; `None` if it could not be asked.
    async fn topic_exists(&self, topic: &str) -> Option<bool> {
        let producer = self.producer.clone();
        let (topic, timeout) = (topic.to_owned(), self.request_timeout);
        tokio::task::spawn_blocking(move || {
            let metadata = producer
                .client()
                .fetch_metadata(Some(&topic), timeout)
                .ok()?;
            Some(
                metadata.topics().iter().any(|t| {
                    t.name() == topic && t.error().is_none() && !t.partitions().is_empty()
                }),
            )
        })
        .await
        .ok()
        .flatten()
    }
}

fn unknown_topic(topic: &str) -> Error {
    Error::backend(KafkaBackendError::UnknownTopic {
        topic: topic.to_owned(),
    })
}

fn is_queue_full(err: &KafkaError) -> bool {
    err.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull)
}

impl LogProducer for KafkaProducer {
    fn append(&self, mut msg: Envelope) -> impl Future<Output = Result<Position>> + Send {
        let out = self.appends.start(&mut msg);
        // Enqueue now, not on first poll: call order is partition order.
        let first = self.enqueue(&msg);
        let this = self.clone();
        out.run(async move {
            let mut attempt = first;
            let delivery = loop {
                match attempt {
                    Ok(delivery) => break delivery,
                    Err(err) if is_queue_full(&err) => {
                        tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                        attempt = this.enqueue(&msg);
                    }
                    Err(err) => return Err(this.failed(&msg, err).await),
                }
            };
            this.delivered(&msg, delivery).await
        })
    }
}

impl KafkaProducer {
    /// Awaits the broker's answer; runs inside the append's producer span (`Outgoing`), which
    /// names the topic and the id.
    async fn delivered(&self, msg: &Envelope, delivery: DeliveryFuture) -> Result<Position> {
        match delivery.await {
            Ok(Ok(stored)) => {
                let position = Position {
                    partition: u32::try_from(stored.partition).map_err(Error::backend)?,
                    offset: u64::try_from(stored.offset).map_err(Error::backend)?,
                };
                debug!(
                    partition = position.partition,
                    offset = position.offset,
                    "appended"
                );
                Ok(position)
            }
            Ok(Err((err, _))) => Err(self.failed(msg, err).await),
            Err(_canceled) => Err(Error::Closed),
        }
    }
}
