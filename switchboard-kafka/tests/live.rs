//! Kafka-specific behaviour against a live broker (`KAFKA_BROKERS`, default 127.0.0.1:9092).

mod common;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{Kafka, setup};
use futures::{StreamExt, future::join_all};
use switchboard_core::{
    Delivery, Envelope, LogConsumer, LogProducer, Topic,
    testkit::{
        LogFixture, Names,
        assigned::{await_assigned, is_probe},
        next_ok, within,
    },
};
use switchboard_kafka::{AssignmentStrategy, KafkaDeliveries};

const WAIT: Duration = Duration::from_secs(30);

fn number(delivery: &Delivery) -> usize {
    std::str::from_utf8(delivery.envelope().payload())
        .unwrap()
        .parse()
        .unwrap()
}

async fn append_numbered(kafka: &Kafka, topic: &Topic, range: std::ops::Range<usize>) {
    let appends: Vec<_> = range
        .map(|i| {
            kafka
                .producer
                .append(Envelope::new(topic.clone(), i.to_string()).with_key(format!("k{i}")))
        })
        .collect();
    for result in join_all(appends).await {
        result.expect("append");
    }
}

/// Polls the group's committed offsets until `check` accepts them.
async fn committed_until(
    kafka: &Kafka,
    names: &Names,
    topic: &Topic,
    what: &str,
    check: impl Fn(&BTreeMap<u32, Option<u64>>) -> bool,
) -> BTreeMap<u32, Option<u64>> {
    let group = names.group("g");
    within(WAIT, what, async {
        loop {
            let committed = kafka
                .admin
                .committed_offsets(&group, topic)
                .await
                .expect("committed offsets");
            if check(&committed) {
                return committed;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

/// 10,000 keyed messages, appended pipelined, consumed by a group of two: every key's
/// messages arrive in order, and both members take a share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_keyed_messages_keep_order_in_a_group_of_two() {
    const KEYS: usize = 100;
    const PER_KEY: usize = 100;
    let kafka = Kafka::with_config(
        common::config().with_assignment_strategy(AssignmentStrategy::CooperativeSticky),
    );
    let names = Names::unique();
    let topic = names.subject("ordered");
    let group = names.group("g");
    kafka.create_topic(&topic, 4).await;
    let mut members = Vec::new();
    for _ in 0..2 {
        members.push(
            kafka
                .consumer
                .join(&group, std::slice::from_ref(&topic))
                .await
                .expect("join"),
        );
    }
    await_assigned(&kafka, &topic, &mut members)
        .await
        .expect("both members' assignment");

    // Every append is handed to the client as it is called, so call order is partition order.
    let appends: Vec<_> = (0..KEYS * PER_KEY)
        .map(|i| {
            let (key, seq) = (i % KEYS, i / KEYS);
            kafka.producer.append(
                Envelope::new(topic.clone(), seq.to_string()).with_key(format!("key-{key}")),
            )
        })
        .collect();
    for result in join_all(appends).await {
        result.expect("append");
    }

    let seen: Arc<Mutex<HashMap<String, Vec<usize>>>> = Arc::default();
    let total = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (member, mut stream) in members.into_iter().enumerate() {
        let (seen, total) = (seen.clone(), total.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = 0usize;
            while total.load(std::sync::atomic::Ordering::SeqCst) < KEYS * PER_KEY {
                let Ok(Some(delivery)) =
                    tokio::time::timeout(Duration::from_millis(500), stream.next()).await
                else {
                    continue;
                };
                let delivery = delivery.expect("delivery");
                if is_probe(&delivery) {
                    delivery.ack().await.expect("ack a probe");
                    continue;
                }
                let key = delivery.envelope().key().expect("key").to_owned();
                seen.lock()
                    .unwrap()
                    .entry(key)
                    .or_default()
                    .push(number(&delivery));
                delivery.ack().await.expect("ack");
                mine += 1;
                total.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            (member, mine, stream)
        }));
    }
    let shares = within(
        Duration::from_secs(120),
        "10,000 deliveries",
        join_all(tasks),
    )
    .await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), KEYS);
    for (key, numbers) in seen.iter() {
        assert_eq!(
            numbers,
            &(0..PER_KEY).collect::<Vec<_>>(),
            "key {key} out of order or duplicated"
        );
    }
    for share in shares {
        let (member, mine, _stream) = share.expect("member task");
        assert!(mine > 0, "member {member} received nothing");
    }
}

/// A member dropped while holding unacked deliveries: a fresh member receives every one of
/// them, and nothing acked before the first gap comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_deliveries_of_a_dropped_member_go_to_a_fresh_member() {
    const TOTAL: usize = 30;
    let kafka = setup().await;
    let names = Names::unique();
    let topic = names.subject("dropped");
    let group = names.group("g");
    kafka.create_topic(&topic, 3).await;
    append_numbered(&kafka, &topic, 0..TOTAL).await;

    let mut acked = HashSet::new();
    let mut held = Vec::new();
    let mut first = kafka
        .consumer
        .join(&group, std::slice::from_ref(&topic))
        .await
        .expect("join");
    for i in 0..20 {
        let delivery = next_ok(&mut first, WAIT, "deliveries to the first member").await;
        if i % 3 == 0 {
            held.push(delivery);
        } else {
            acked.insert(number(&delivery));
            delivery.ack().await.expect("ack");
        }
    }
    let unacked: HashSet<usize> = held.iter().map(number).collect();
    // The member goes away with its deliveries still in hand.
    drop(first);
    drop(held);

    let mut fresh = kafka
        .consumer
        .join(&group, std::slice::from_ref(&topic))
        .await
        .expect("rejoin");
    let mut received = HashSet::new();
    while !(received.is_superset(&unacked) && received.union(&acked).count() == TOTAL) {
        let delivery = next_ok(
            &mut fresh,
            WAIT,
            "the unacked deliveries on the fresh member",
        )
        .await;
        received.insert(number(&delivery));
        delivery.ack().await.expect("ack");
    }
    assert!(received.is_superset(&unacked));
}

/// Acks of later offsets while an earlier one is out never commit past it; once it is acked
/// the commit moves to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_ack_does_not_commit_past_the_gap() {
    let kafka = setup().await;
    let names = Names::unique();
    let topic = names.subject("gap");
    kafka.create_topic(&topic, 1).await;
    append_numbered(&kafka, &topic, 0..5).await;
    let mut member = kafka
        .consumer
        .join(&names.group("g"), std::slice::from_ref(&topic))
        .await
        .expect("join");
    let mut deliveries = Vec::new();
    for _ in 0..5 {
        deliveries.push(next_ok(&mut member, WAIT, "five deliveries").await);
    }
    let gap = deliveries.remove(1);
    assert_eq!(gap.position().offset, 1);
    for delivery in deliveries {
        delivery.ack().await.expect("ack");
    }
    // 0, 2, 3 and 4 acked: the commit may reach 1, never further.
    let committed = committed_until(
        &kafka,
        &names,
        &topic,
        "offset 0 acked and committed",
        |c| c.get(&0) == Some(&Some(1)),
    )
    .await;
    assert_eq!(committed[&0], Some(1));
    // Several commit intervals later it still stands at the gap.
    tokio::time::sleep(kafka.config.commit_interval() * 5).await;
    let committed = kafka
        .admin
        .committed_offsets(&names.group("g"), &topic)
        .await
        .expect("committed offsets");
    assert_eq!(
        committed[&0],
        Some(1),
        "committed past the unacked offset 1"
    );

    gap.ack().await.expect("ack the gap");
    committed_until(
        &kafka,
        &names,
        &topic,
        "the commit to pass the filled gap",
        |c| c.get(&0) == Some(&Some(5)),
    )
    .await;
}

/// Dropping a member commits its acked offsets at once, without waiting for the interval,
/// and only up to the first unacked one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_commits_acked_offsets_synchronously() {
    let config = common::config().with_commit_interval(Duration::from_secs(3600));
    let kafka = Kafka::with_config(config);
    let names = Names::unique();
    let topic = names.subject("shutdown");
    kafka.create_topic(&topic, 1).await;
    append_numbered(&kafka, &topic, 0..6).await;
    let mut member: KafkaDeliveries = kafka
        .consumer
        .join(&names.group("g"), std::slice::from_ref(&topic))
        .await
        .expect("join");
    let mut deliveries = Vec::new();
    for _ in 0..6 {
        deliveries.push(next_ok(&mut member, WAIT, "six deliveries").await);
    }
    let held = deliveries.remove(4);
    for delivery in deliveries {
        delivery.ack().await.expect("ack");
    }
    std::mem::forget(held);
    drop(member);
    let committed = committed_until(&kafka, &names, &topic, "the shutdown commit", |c| {
        c.get(&0).copied().flatten().is_some()
    })
    .await;
    assert_eq!(
        committed[&0],
        Some(4),
        "commit must stop at the unacked offset 4"
    );
}

/// Many appends are in flight at once: all are handed to the client before any is awaited,
/// and one key's records land in call order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_pipelines_appends() {
    const TOTAL: usize = 2_000;
    // A long linger holds the first batch, so nothing completes while the appends are issued.
    let kafka = Kafka::with_config(
        common::config()
            .set("batch.num.messages", "10000")
            .set("linger.ms", "1000"),
    );
    let names = Names::unique();
    let topic = names.subject("pipeline");
    kafka.create_topic(&topic, 2).await;
    let appends: Vec<_> = (0..TOTAL)
        .map(|i| {
            kafka
                .producer
                .append(Envelope::new(topic.clone(), i.to_string()).with_key("one-key"))
        })
        .collect();
    let pending = kafka.producer.pending();
    assert!(
        pending >= TOTAL,
        "every append must be handed to the client before any is awaited: {pending} pending"
    );
    let positions: Vec<_> = join_all(appends)
        .await
        .into_iter()
        .map(|r| r.expect("append"))
        .collect();
    let partition = positions[0].partition;
    assert!(
        positions.iter().all(|p| p.partition == partition),
        "one key, one partition"
    );
    assert!(
        positions.windows(2).all(|w| w[1].offset == w[0].offset + 1),
        "a key's appends are stored in call order, without gaps or duplicates"
    );
}

/// Id, key, headers, payload and timestamp (to the millisecond) survive the trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_round_trips() {
    let kafka = setup().await;
    let names = Names::unique();
    let topic = names.subject("roundtrip");
    kafka.create_topic(&topic, 1).await;
    let sent = Envelope::new(topic.clone(), vec![0u8, 159, 146, 150, 255])
        .with_key("customer-7")
        .with_header("trace", "abc")
        .with_header("content-type", "application/octet-stream");
    kafka.producer.append(sent.clone()).await.expect("append");
    let mut member = kafka
        .consumer
        .join(&names.group("g"), std::slice::from_ref(&topic))
        .await
        .expect("join");
    let got = next_ok(&mut member, WAIT, "the round trip").await;
    let msg = got.envelope();
    assert_eq!(msg.id(), sent.id());
    assert_eq!(msg.subject(), sent.subject());
    assert_eq!(msg.key(), Some("customer-7"));
    assert_eq!(msg.payload(), sent.payload());
    // Under a tracer (RUST_LOG set) the append's producer span adds its trace context.
    let mut headers = msg.headers().clone();
    headers.remove(switchboard_core::trace::TRACEPARENT);
    headers.remove(switchboard_core::trace::TRACESTATE);
    assert_eq!(&headers, sent.headers());
    let millis =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    assert_eq!(millis(msg.timestamp()), millis(sent.timestamp()));
    got.ack().await.expect("ack");
}

/// Creating a topic twice is fine; appending to a topic that does not exist is a typed,
/// actionable error rather than a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_on_demand() {
    let kafka = Kafka::with_config(common::config().with_delivery_timeout(Duration::from_secs(5)));
    let names = Names::unique();
    let topic = names.subject("created");
    kafka.create_topic(&topic, 3).await;
    kafka.create_topic(&topic, 3).await;
    assert_eq!(kafka.admin.partitions(&topic).await.unwrap(), Some(3));
    let missing = names.subject("missing");
    assert_eq!(kafka.admin.partitions(&missing).await.unwrap(), None);
    let listed = kafka.admin.topics().await.unwrap();
    assert_eq!(listed.get(topic.as_str()), Some(&3), "{listed:?}");
    assert!(!listed.contains_key(missing.as_str()), "{listed:?}");
    let err = kafka
        .producer
        .append(Envelope::new(missing, "x"))
        .await
        .expect_err("append to a missing topic");
    let chain = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(chain.contains("create"), "unhelpful error: {chain} {err:?}");
}

/// A nack in the middle of a partition seeks back: the nacked record and every later one of
/// its partition come again, in order; records acked before it do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_rewinds_the_partition_in_order() {
    let kafka = setup().await;
    let names = Names::unique();
    let topic = names.subject("rewind");
    kafka.create_topic(&topic, 1).await;
    append_numbered(&kafka, &topic, 0..6).await;
    let mut member = kafka
        .consumer
        .join(&names.group("g"), std::slice::from_ref(&topic))
        .await
        .expect("join");
    let mut first = Vec::new();
    for _ in 0..6 {
        first.push(next_ok(&mut member, WAIT, "six deliveries").await);
    }
    let mut first = first.into_iter();
    for delivery in first.by_ref().take(2) {
        delivery.ack().await.expect("ack");
    }
    let nacked = first.next().unwrap();
    assert_eq!(number(&nacked), 2);
    nacked.nack(Duration::from_millis(300)).await.expect("nack");
    // 3, 4 and 5 were handed out before the nack: still in hand, they come again too.
    drop(first);
    let mut again = Vec::new();
    for _ in 0..4 {
        let delivery = next_ok(&mut member, WAIT, "the rewound records").await;
        again.push((number(&delivery), delivery.attempt() >= 2));
        delivery.ack().await.expect("ack");
    }
    assert_eq!(
        again[0],
        (2, true),
        "the nacked record first, as a further attempt"
    );
    assert_eq!(
        again.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [2, 3, 4, 5],
        "then the rest of the partition, in order"
    );
    switchboard_core::testkit::assert_quiet(
        &mut member,
        Duration::from_millis(500),
        "acked records",
    )
    .await;
}

/// A delayed nack holds its partition back for the delay; other partitions keep flowing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_nack_pauses_only_its_partition() {
    let kafka = setup().await;
    let names = Names::unique();
    let topic = names.subject("paused");
    kafka.create_topic(&topic, 2).await;
    // Two keys that land in different partitions.
    let mut keys: Vec<(String, u32)> = Vec::new();
    let mut probes = 0;
    while keys.len() < 2 {
        let key = format!("key-{probes}");
        let position = kafka
            .producer
            .append(Envelope::new(topic.clone(), "probe").with_key(key.clone()))
            .await
            .expect("append");
        probes += 1;
        if keys.iter().all(|(_, p)| *p != position.partition) {
            keys.push((key, position.partition));
        }
    }
    let mut member = kafka
        .consumer
        .join(&names.group("g"), std::slice::from_ref(&topic))
        .await
        .expect("join");
    for _ in 0..probes {
        let probe = next_ok(&mut member, WAIT, "the probes").await;
        probe.ack().await.expect("ack");
    }
    let (held_key, held_partition) = keys[0].clone();
    let (free_key, _) = keys[1].clone();
    kafka
        .producer
        .append(Envelope::new(topic.clone(), "held").with_key(held_key))
        .await
        .expect("append");
    let held = next_ok(&mut member, WAIT, "the held record").await;
    assert_eq!(held.envelope().payload().as_ref(), b"held");
    assert_eq!(held.position().partition, held_partition);
    held.nack(Duration::from_secs(2)).await.expect("nack");
    kafka
        .producer
        .append(Envelope::new(topic.clone(), "free").with_key(free_key))
        .await
        .expect("append");
    let next = next_ok(&mut member, WAIT, "the other partition's record").await;
    assert_eq!(
        next.envelope().payload().as_ref(),
        b"free",
        "the other partition must flow while one waits out its nack delay"
    );
    next.ack().await.expect("ack");
    let again = next_ok(&mut member, WAIT, "the held record after its delay").await;
    assert_eq!(again.envelope().payload().as_ref(), b"held");
    assert_eq!(again.attempt(), 2);
    again.ack().await.expect("ack");
}

/// A second member joins a group whose first member has acked part of the log: with the
/// cooperative protocol the revoke commit carries the acks (the background interval is an
/// hour), so the newcomer does not see them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_rebalance_commits_on_revoke() {
    let kafka = Kafka::with_config(
        common::config()
            .with_commit_interval(Duration::from_secs(3600))
            .with_assignment_strategy(AssignmentStrategy::CooperativeSticky),
    );
    let names = Names::unique();
    let topic = names.subject("coop");
    kafka.create_topic(&topic, 4).await;
    let again =
        common::second_member_joins(&kafka.producer, &kafka.consumer, &names.group("g"), &topic)
            .await;
    assert!(
        again <= 1,
        "{again} acked records came again: the revoke did not commit"
    );
}

/// The same with the eager `range` protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_rebalance_commits_on_revoke() {
    let kafka = Kafka::with_config(
        common::config()
            .with_commit_interval(Duration::from_secs(3600))
            .with_assignment_strategy(AssignmentStrategy::Range),
    );
    let names = Names::unique();
    let topic = names.subject("eager");
    kafka.create_topic(&topic, 4).await;
    let again =
        common::second_member_joins(&kafka.producer, &kafka.consumer, &names.group("g"), &topic)
            .await;
    assert!(
        again <= 1,
        "{again} acked records came again: the revoke did not commit"
    );
}

/// A member whose reader stops reading still serves rebalances (its records wait in
/// librdkafka's partition queues while the member task reads the main queue), so a newcomer
/// gets partitions promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_reader_does_not_block_a_rebalance() {
    let kafka = Kafka::with_config(common::config().with_prefetch(50));
    let names = Names::unique();
    let topic = names.subject("idle");
    let group = names.group("g");
    kafka.create_topic(&topic, 4).await;
    append_numbered(&kafka, &topic, 0..1_000).await;
    let mut idle = kafka
        .consumer
        .join(&group, std::slice::from_ref(&topic))
        .await
        .expect("join");
    // Read one, then stop reading: the partition queues fill up to the prefetch.
    let held = next_ok(&mut idle, WAIT, "the first delivery").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut newcomer = kafka
        .consumer
        .join(&group, std::slice::from_ref(&topic))
        .await
        .expect("join");
    let first = next_ok(
        &mut newcomer,
        kafka.settle_time() + WAIT,
        "a delivery on the newcomer while the other member's reader is idle",
    )
    .await;
    first.ack().await.expect("ack");
    held.ack().await.expect("ack");
}
