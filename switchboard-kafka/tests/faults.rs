//! Fault tests against librdkafka's in-process mock cluster: a broker that goes away
//! mid-stream, failing commits, failing produce requests and rebalances, none of which a live
//! broker can give deterministically. No external broker is needed.

mod common;

use common::number;

use std::{collections::HashSet, time::Duration};

use futures::{StreamExt as _, future::join_all};
use rdkafka::{
    mocking::MockCluster,
    producer::DefaultProducerContext,
    types::{RDKafkaApiKey, RDKafkaRespErr},
};
use switchboard_core::{
    Envelope, Group, LogConsumer, LogProducer, Topic,
    testkit::{Names, next_ok, within},
};
use switchboard_kafka::{
    AssignmentStrategy, KafkaAdmin, KafkaConfig, KafkaConsumer, KafkaDeliveries, KafkaProducer,
};

const WAIT: Duration = Duration::from_secs(60);
const BROKER: i32 = 1;

struct Mock {
    cluster: MockCluster<'static, DefaultProducerContext>,
    config: KafkaConfig,
    producer: KafkaProducer,
    consumer: KafkaConsumer,
    admin: KafkaAdmin,
    topic: Topic,
    group: Group,
}

/// A one-broker mock cluster with a topic of `partitions` partitions.
fn mock(partitions: i32, config: impl FnOnce(KafkaConfig) -> KafkaConfig) -> Mock {
    common::init_tracing();
    let cluster = MockCluster::new(1).expect("mock cluster");
    let names = Names::unique();
    let topic = names.subject("faults");
    cluster
        .create_topic(topic.as_str(), partitions, 1)
        .expect("mock topic");
    let config = config(
        KafkaConfig::new(cluster.bootstrap_servers())
            .with_commit_interval(Duration::from_millis(200))
            .with_session_timeout(Duration::from_secs(6))
            .with_delivery_timeout(Duration::from_secs(60)),
    );
    // As in the live tests: `KAFKA_DEBUG=cgrp` logs librdkafka's group protocol (with RUST_LOG).
    let config = match std::env::var("KAFKA_DEBUG") {
        Ok(debug) => config.set("debug", debug),
        Err(_) => config,
    };
    Mock {
        producer: KafkaProducer::new(&config).expect("producer"),
        consumer: KafkaConsumer::new(&config),
        admin: KafkaAdmin::new(&config).expect("admin"),
        group: names.group("g"),
        config,
        cluster,
        topic,
    }
}

impl Mock {
    async fn append(&self, range: std::ops::Range<usize>) {
        let appends: Vec<_> = range
            .map(|i| {
                self.producer.append(
                    Envelope::new(self.topic.clone(), i.to_string()).with_key(format!("k{i}")),
                )
            })
            .collect();
        for result in join_all(appends).await {
            result.expect("append");
        }
    }

    async fn join(&self) -> KafkaDeliveries {
        self.consumer
            .join(&self.group, std::slice::from_ref(&self.topic))
            .await
            .expect("join")
    }

    async fn committed_total(&self) -> u64 {
        self.admin
            .committed_offsets(&self.group, &self.topic)
            .await
            .expect("committed offsets")
            .values()
            .map(|o| o.unwrap_or(0))
            .sum()
    }

    async fn committed_until(&self, total: u64, what: &str) {
        within(WAIT, what, async {
            while self.committed_total().await != total {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
    }

    /// [`committed_until`](Self::committed_until), acking what `stream` delivers again
    /// meanwhile: an outage longer than the session (a loaded machine stretches it) loses the
    /// assignment, and the records acked but not committed then come again, at least once.
    async fn committed_acking_until(&self, stream: &mut KafkaDeliveries, total: u64, what: &str) {
        within(WAIT, what, async {
            while self.committed_total().await != total {
                let again = tokio::time::timeout(Duration::from_millis(100), stream.next());
                if let Ok(Some(delivery)) = again.await {
                    let delivery = delivery.expect("a delivery");
                    assert!(number(&delivery) < total as usize, "an unknown record");
                    delivery.ack().await.expect("ack a redelivery");
                }
            }
        })
        .await;
    }
}

/// Receives and acks deliveries until `received` holds every number below `total`.
async fn ack_until(stream: &mut KafkaDeliveries, received: &mut HashSet<usize>, total: usize) {
    while received.len() < total {
        let delivery = next_ok(stream, WAIT, "the remaining deliveries").await;
        received.insert(number(&delivery));
        delivery.ack().await.expect("ack");
    }
}

/// The only broker goes down mid-stream, with appends waiting and deliveries unacked; once it
/// is back, every append succeeds and every message is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_mid_stream_loses_nothing() {
    let mock = mock(2, |c| c);
    mock.append(0..100).await;
    let mut member = mock.join().await;
    let mut received = HashSet::new();
    for _ in 0..50 {
        let delivery = next_ok(&mut member, WAIT, "the first half").await;
        received.insert(number(&delivery));
        delivery.ack().await.expect("ack");
    }
    let in_hand = next_ok(&mut member, WAIT, "a delivery held across the outage").await;

    mock.cluster.broker_down(BROKER).expect("broker down");
    let producer = mock.producer.clone();
    let topic = mock.topic.clone();
    let appends = tokio::spawn(async move {
        let appends: Vec<_> = (100..200)
            .map(|i| producer.append(Envelope::new(topic.clone(), i.to_string())))
            .collect();
        join_all(appends).await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !appends.is_finished(),
        "appends cannot finish while the broker is down"
    );
    // Acking during the outage only stores the offset; it is committed once the broker is back.
    received.insert(number(&in_hand));
    in_hand.ack().await.expect("ack during the outage");
    mock.cluster.broker_up(BROKER).expect("broker up");

    for result in within(WAIT, "the appends after recovery", appends)
        .await
        .expect("append task")
    {
        result.expect("append after recovery");
    }
    ack_until(&mut member, &mut received, 200).await;
    assert_eq!(received, (0..200).collect::<HashSet<_>>());
    mock.committed_acking_until(&mut member, 200, "every offset committed after recovery")
        .await;
    member.close().await.expect("close");
}

/// Produce requests that fail with retriable errors are retried by the idempotent producer:
/// every append succeeds and each record is stored exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_produce_requests_are_retried_once_and_in_order() {
    let mock = mock(1, |c| c);
    mock.cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        ],
    );
    mock.append(0..50).await;
    let mut member = mock.join().await;
    let mut order = Vec::new();
    while order.len() < 50 {
        let delivery = next_ok(&mut member, WAIT, "the appended records").await;
        order.push((number(&delivery), delivery.position().offset));
        delivery.ack().await.expect("ack");
    }
    assert_eq!(
        order,
        (0..50).map(|i| (i, i as u64)).collect::<Vec<_>>(),
        "each record once, at consecutive offsets, in append order"
    );
    switchboard_core::testkit::assert_quiet(&mut member, Duration::from_millis(500), "duplicates")
        .await;
    member.close().await.expect("close");
}

/// Commits that fail are not fatal: the member keeps consuming, a later commit carries the
/// acked offsets, and a member that leaves while commits fail loses nothing (its deliveries
/// come again from the last commit that succeeded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_commits_lose_nothing() {
    let mock = mock(1, |c| c);
    mock.append(0..30).await;
    let mut member = mock.join().await;
    let mut received = HashSet::new();
    for _ in 0..10 {
        let delivery = next_ok(&mut member, WAIT, "the first ten").await;
        received.insert(number(&delivery));
        delivery.ack().await.expect("ack");
    }
    mock.committed_until(10, "the first commit").await;

    // Every commit fails for a while: background commits, and the shutdown commit. (An error
    // librdkafka does not retry by itself, so each commit attempt takes one.)
    let failures = vec![RDKafkaRespErr::RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE; 1_000];
    mock.cluster
        .request_errors(RDKafkaApiKey::OffsetCommit, &failures);
    for _ in 0..10 {
        let delivery = next_ok(&mut member, WAIT, "deliveries while commits fail").await;
        received.insert(number(&delivery));
        delivery.ack().await.expect("ack");
    }
    tokio::time::sleep(mock.config.commit_interval() * 3).await;
    assert_eq!(
        mock.committed_total().await,
        10,
        "the failed commits stored nothing"
    );
    let closed = member.close().await;
    assert!(
        closed.is_err(),
        "the shutdown commit failed and must say so"
    );
    mock.cluster
        .clear_request_errors(RDKafkaApiKey::OffsetCommit);

    let mut fresh = mock.join().await;
    let mut again = HashSet::new();
    ack_until(&mut fresh, &mut again, 20).await;
    assert_eq!(
        again,
        (10..30).collect::<HashSet<_>>(),
        "redelivered from the last successful commit: 10..20 again, then the rest"
    );
    mock.committed_until(30, "the commit after recovery").await;
    fresh.close().await.expect("close");
}

/// A second member joining makes the first give partitions up; with the cooperative protocol
/// it commits its acks synchronously on the revoke (the background interval here is an hour),
/// so the newcomer starts where it left off.
///
/// The mock coordinator ends a sync round as soon as the leader's SyncGroup arrives and
/// answers a follower whose SyncGroup comes later with `INVALID_REQUEST` (a real broker sends
/// it its assignment). On a loaded machine the newcomer is sometimes that late follower: it
/// rejoins at once, and the first member's revoke commit, sent a few milliseconds later, meets
/// a joining group and is refused (`REBALANCE_IN_PROGRESS`). Nothing is lost then (checked
/// every time), but the acks since the last commit come again; so a run whose revoke commit
/// was refused is tried again with a fresh cluster, and a member that never commits on revoke
/// fails every attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_rebalance_commits_on_revoke() {
    const ATTEMPTS: usize = 3;
    let mut redelivered = Vec::new();
    for _ in 0..ATTEMPTS {
        let mock = mock(4, |c| {
            c.with_commit_interval(Duration::from_secs(3600))
                .with_assignment_strategy(AssignmentStrategy::CooperativeSticky)
        });
        let again =
            common::second_member_joins(&mock.producer, &mock.consumer, &mock.group, &mock.topic)
                .await;
        // At most the one delivery in hand while the revoke ran comes again.
        if again <= 1 {
            return;
        }
        eprintln!("{again} acked records came again: the revoke commit was refused; trying again");
        redelivered.push(again);
    }
    panic!(
        "acked records came again in each of {ATTEMPTS} attempts ({redelivered:?}): the revoke \
         did not commit"
    );
}

/// The same with the eager `range` protocol: the mock coordinator refuses commits once the
/// rebalance has started (`REBALANCE_IN_PROGRESS`, where Apache Kafka accepts them), so the
/// revoke commit fails; nothing is lost, the acked records since the last commit come again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_rebalance_loses_nothing_when_the_revoke_commit_is_refused() {
    let mock = mock(4, |c| {
        c.with_commit_interval(Duration::from_secs(3600))
            .with_assignment_strategy(AssignmentStrategy::Range)
    });
    common::second_member_joins(&mock.producer, &mock.consumer, &mock.group, &mock.topic).await;
}
