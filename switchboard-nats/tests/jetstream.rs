//! JetStream behaviours beyond the kit: ack, nack with delay, max deliver, `Nats-Msg-Id`
//! deduplication, dropped deliveries. Every case uses its own stream and deletes it.

mod common;

use std::time::{Duration, Instant};

use switchboard_core::{
    Envelope, LogConsumer, LogProducer, Topic, TopicAdmin,
    testkit::{Names, assert_quiet, next_ok},
};
use switchboard_nats::{JetStreamConfig, JetStreamLog};

const WAIT: Duration = Duration::from_secs(15);

/// A log and a topic whose stream is deleted when the case ends.
struct Case {
    log: JetStreamLog,
    topic: Topic,
    names: Names,
}

impl Case {
    async fn new(config: JetStreamConfig) -> Case {
        let log = JetStreamLog::with_config(common::client().await, config);
        let names = Names::unique();
        let topic = names.subject("js");
        common::retry_transient("create stream", || log.create_topic(&topic, 1)).await;
        Case { log, topic, names }
    }

    async fn join(&self, group: &str) -> switchboard_nats::JetStreamDeliveries {
        self.log
            .join(&self.names.group(group), std::slice::from_ref(&self.topic))
            .await
            .expect("join")
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        common::delete_topics(&self.log, vec![self.topic.clone()]);
    }
}

fn short_ack_wait() -> JetStreamConfig {
    JetStreamConfig {
        ack_wait: Duration::from_secs(1),
        ..common::test_log_config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_message_is_not_delivered_again() {
    let case = Case::new(short_ack_wait()).await;
    case.log
        .append(Envelope::new(case.topic.clone(), "once"))
        .await
        .expect("append");
    let mut member = case.join("g").await;
    let delivery = next_ok(&mut member, WAIT, "the delivery").await;
    assert_eq!(delivery.attempt(), 1);
    delivery.ack().await.expect("ack");
    // Past the ack wait, and for a fresh member of the group too.
    assert_quiet(&mut member, Duration::from_secs(2), "the acked message").await;
    drop(member);
    let mut fresh = case.join("g").await;
    assert_quiet(&mut fresh, Duration::from_secs(2), "a fresh member").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_group_resumes_where_it_left_off() {
    let case = Case::new(short_ack_wait()).await;
    for i in 0..10 {
        case.log
            .append(Envelope::new(case.topic.clone(), i.to_string()))
            .await
            .expect("append");
    }
    let mut first = case.join("g").await;
    for expected in 0..5 {
        let delivery = next_ok(&mut first, WAIT, "a delivery").await;
        assert_eq!(
            delivery.envelope().payload().as_ref(),
            expected.to_string().as_bytes()
        );
        delivery.ack().await.expect("ack");
    }
    drop(first);
    // A member on a new connection gets the rest, and nothing that was acked.
    let log = JetStreamLog::with_config(common::client().await, short_ack_wait());
    let mut second = log
        .join(&case.names.group("g"), std::slice::from_ref(&case.topic))
        .await
        .expect("join");
    let mut rest = Vec::new();
    while rest.len() < 5 {
        let delivery = next_ok(&mut second, WAIT, "the rest of the log").await;
        rest.push(String::from_utf8(delivery.envelope().payload().to_vec()).expect("utf-8"));
        delivery.ack().await.expect("ack");
    }
    rest.sort();
    assert_eq!(rest, ["5", "6", "7", "8", "9"]);
    assert_quiet(&mut second, Duration::from_secs(2), "an acked message").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_with_delay_redelivers_after_the_delay() {
    let case = Case::new(common::test_log_config()).await;
    case.log
        .append(Envelope::new(case.topic.clone(), "retry me"))
        .await
        .expect("append");
    let mut member = case.join("g").await;
    let first = next_ok(&mut member, WAIT, "the first delivery").await;
    let delay = Duration::from_millis(700);
    let nacked = Instant::now();
    first.nack(delay).await.expect("nack");
    let again = next_ok(&mut member, WAIT, "the redelivery").await;
    assert!(
        nacked.elapsed() >= delay - Duration::from_millis(50),
        "redelivered before the nack delay: {:?}",
        nacked.elapsed()
    );
    assert_eq!(again.attempt(), 2);
    assert_eq!(again.envelope().payload().as_ref(), b"retry me");
    again.ack().await.expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_deliver_stops_redelivery() {
    let case = Case::new(JetStreamConfig {
        max_deliver: Some(3),
        ..short_ack_wait()
    })
    .await;
    case.log
        .append(Envelope::new(case.topic.clone(), "poison"))
        .await
        .expect("append");
    let mut member = case.join("g").await;
    for attempt in 1..=3 {
        let delivery = next_ok(&mut member, WAIT, "a delivery").await;
        assert_eq!(delivery.attempt(), attempt);
        delivery.nack(Duration::ZERO).await.expect("nack");
    }
    // Neither a nack nor the ack wait brings it back a fourth time.
    assert_quiet(&mut member, Duration::from_secs(3), "a fourth delivery").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_append_is_stored_once() {
    let case = Case::new(common::test_log_config()).await;
    let msg = Envelope::new(case.topic.clone(), "exactly once");
    let first = case.log.append(msg.clone()).await.expect("append");
    let retry = case.log.append(msg.clone()).await.expect("retried append");
    assert_eq!(first, retry, "a duplicate reports the original position");
    let other = case
        .log
        .append(Envelope::new(case.topic.clone(), "another"))
        .await
        .expect("append");
    assert_eq!(other.offset, first.offset + 1);
    let mut stream = case
        .log
        .context()
        .get_stream(case.log.stream_name(&case.topic))
        .await
        .expect("stream");
    assert_eq!(stream.info().await.expect("info").state.messages, 2);
    // The consumer sees the message once, with its id and without the dedup header.
    let mut member = case.join("g").await;
    let delivery = next_ok(&mut member, WAIT, "the stored message").await;
    assert_eq!(delivery.envelope().id(), msg.id());
    assert!(delivery.envelope().headers().get("Nats-Msg-Id").is_none());
    delivery.ack().await.expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_delivery_comes_back_without_waiting_for_ack_wait() {
    let case = Case::new(JetStreamConfig {
        ack_wait: Duration::from_secs(60),
        ..common::test_log_config()
    })
    .await;
    case.log
        .append(Envelope::new(case.topic.clone(), "dropped"))
        .await
        .expect("append");
    let mut member = case.join("g").await;
    drop(next_ok(&mut member, WAIT, "the first delivery").await);
    let again = next_ok(&mut member, WAIT, "the redelivery after a drop").await;
    assert_eq!(again.attempt(), 2);
    again.ack().await.expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_to_a_missing_stream_is_a_typed_error_when_not_creating() {
    let log = JetStreamLog::with_config(
        common::client().await,
        JetStreamConfig {
            create_streams: false,
            ..common::test_log_config()
        },
    );
    let topic = Names::unique().subject("nowhere");
    let err = log
        .append(Envelope::new(topic, "x"))
        .await
        .expect_err("no stream");
    let source = std::error::Error::source(&err).expect("a source");
    assert!(
        matches!(
            source.downcast_ref::<switchboard_nats::NatsError>(),
            Some(switchboard_nats::NatsError::NoStream { .. })
        ),
        "got {err:?}"
    );
}
