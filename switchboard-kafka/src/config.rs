//! [`KafkaConfig`]: where the brokers are and how producer, consumer and admin behave.

use std::{fmt, time::Duration};

use rdkafka::{ClientConfig, config::RDKafkaLogLevel};

/// How the members of a consumer group split the partitions
/// (`partition.assignment.strategy`).
///
/// All members of one group must use the same strategy: a broker refuses a member whose
/// strategy differs from the group's (`InconsistentGroupProtocol`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssignmentStrategy {
    /// Contiguous ranges of each topic's partitions per member (Kafka's `range`). Eager: every
    /// rebalance revokes every partition first.
    Range,
    /// Partitions dealt out one by one (`roundrobin`). Eager.
    RoundRobin,
    /// Keeps partitions where they are and moves only what must move
    /// (`cooperative-sticky`): members keep consuming the partitions they keep during a
    /// rebalance, and the revoke commit happens while the group is stable. The default.
    #[default]
    CooperativeSticky,
    /// Any value librdkafka accepts, such as `range,roundrobin`.
    Custom(String),
}

impl AssignmentStrategy {
    /// The librdkafka property value.
    pub fn as_str(&self) -> &str {
        match self {
            AssignmentStrategy::Range => "range",
            AssignmentStrategy::RoundRobin => "roundrobin",
            AssignmentStrategy::CooperativeSticky => "cooperative-sticky",
            AssignmentStrategy::Custom(value) => value,
        }
    }
}

impl fmt::Display for AssignmentStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings shared by [`KafkaProducer`](crate::KafkaProducer),
/// [`KafkaConsumer`](crate::KafkaConsumer) and [`KafkaAdmin`](crate::KafkaAdmin).
///
/// The defaults suit a local broker; [`KafkaConfig::set`] passes any other librdkafka property
/// through (it wins over the values this type sets).
///
/// ```
/// use std::time::Duration;
/// use switchboard_kafka::{AssignmentStrategy, KafkaConfig};
///
/// let config = KafkaConfig::new("127.0.0.1:9092")
///     .with_client_id("processor")
///     .with_assignment_strategy(AssignmentStrategy::CooperativeSticky)
///     .with_commit_interval(Duration::from_millis(500))
///     .set("socket.keepalive.enable", "true");
/// assert_eq!(config.brokers(), "127.0.0.1:9092");
/// ```
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    brokers: String,
    client_id: String,
    assignment_strategy: AssignmentStrategy,
    session_timeout: Duration,
    stall_timeout: Option<Duration>,
    group_instance_id: Option<String>,
    batch_records: Option<usize>,
    commit_interval: Duration,
    prefetch: usize,
    delivery_timeout: Duration,
    request_timeout: Duration,
    replication_factor: i32,
    overrides: Vec<(String, String)>,
}

impl KafkaConfig {
    /// Settings for the comma-separated `host:port` list `brokers`.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            client_id: "switchboard".into(),
            assignment_strategy: AssignmentStrategy::default(),
            session_timeout: Duration::from_secs(10),
            stall_timeout: None,
            group_instance_id: None,
            batch_records: None,
            commit_interval: Duration::from_secs(1),
            prefetch: 4096,
            delivery_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            replication_factor: 1,
            overrides: Vec::new(),
        }
    }

    /// Reads `KAFKA_BROKERS`, defaulting to `127.0.0.1:9092`.
    pub fn from_env() -> Self {
        Self::new(std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into()))
    }

    /// The `client.id` the broker logs and quotas see. Default `switchboard`.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// How a group splits partitions. Default [`AssignmentStrategy::CooperativeSticky`].
    pub fn with_assignment_strategy(mut self, strategy: AssignmentStrategy) -> Self {
        self.assignment_strategy = strategy;
        self
    }

    /// How long a silent member stays in its group (`session.timeout.ms`). Default 10 s.
    pub fn with_session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// How long a member may be in a rebalance that does not complete before it looks at its
    /// group. Default: half the session timeout.
    ///
    /// It then asks the coordinator who leads the group; a leader that is no longer a member
    /// (tansu 0.6 keeps a dead leader's id, and the group can never rebalance again) is stood
    /// in for: the member joins under the dead leader's id, completes its generation with an
    /// empty assignment and leaves, so that a live member leads and assigns every partition.
    /// Apache Kafka names no leader for classic groups there and needs no repair, so there the
    /// look changes nothing. See docs/backends.md.
    pub fn with_rebalance_stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = Some(timeout.max(Duration::from_millis(100)));
        self
    }

    /// Static group membership (`group.instance.id`, KIP-345): a member that restarts with the
    /// same id takes back its partitions at once, without a rebalance and without waiting for
    /// its old session to time out. Default `None` (dynamic membership).
    ///
    /// The id names one live member: give every process (and every `join` of one process) its
    /// own, stable across restarts, such as `processor-0`, `processor-1`. A second member
    /// joining with an id in use fences the first (`FENCED_INSTANCE_ID`). A static member does
    /// not leave its group on shutdown; its partitions wait for it for one session timeout,
    /// then move to the others.
    pub fn with_group_instance_id(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        self.group_instance_id = (!id.trim().is_empty()).then_some(id);
        self
    }

    /// How often acked offsets are committed in the background (`auto.commit.interval.ms`).
    /// Default 1 s. Revokes and shutdown commit at once, whatever this says.
    pub fn with_commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    /// Records librdkafka fetches ahead of the stream's reader, per partition
    /// (`queued.min.messages`). Default 4,096.
    ///
    /// The stream takes each record from its partition's queue as the reader asks for it; a
    /// partition whose queue holds this many records (or `queued.max.messages.kbytes`,
    /// librdkafka's 64 MiB by default) is not fetched until the reader takes some. No
    /// partition is paused for back pressure: a pause throws away what was fetched ahead, and
    /// a reader slower than the log made the member refetch again and again
    /// (docs/benchmarks.md).
    pub fn with_prefetch(mut self, records: usize) -> Self {
        self.prefetch = records.max(1);
        self
    }

    /// Records the producer puts in one batch at most (`batch.num.messages`). Default:
    /// librdkafka's (10,000). tansu 0.6 needs 1: it cannot serve a fetch that starts inside a
    /// batch, so a member resuming at a committed offset inside one skips the batch's rest
    /// (see docs/backends.md). Apache Kafka needs no such limit.
    pub fn with_batch_records(mut self, records: usize) -> Self {
        self.batch_records = Some(records.max(1));
        self
    }

    /// How long an append may wait for the broker, retries included
    /// (`message.timeout.ms`). Default 120 s.
    pub fn with_delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// How long admin and metadata requests wait. Default 30 s.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Replicas of each partition of topics that [`KafkaAdmin`](crate::KafkaAdmin) creates.
    /// Default 1, which suits a single development broker; use 3 in production.
    pub fn with_replication_factor(mut self, replicas: u16) -> Self {
        self.replication_factor = i32::from(replicas.max(1));
        self
    }

    /// Sets any librdkafka property, overriding what this type would set.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.push((key.into(), value.into()));
        self
    }

    /// The bootstrap brokers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// The group assignment strategy.
    pub fn assignment_strategy(&self) -> &AssignmentStrategy {
        &self.assignment_strategy
    }

    /// How long a silent member stays in its group.
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    /// How long a rebalance may go on before the member looks at its group.
    pub fn rebalance_stall_timeout(&self) -> Duration {
        self.stall_timeout.unwrap_or(self.session_timeout / 2)
    }

    /// The `client.id`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The producer's batch limit in records, if set.
    pub fn batch_records(&self) -> Option<usize> {
        self.batch_records
    }

    /// The static member id, if any.
    pub fn group_instance_id(&self) -> Option<&str> {
        self.group_instance_id.as_deref()
    }

    /// The background commit interval.
    pub fn commit_interval(&self) -> Duration {
        self.commit_interval
    }

    /// Records fetched ahead per partition.
    pub fn prefetch(&self) -> usize {
        self.prefetch
    }

    /// How long an append may wait for the broker.
    pub fn delivery_timeout(&self) -> Duration {
        self.delivery_timeout
    }

    /// The admin and metadata request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    pub(crate) fn replication_factor(&self) -> i32 {
        self.replication_factor
    }

    fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id);
        config
    }

    fn finish(&self, mut config: ClientConfig) -> ClientConfig {
        // librdkafka's lines go to `tracing`; its `debug` property asks for debug lines.
        let debug = self.overrides.iter().any(|(key, _)| key == "debug");
        config.set_log_level(if debug {
            RDKafkaLogLevel::Debug
        } else {
            RDKafkaLogLevel::Info
        });
        for (key, value) in &self.overrides {
            config.set(key, value);
        }
        config
    }

    /// The idempotent producer's librdkafka settings, as [`KafkaProducer`](crate::KafkaProducer)
    /// uses them: a raw client made from them is configured the same way (the benchmarks
    /// compare against one).
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = self.client();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // Java's partitioner: the same key lands in the same partition from any client.
            .set("partitioner", "murmur2_random")
            .set("message.timeout.ms", millis(self.delivery_timeout))
            .set("linger.ms", "5");
        if let Some(records) = self.batch_records {
            config.set("batch.num.messages", records.to_string());
        }
        self.finish(config)
    }

    /// A group member's librdkafka settings, as [`KafkaConsumer`](crate::KafkaConsumer) uses
    /// them: offsets are stored by ack only, and committed by librdkafka's auto-commit and by
    /// the revoke and shutdown commits.
    pub fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut config = self.client();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", millis(self.commit_interval))
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("queued.min.messages", self.prefetch.to_string())
            // Statistics feed the rebalance watchdog (the group's join state) and carry each
            // partition's lag (`switchboard_consumer_lag`).
            .set("statistics.interval.ms", "1000")
            .set("session.timeout.ms", millis(self.session_timeout))
            .set(
                "heartbeat.interval.ms",
                millis((self.session_timeout / 4).max(Duration::from_millis(100))),
            )
            .set(
                "partition.assignment.strategy",
                self.assignment_strategy.as_str(),
            );
        if let Some(id) = &self.group_instance_id {
            config.set("group.instance.id", id);
        }
        self.finish(config)
    }

    /// A consumer that only reads group offsets; it never joins the group.
    pub(crate) fn offsets_reader_config(&self, group: &str) -> ClientConfig {
        let mut config = self.client();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false");
        self.finish(config)
    }

    /// The admin client's settings.
    pub(crate) fn admin_config(&self) -> ClientConfig {
        self.finish(self.client())
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self::from_env()
    }
}

fn millis(duration: Duration) -> String {
    duration.as_millis().max(1).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_stores_offsets_only_by_ack() {
        let config = KafkaConfig::new("b:9092")
            .with_assignment_strategy(AssignmentStrategy::CooperativeSticky)
            .consumer_config("g");
        assert_eq!(config.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(config.get("enable.auto.commit"), Some("true"));
        assert_eq!(
            config.get("partition.assignment.strategy"),
            Some("cooperative-sticky")
        );
        assert_eq!(config.get("group.id"), Some("g"));
    }

    #[test]
    fn the_rebalance_watchdog_waits_half_a_session_by_default() {
        let config = KafkaConfig::new("b:9092").with_session_timeout(Duration::from_secs(10));
        assert_eq!(config.rebalance_stall_timeout(), Duration::from_secs(5));
        let set = config.with_rebalance_stall_timeout(Duration::from_secs(2));
        assert_eq!(set.rebalance_stall_timeout(), Duration::from_secs(2));
        // The watchdog reads the join state from librdkafka's statistics.
        assert_eq!(
            set.consumer_config("g").get("statistics.interval.ms"),
            Some("1000")
        );
    }

    #[test]
    fn static_membership_is_opt_in() {
        let dynamic = KafkaConfig::new("b:9092").consumer_config("g");
        assert_eq!(dynamic.get("group.instance.id"), None);
        let config = KafkaConfig::new("b:9092").with_group_instance_id("processor-0");
        assert_eq!(config.group_instance_id(), Some("processor-0"));
        assert_eq!(
            config.consumer_config("g").get("group.instance.id"),
            Some("processor-0")
        );
        assert_eq!(
            KafkaConfig::new("b:9092")
                .with_group_instance_id(" ")
                .group_instance_id(),
            None
        );
    }

    #[test]
    fn producer_is_idempotent_and_overrides_win() {
        let config = KafkaConfig::new("b:9092")
            .set("linger.ms", "0")
            .producer_config();
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("linger.ms"), Some("0"));
        assert_eq!(config.get("batch.num.messages"), None);
        let one = KafkaConfig::new("b:9092").with_batch_records(0);
        assert_eq!(one.batch_records(), Some(1));
        assert_eq!(one.producer_config().get("batch.num.messages"), Some("1"));
    }
}
