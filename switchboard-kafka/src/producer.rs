//! [`KafkaProducer`]: the idempotent, pipelined [`LogProducer`].

use std::{future::Future, time::Duration};

use rdkafka::{
    error::KafkaError,
    producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _},
    types::RDKafkaErrorCode,
};
use switchboard_core::{Envelope, Error, InvalidInput, LogProducer, Position, Result};
use tracing::{debug, instrument};

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
        })
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

    fn refused(&self, msg: &Envelope, err: KafkaError) -> Error {
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
            ) => Error::backend(KafkaBackendError::UnknownTopic {
                topic: topic.to_owned(),
            }),
            _ => error::map(err),
        }
    }
}

fn is_queue_full(err: &KafkaError) -> bool {
    err.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull)
}

impl LogProducer for KafkaProducer {
    fn append(&self, msg: Envelope) -> impl Future<Output = Result<Position>> + Send {
        // Enqueue now, not on first poll: call order is partition order.
        let first = self.enqueue(&msg);
        let this = self.clone();
        async move {
            let mut attempt = first;
            let delivery = loop {
                match attempt {
                    Ok(delivery) => break delivery,
                    Err(err) if is_queue_full(&err) => {
                        tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                        attempt = this.enqueue(&msg);
                    }
                    Err(err) => return Err(this.refused(&msg, err)),
                }
            };
            this.delivered(&msg, delivery).await
        }
    }
}

impl KafkaProducer {
    #[instrument(level = "debug", name = "kafka.append", skip_all, fields(topic = %msg.subject(), id = %msg.id()))]
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
            Ok(Err((err, _))) => Err(self.refused(msg, err)),
            Err(_canceled) => Err(Error::Closed),
        }
    }
}
