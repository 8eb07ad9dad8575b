//! [`JetStreamLog`]: a durable log on JetStream, with durable pull consumers per group.

mod acker;
mod config;
mod consumer;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_nats::{
    Client,
    jetstream::{
        self, ErrorCode,
        context::{CreateStreamErrorKind, GetStreamByNameErrorKind, PublishErrorKind},
        message::PublishMessage,
        stream,
    },
};
use switchboard_core::{
    Envelope, Error, InvalidInput, LogProducer, Position, Result, Topic, TopicAdmin,
    outgoing::{Operation, Sends},
};

pub use config::{JetStreamConfig, StorageType};
pub use consumer::JetStreamDeliveries;

use crate::{NatsConfig, NatsError, codec, subject::to_client};

/// A durable log on JetStream: [`LogProducer`], [`LogConsumer`](switchboard_core::LogConsumer)
/// and [`TopicAdmin`]. Cheap to clone.
///
/// - Each topic is stored by one stream: the stream that already stores its subject, or else
///   a stream named `<stream_prefix><topic with . replaced by _>` created for it.
/// - A stream is one ordered sequence: one partition, offsets are stream sequences.
/// - Each group is a durable pull consumer with explicit ack; the members of a group pull from
///   the same consumer, so they share its messages.
#[derive(Clone)]
pub struct JetStreamLog {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    context: jetstream::Context,
    config: JetStreamConfig,
    /// Topic → name of the stream that stores it.
    streams: Mutex<HashMap<Topic, StreamOf>>,
    appends: Sends,
}

/// The stream that stores a topic, and whether it stores that topic alone.
#[derive(Clone, Debug)]
pub(crate) struct StreamOf {
    pub(crate) name: String,
    pub(crate) shared: bool,
}

impl std::fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamLog")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl JetStreamLog {
    /// A log over an existing client, with the default [`JetStreamConfig`].
    pub fn new(client: Client) -> Self {
        Self::with_config(client, JetStreamConfig::default())
    }

    /// A log over an existing client.
    pub fn with_config(client: Client, config: JetStreamConfig) -> Self {
        let context = jetstream::new(client.clone());
        JetStreamLog {
            inner: Arc::new(Inner {
                client,
                context,
                config,
                streams: Mutex::default(),
                appends: Sends::new(Operation::Append, "jetstream"),
            }),
        }
    }

    /// Connects to `url` with the default [`NatsConfig`] and [`JetStreamConfig`].
    pub async fn connect(url: &str) -> Result<Self> {
        Ok(Self::new(NatsConfig::new(url).connect().await?))
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The JetStream context, for what this type does not cover.
    pub fn context(&self) -> &jetstream::Context {
        &self.inner.context
    }

    /// The configuration.
    pub fn config(&self) -> &JetStreamConfig {
        &self.inner.config
    }

    /// The name of the stream this log creates for `topic`.
    pub fn stream_name(&self, topic: &Topic) -> String {
        format!(
            "{}{}",
            self.inner.config.stream_prefix,
            topic.as_str().replace('.', "_")
        )
    }

    /// Deletes the stream created for `topic` with its messages and consumers; `false` if
    /// there was none.
    pub async fn delete_topic(&self, topic: &Topic) -> Result<bool> {
        self.cache().remove(topic);
        match self
            .inner
            .context
            .delete_stream(self.stream_name(topic))
            .await
        {
            Ok(status) => Ok(status.success),
            Err(err) => match err.kind() {
                jetstream::context::DeleteStreamErrorKind::JetStream(js)
                    if js.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    Ok(false)
                }
                _ => Err(Error::unavailable(err)),
            },
        }
    }

    pub(crate) fn forget_stream(&self, topic: &Topic) {
        self.cache().remove(topic);
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<Topic, StreamOf>> {
        self.inner
            .streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The stream storing `topic`, created if configured and missing.
    pub(crate) async fn stream_of(&self, topic: &Topic) -> Result<StreamOf> {
        if let Some(found) = self.cache().get(topic) {
            return Ok(found.clone());
        }
        let found = match self.inner.context.stream_by_subject(topic.as_str()).await {
            Ok(name) => {
                let shared = name != self.stream_name(topic);
                StreamOf { name, shared }
            }
            Err(err) if err.kind() == GetStreamByNameErrorKind::NotFound => {
                if !self.inner.config.create_streams {
                    return Err(NatsError::NoStream {
                        subject: topic.clone(),
                    }
                    .into());
                }
                self.create_stream(topic).await?
            }
            Err(err) => return Err(Error::unavailable(err)),
        };
        self.cache().insert(topic.clone(), found.clone());
        Ok(found)
    }

    async fn create_stream(&self, topic: &Topic) -> Result<StreamOf> {
        let config = &self.inner.config;
        let name = self.stream_name(topic);
        let stream_config = stream::Config {
            name: name.clone(),
            subjects: vec![topic.to_string()],
            storage: config.storage,
            max_age: config.max_age,
            max_bytes: config.max_bytes,
            duplicate_window: config.duplicate_window,
            num_replicas: config.replicas.max(1),
            ..Default::default()
        };
        match self.inner.context.create_stream(stream_config).await {
            Ok(_) => {
                tracing::info!(topic = %topic, stream = %name, "jetstream stream created");
                Ok(StreamOf {
                    name,
                    shared: false,
                })
            }
            Err(err) => match err.kind() {
                CreateStreamErrorKind::JetStreamUnavailable => {
                    Err(NatsError::JetStreamDisabled.into())
                }
                CreateStreamErrorKind::JetStream(js)
                    if js.error_code() == ErrorCode::STREAM_NAME_EXIST =>
                {
                    self.existing_stream(topic, name).await
                }
                CreateStreamErrorKind::TimedOut => Err(Error::unavailable(err)),
                _ => Err(Error::backend(err)),
            },
        }
    }

    /// A stream of our name exists (made concurrently, or for other subjects).
    async fn existing_stream(&self, topic: &Topic, name: String) -> Result<StreamOf> {
        let stream = self
            .inner
            .context
            .get_stream(&name)
            .await
            .map_err(Error::unavailable)?;
        let subjects = stream.cached_info().config.subjects.clone();
        if subjects.iter().any(|s| s == topic.as_str()) {
            Ok(StreamOf {
                shared: subjects.len() > 1,
                name,
            })
        } else {
            Err(NatsError::StreamNameTaken {
                stream: name,
                subjects,
                topic: topic.clone(),
            }
            .into())
        }
    }

    async fn publish(&self, msg: &Envelope) -> Result<jetstream::publish::PublishAck> {
        let limit = self.inner.client.max_payload();
        let mut headers = codec::encode_headers(msg, true)?.unwrap_or_default();
        headers.insert(codec::MSG_ID_HEADER, msg.id().to_string().as_str());
        let publish = PublishMessage::build()
            .payload(msg.payload().clone())
            .headers(headers);
        let size = msg.payload().len();
        let map = |err: jetstream::context::PublishError| match err.kind() {
            PublishErrorKind::MaxPayloadExceeded => {
                Error::from(InvalidInput::PayloadTooLarge { size, limit })
            }
            PublishErrorKind::StreamNotFound => NatsError::NoStream {
                subject: msg.subject().clone(),
            }
            .into(),
            PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => Error::unavailable(err),
            _ => Error::transient(err),
        };
        let ack = self
            .inner
            .context
            .send_publish(to_client(msg.subject()), publish)
            .await
            .map_err(map)?;
        ack.await.map_err(map)
    }
}

impl LogProducer for JetStreamLog {
    /// Waits for the stream's PubAck. The envelope id is the `Nats-Msg-Id`, so retrying an
    /// append that failed after the server stored it does not store it twice.
    async fn append(&self, mut msg: Envelope) -> Result<Position> {
        msg.check_size(self.inner.client.max_payload())?;
        let out = self.inner.appends.start(&mut msg);
        out.run(async {
        let topic = msg.subject().clone();
        if self.inner.config.create_streams {
            self.stream_of(&topic).await?;
        }
        let ack = match self.publish(&msg).await {
            // The stream was deleted behind our back: forget it, make it again, retry once.
            Err(Error::Backend { source, .. })
                if self.inner.config.create_streams
                    && matches!(
                        source.downcast_ref::<NatsError>(),
                        Some(NatsError::NoStream { .. })
                    ) =>
            {
                self.cache().remove(&topic);
                self.stream_of(&topic).await?;
                self.publish(&msg).await?
            }
            other => other?,
        };
        tracing::trace!(topic = %topic, partition = 0, offset = ack.sequence, duplicate = ack.duplicate, "appended");
        Ok(Position {
            partition: 0,
            offset: ack.sequence,
        })
        })
        .await
    }
}

impl TopicAdmin for JetStreamLog {
    /// Makes sure a stream stores `topic`. JetStream has no partitions: `partitions` is
    /// ignored and the topic is one ordered sequence.
    async fn create_topic(&self, topic: &Topic, partitions: u32) -> Result<()> {
        if partitions > 1 {
            tracing::debug!(topic = %topic, partitions, "jetstream streams have one partition");
        }
        self.stream_of(topic).await.map(drop)
    }
}
