//! The live-broker fixture shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::{
    collections::HashSet,
    net::ToSocketAddrs,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, future::join_all};
use switchboard_core::{
    Delivery, Envelope, Group, LogConsumer, LogProducer, Topic, TopicAdmin,
    testkit::{LogFixture, next_ok},
};
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
        // One record per batch keeps every offset a batch start. See docs/backends.md (Kafka).
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

/// Logs to the test output when `RUST_LOG` is set (for example `RUST_LOG=switchboard_kafka=debug`),
/// through the conformance kit's subscriber, so the kit's trace cases still see their spans.
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        switchboard_core::testkit::traced::install();
    }
}

/// The number a test message carries as its payload.
pub fn number(delivery: &Delivery) -> usize {
    std::str::from_utf8(delivery.envelope().payload())
        .expect("utf-8 payload")
        .parse()
        .expect("numbered payload")
}

/// One member acks the first 100 of 400 messages over 4 partitions, then a second member
/// joins and both drain the rest. With the background commit interval far away, only the
/// revoke commit can tell the group where the first member stood: the number of acked
/// messages delivered again says whether it happened.
///
/// Both members run until every message has come (or [`DRAIN_DEADLINE`] passes, which fails
/// the test with the missing numbers). They do not stop after a quiet spell: a cooperative
/// rebalance takes two rounds, each of which the mock coordinator may hold for most of a
/// session timeout, so a newcomer can wait well over 15 s for its partitions on a loaded
/// machine, and a member that gave up by then would leave records nobody delivers.
///
/// Asserts that nothing is lost and both members take a share; returns how many acked
/// messages came again.
pub async fn second_member_joins(
    producer: &KafkaProducer,
    consumer: &KafkaConsumer,
    group: &Group,
    topic: &Topic,
) -> usize {
    const TOTAL: usize = 400;
    /// What the first member may take before the second has partitions, so some are left.
    const FIRST_AHEAD: usize = 150;
    let appends: Vec<_> = (0..TOTAL)
        .map(|i| {
            producer.append(Envelope::new(topic.clone(), i.to_string()).with_key(format!("k{i}")))
        })
        .collect();
    for result in join_all(appends).await {
        result.expect("append");
    }
    let join = || consumer.join(group, std::slice::from_ref(topic));
    let mut first = join().await.expect("join");
    let mut before = HashSet::new();
    for _ in 0..100 {
        let delivery = next_ok(&mut first, Duration::from_secs(60), "the first hundred").await;
        before.insert(number(&delivery));
        delivery.ack().await.expect("ack");
    }
    let second = join().await.expect("join");
    // The first member goes on slowly until the second has partitions, so the rebalance
    // happens while it works; it takes at most FIRST_AHEAD more meanwhile, so work is left
    // for both.
    let second_started = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(before.clone()));
    let deadline = tokio::time::Instant::now() + DRAIN_DEADLINE;
    let mut tasks = Vec::new();
    for (is_second, mut stream) in [(false, first), (true, second)] {
        let second_started = second_started.clone();
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let all_seen = || seen.lock().unwrap().len() == TOTAL;
            while !all_seen() && tokio::time::Instant::now() < deadline {
                if !is_second && got.len() >= FIRST_AHEAD && !second_started.load(Ordering::SeqCst)
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let delivery =
                    match tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
                        Err(_quiet) => continue,
                        Ok(None) => break,
                        Ok(Some(delivery)) => delivery.expect("delivery"),
                    };
                got.push(number(&delivery));
                seen.lock().unwrap().insert(number(&delivery));
                delivery.ack().await.expect("ack");
                if is_second {
                    second_started.store(true, Ordering::SeqCst);
                } else if !second_started.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            // Leave while the broker is still there.
            let _ = stream.close().await;
            got
        }));
    }
    let results: Vec<Vec<usize>> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("member task"))
        .collect();
    let after: Vec<usize> = results.iter().flatten().copied().collect();
    let all: HashSet<usize> = before.iter().chain(&after).copied().collect();
    let mut missing: Vec<usize> = (0..TOTAL).filter(|n| !all.contains(n)).collect();
    missing.sort_unstable();
    assert!(
        missing.is_empty(),
        "nothing lost: {} of {TOTAL} never came within {DRAIN_DEADLINE:?}: {missing:?}",
        missing.len()
    );
    assert_eq!(all, (0..TOTAL).collect::<HashSet<_>>(), "nothing lost");
    assert!(
        results.iter().all(|got| !got.is_empty()),
        "both members take a share after the rebalance: {:?}",
        results.iter().map(Vec::len).collect::<Vec<_>>()
    );
    after.iter().filter(|n| before.contains(n)).count()
}

/// How long [`second_member_joins`] waits for every message: generous, since a loaded
/// machine can stretch a cooperative rebalance on the mock cluster to several rounds.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(120);
