//! [`KafkaAdmin`]: topics created on demand and listed, and a group's committed offsets.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use rdkafka::{
    Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    consumer::{BaseConsumer, Consumer as _},
    types::RDKafkaErrorCode,
};
use switchboard_core::{Error, Group, Result, Topic, TopicAdmin};
use tracing::{debug, info};

use crate::{
    KafkaConfig,
    context::TracingContext,
    error::{self, KafkaBackendError},
};

/// How often [`KafkaAdmin::create_topic`] looks at the metadata while waiting for a new topic.
const METADATA_POLL: Duration = Duration::from_millis(100);

/// Creates topics through Kafka's admin API and reads committed group offsets. Cheap to clone.
#[derive(Clone)]
pub struct KafkaAdmin {
    admin: std::sync::Arc<AdminClient<TracingContext>>,
    config: KafkaConfig,
}

impl std::fmt::Debug for KafkaAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAdmin")
            .field("brokers", &self.config.brokers())
            .finish_non_exhaustive()
    }
}

impl KafkaAdmin {
    /// An admin client with `config`'s settings.
    pub fn new(config: &KafkaConfig) -> Result<Self> {
        let admin = config
            .admin_config()
            .create_with_context(TracingContext)
            .map_err(error::config)?;
        Ok(KafkaAdmin {
            admin: std::sync::Arc::new(admin),
            config: config.clone(),
        })
    }

    /// The member id the group coordinator records as `group`'s leader, where the broker says:
    /// tansu does (`ConsumerGroupDescribe`'s assignor name); Apache Kafka names no leader for
    /// classic groups, so there it is `None`. On tansu a static member's id starts with its
    /// `group.instance.id`. For operations and tests: which member's death needs the repair
    /// described in docs/backends.md.
    pub async fn group_leader(&self, group: &Group) -> Result<Option<String>> {
        crate::coordinator::recorded_leader(
            self.config.brokers(),
            self.config.client_id(),
            group.as_str(),
            self.config.request_timeout(),
        )
        .await
        .map_err(|err| Error::Unavailable(Box::new(err)))
    }

    /// The partition count of `topic`, or `None` while the broker does not list it.
    pub async fn partitions(&self, topic: &Topic) -> Result<Option<u32>> {
        let admin = self.admin.clone();
        let name = topic.as_str().to_owned();
        let timeout = self.config.request_timeout();
        blocking(move || {
            let metadata = admin.inner().fetch_metadata(Some(&name), timeout)?;
            Ok(metadata
                .topics()
                .iter()
                .find(|t| t.name() == name && t.error().is_none())
                .map(|t| t.partitions().len() as u32)
                .filter(|n| *n > 0))
        })
        .await
    }

    /// Every topic the brokers list, with its partition count, by name.
    pub async fn topics(&self) -> Result<BTreeMap<String, u32>> {
        let admin = self.admin.clone();
        let timeout = self.config.request_timeout();
        blocking(move || {
            let metadata = admin.inner().fetch_metadata(None, timeout)?;
            Ok(metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .map(|t| (t.name().to_owned(), t.partitions().len() as u32))
                .collect())
        })
        .await
    }

    /// The offsets `group` has committed on each partition of `topic`: the next offset the group
    /// will read there, or `None` where it has committed nothing.
    pub async fn committed_offsets(
        &self,
        group: &Group,
        topic: &Topic,
    ) -> Result<BTreeMap<u32, Option<u64>>> {
        let Some(partitions) = self.partitions(topic).await? else {
            return Err(Error::backend(KafkaBackendError::UnknownTopic {
                topic: topic.to_string(),
            }));
        };
        let reader: BaseConsumer<TracingContext> = self
            .config
            .offsets_reader_config(group.as_str())
            .create_with_context(TracingContext)
            .map_err(error::config)?;
        let name = topic.as_str().to_owned();
        let timeout = self.config.request_timeout();
        blocking(move || {
            let mut wanted = TopicPartitionList::new();
            wanted.add_partition_range(&name, 0, partitions as i32 - 1);
            let committed = reader.committed_offsets(wanted, timeout)?;
            Ok(committed
                .elements()
                .iter()
                .map(|e| {
                    let offset = match e.offset() {
                        Offset::Offset(o) => u64::try_from(o).ok(),
                        _ => None,
                    };
                    (e.partition() as u32, offset)
                })
                .collect())
        })
        .await
    }

    async fn create(&self, topic: &Topic, partitions: u32) -> Result<()> {
        let partitions = i32::try_from(partitions.max(1)).map_err(Error::backend)?;
        let new_topic = NewTopic::new(
            topic.as_str(),
            partitions,
            TopicReplication::Fixed(self.config.replication_factor()),
        );
        let options = AdminOptions::new().operation_timeout(Some(self.config.request_timeout()));
        let results = self
            .admin
            .create_topics([&new_topic], &options)
            .await
            .map_err(error::map)?;
        for result in results {
            match result {
                Ok(_) => info!(topic = %topic, partitions, "topic created"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    debug!(topic = %topic, "topic already exists")
                }
                Err((name, code)) => {
                    return Err(Error::backend(KafkaBackendError::CreateTopic {
                        topic: name,
                        code,
                    }));
                }
            }
        }
        Ok(())
    }
}

impl TopicAdmin for KafkaAdmin {
    /// Creates `topic` (an existing topic is success, whatever its partition count), then waits
    /// until the broker's metadata lists it, so producers and consumers can use it at once.
    async fn create_topic(&self, topic: &Topic, partitions: u32) -> Result<()> {
        self.create(topic, partitions).await?;
        let limit = self.config.request_timeout();
        let started = Instant::now();
        loop {
            if self.partitions(topic).await?.is_some() {
                return Ok(());
            }
            if started.elapsed() > limit {
                return Err(Error::backend(KafkaBackendError::TopicNotVisible {
                    topic: topic.to_string(),
                    after: limit,
                }));
            }
            tokio::time::sleep(METADATA_POLL).await;
        }
    }
}

/// Runs a blocking librdkafka call off the async threads.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> rdkafka::error::KafkaResult<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(Error::backend)?
        .map_err(error::map)
}
