//! The live-broker fixture shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::{net::ToSocketAddrs, time::Duration};

use switchboard_core::{Topic, TopicAdmin, testkit::LogFixture};
use switchboard_kafka::{KafkaAdmin, KafkaConfig, KafkaConsumer, KafkaProducer};

/// Talks to the broker in `KAFKA_BROKERS` (default 127.0.0.1:9092).
pub struct Kafka {
    pub config: KafkaConfig,
    pub producer: KafkaProducer,
    pub consumer: KafkaConsumer,
    pub admin: KafkaAdmin,
}

/// The settings every live test uses: a short commit interval and session timeout, so groups
/// settle and commits land quickly.
pub fn config() -> KafkaConfig {
    init_tracing();
    let mut config = KafkaConfig::from_env()
        .with_commit_interval(Duration::from_millis(200))
        .with_session_timeout(Duration::from_secs(6))
        // tansu 0.6 (memory/dynostore) serves a fetch only from batches that start at or after
        // the fetch offset, so a consumer resuming inside a multi-record batch would skip it.
        // One record per batch keeps every offset a batch start. See docs/backends/kafka.md.
        .set("batch.num.messages", "1");
    if let Ok(debug) = std::env::var("KAFKA_DEBUG") {
        config = config.set("debug", debug);
    }
    assert_reachable(config.brokers());
    config
}

/// Fails the test, saying what to start, when no broker listens.
pub fn assert_reachable(brokers: &str) {
    let first = brokers.split(',').next().unwrap_or_default().trim();
    let reachable = first
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
        });
    assert!(
        reachable,
        "no Kafka broker at KAFKA_BROKERS={brokers}: start one with `scripts/test` or \
         `source scripts/services.sh && sb_ensure_kafka` (tansu on 127.0.0.1:9092), or point \
         KAFKA_BROKERS at a running broker"
    );
}

pub async fn setup() -> Kafka {
    Kafka::with_config(config())
}

impl Kafka {
    pub fn with_config(config: KafkaConfig) -> Self {
        Kafka {
            producer: KafkaProducer::new(&config).expect("producer"),
            consumer: KafkaConsumer::new(&config),
            admin: KafkaAdmin::new(&config).expect("admin"),
            config,
        }
    }
}

impl LogFixture for Kafka {
    type Producer = KafkaProducer;
    type Consumer = KafkaConsumer;

    fn producer(&self) -> KafkaProducer {
        self.producer.clone()
    }

    fn consumer(&self) -> KafkaConsumer {
        self.consumer.clone()
    }

    async fn create_topic(&self, topic: &Topic, partitions: u32) {
        self.admin
            .create_topic(topic, partitions)
            .await
            .expect("create topic");
    }

    fn settle_time(&self) -> Duration {
        Duration::from_secs(5)
    }

    fn redelivery_timeout(&self) -> Duration {
        Duration::from_secs(20)
    }
}

/// Logs to the test output when `RUST_LOG` is set (for example `RUST_LOG=switchboard_kafka=debug`).
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}
