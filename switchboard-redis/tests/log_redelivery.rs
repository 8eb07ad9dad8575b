//! Redis-specific redelivery rules of the durable log: nack delays, claims, vanished members
//! and rewinds over deleted entries, against the live Redis at `REDIS_URL`.

mod common;

use std::time::{Duration, Instant};

use common::live_log::LiveLog;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use switchboard_core::{
    Delivery, Envelope, LogConsumer, LogProducer, Topic,
    testkit::{LogFixture, Names, next_ok},
};
use switchboard_redis::{RedisConfig, RedisDeliveries};

const WAIT: Duration = Duration::from_secs(20);

async fn live_log(config: RedisConfig) -> (LiveLog, ConnectionManager) {
    let redis = common::connect_with(config).await;
    (LiveLog::new(redis.log()), redis.connection())
}

/// Creates a one-partition topic, appends `count` entries (offsets 1…count) and joins `group`.
async fn topic_with(
    log: &LiveLog,
    names: &Names,
    count: usize,
) -> (Topic, switchboard_core::Group, RedisDeliveries) {
    let (topic, group) = (names.subject("t"), names.group("g"));
    log.create_topic(&topic, 1).await;
    for i in 0..count {
        log.log
            .append(Envelope::new(topic.clone(), format!("m{i}")))
            .await
            .expect("append");
    }
    let member = log
        .log
        .join(&group, std::slice::from_ref(&topic))
        .await
        .expect("join");
    (topic, group, member)
}

async fn receive(member: &mut RedisDeliveries, count: usize) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    for _ in 0..count {
        deliveries.push(next_ok(member, WAIT, "a delivery").await);
    }
    deliveries
}

fn offsets(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries.iter().map(|d| d.position().offset).collect()
}

async fn nothing_within(member: &mut RedisDeliveries, quiet: Duration, why: &str) {
    if let Ok(item) = tokio::time::timeout(quiet, member.next()).await {
        let got = item.map(|d| d.map(|d| (d.position().offset, d.attempt())));
        panic!("{why}, got {got:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_nack_does_not_cut_short_an_earlier_delay() {
    let (log, _) = live_log(common::config()).await;
    let names = Names::unique();
    let (_, _, mut member) = topic_with(&log, &names, 2).await;
    let mut first = receive(&mut member, 2).await;
    assert_eq!(offsets(&first), [1, 2]);
    let second = first.pop().expect("offset 2");
    let first = first.pop().expect("offset 1");
    first.nack(Duration::from_secs(3600)).await.expect("nack 1");
    second.nack(Duration::ZERO).await.expect("nack 2");
    // Offset 2 comes back with offset 1, when its hour is up; neither returns now.
    nothing_within(
        &mut member,
        Duration::from_millis(1500),
        "a nack without delay at a later offset redelivered the delayed entry",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_nack_delay_is_capped_not_a_panic() {
    let (log, _) = live_log(common::config()).await;
    let names = Names::unique();
    let (_, _, mut member) = topic_with(&log, &names, 1).await;
    let delivery = next_ok(&mut member, WAIT, "the entry").await;
    delivery.nack(Duration::MAX).await.expect("nack for ever");
    nothing_within(
        &mut member,
        Duration::from_millis(500),
        "a capped delay is a day",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_nack_replaces_the_waiting_one() {
    let (log, _) = live_log(common::config()).await;
    let names = Names::unique();
    let (_, _, mut member) = topic_with(&log, &names, 2).await;
    let mut first = receive(&mut member, 2).await;
    let second = first.pop().expect("offset 2");
    let first = first.pop().expect("offset 1");
    second
        .nack(Duration::from_secs(3600))
        .await
        .expect("nack 2");
    first.nack(Duration::ZERO).await.expect("nack 1");
    let again = receive(&mut member, 2).await;
    assert_eq!(offsets(&again), [1, 2], "both return now, in order");
    assert!(again.iter().all(|d| d.attempt() == 2), "second attempts");
    for delivery in again {
        delivery.ack().await.expect("ack");
    }
    nothing_within(&mut member, Duration::from_millis(500), "all acked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nack_delay_longer_than_the_claim_idle_time_is_honoured() {
    let mut config = common::config();
    config.log_claim_idle = Duration::from_millis(400);
    config.log_block = Duration::from_millis(100);
    let (log, _) = live_log(config).await;
    let names = Names::unique();
    let (topic, group, mut member) = topic_with(&log, &names, 1).await;
    let delivery = next_ok(&mut member, WAIT, "the entry").await;
    // Another member of the group, which claims entries idle for longer than 400 ms.
    let mut other = log
        .log
        .join(&group, std::slice::from_ref(&topic))
        .await
        .expect("join a second member");
    let delay = Duration::from_secs(2);
    let nacked_at = Instant::now();
    delivery.nack(delay).await.expect("nack");
    let again = tokio::select! {
        d = member.next() => d,
        d = other.next() => d,
        () = tokio::time::sleep(WAIT + delay) => panic!("the nacked entry never came back"),
    }
    .expect("an open stream")
    .expect("a delivery");
    let waited = nacked_at.elapsed();
    assert!(
        waited >= delay.mul_f32(0.9),
        "redelivered after {waited:?}, before the {delay:?} nack delay (claimed when idle?)"
    );
    assert_eq!(again.position().offset, 1);
    assert_eq!(
        again.attempt(),
        2,
        "one redelivery, not a claim and a rewind"
    );
    again.ack().await.expect("ack");
}

async fn consumer_names(conn: &mut ConnectionManager, stream: &str, group: &str) -> Vec<String> {
    let info: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(stream)
        .arg(group)
        .query_async(conn)
        .await
        .expect("XINFO CONSUMERS");
    info.consumers.into_iter().map(|c| c.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_that_vanished_are_removed_from_the_group() {
    let mut config = common::config();
    config.log_claim_idle = Duration::from_millis(400);
    config.log_block = Duration::from_millis(100);
    let (log, mut conn) = live_log(config).await;
    let names = Names::unique();
    let (topic, group) = (names.subject("vanished"), names.group("g"));
    log.create_topic(&topic, 1).await;
    let stream = log.log.stream_key(&topic, 0);
    log.log
        .append(Envelope::new(topic.clone(), "work"))
        .await
        .expect("append");
    // Two processes crashed: one holding nothing, one holding the entry.
    redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg(group.as_str())
        .arg("0")
        .exec_async(&mut conn)
        .await
        .expect("XGROUP CREATE");
    redis::cmd("XGROUP")
        .arg("CREATECONSUMER")
        .arg(&stream)
        .arg(group.as_str())
        .arg("gone-empty")
        .exec_async(&mut conn)
        .await
        .expect("XGROUP CREATECONSUMER");
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group.as_str())
        .arg("gone-busy")
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut conn)
        .await
        .expect("XREADGROUP as the crashed process");

    let mut member = log
        .log
        .join(&group, std::slice::from_ref(&topic))
        .await
        .expect("join");
    let delivery = next_ok(&mut member, WAIT, "the crashed process's entry").await;
    delivery.ack().await.expect("ack");
    let deadline = Instant::now() + WAIT;
    loop {
        let left = consumer_names(&mut conn, &stream, group.as_str()).await;
        if !left.iter().any(|name| name.starts_with("gone-")) {
            assert_eq!(left.len(), 1, "the live member stays: {left:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "vanished members still in the group: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewind_pages_past_deleted_entries() {
    let mut config = common::config();
    config.log_batch = 2;
    let (log, mut conn) = live_log(config).await;
    let names = Names::unique();
    let (topic, group, mut member) = topic_with(&log, &names, 5).await;
    let mut held = receive(&mut member, 5).await;
    assert_eq!(offsets(&held), [1, 2, 3, 4, 5]);
    let stream = log.log.stream_key(&topic, 0);
    let deleted: u64 = redis::cmd("XDEL")
        .arg(&stream)
        .arg("0-2")
        .arg("0-3")
        .query_async(&mut conn)
        .await
        .expect("XDEL");
    assert_eq!(deleted, 2);
    // The first page of the rewind is offsets 1 and 2, one of them deleted: a full page all
    // the same, so the rewind goes on to 4 and 5.
    held.remove(0).nack(Duration::ZERO).await.expect("nack 1");
    let again = receive(&mut member, 3).await;
    assert_eq!(offsets(&again), [1, 4, 5]);
    for delivery in again.into_iter().chain(held) {
        delivery.ack().await.expect("ack");
    }
    let (count, ..): (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(&stream)
        .arg(group.as_str())
        .query_async(&mut conn)
        .await
        .expect("XPENDING");
    assert_eq!(count, 0, "deleted entries are acked, not left pending");
}
