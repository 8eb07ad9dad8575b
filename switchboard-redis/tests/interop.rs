//! Interop with plain Redis clients (the `redis` crate itself, without Switchboard) on the
//! live Redis at `REDIS_URL`: the kit's interop cases, and the wire forms a publisher picks.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::live_log::LiveLog;
use futures::StreamExt;
use redis::streams::StreamRangeReply;
use switchboard_core::{
    Envelope, Publisher, Subject, Subscriber, Topic,
    testkit::{
        Names, PlainLogFixture, PlainMessage, PlainPubSubFixture, PlainStream, PubSubFixture,
        assert_quiet, next_ok, within,
    },
};
use switchboard_redis::{Redis, RedisPublisher, RedisSubscriber, WireForm};

const WAIT: Duration = Duration::from_secs(10);

/// Pub/sub publishing bare payloads, the form plain subscribers read.
struct Bare {
    redis: Redis,
    subscriber: RedisSubscriber,
}

async fn setup_bare() -> Bare {
    let redis = common::connect_with(common::config().with_wire_form(WireForm::Bare)).await;
    let subscriber = redis.subscriber().await.expect("open a redis subscriber");
    Bare { redis, subscriber }
}

impl PubSubFixture for Bare {
    type Publisher = RedisPublisher;
    type Subscriber = RedisSubscriber;
    fn publisher(&self) -> RedisPublisher {
        self.redis.publisher()
    }
    fn subscriber(&self) -> RedisSubscriber {
        self.subscriber.clone()
    }
}

async fn raw_publish(redis: &Redis, channel: &str, payload: &[u8]) {
    let _: u64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query_async(&mut redis.connection())
        .await
        .expect("plain PUBLISH");
}

/// A plain subscriber of `channel`, confirmed by the server.
async fn raw_subscribe(channel: &str) -> PlainStream {
    let client = redis::Client::open(common::redis_url()).expect("redis url");
    let mut pubsub = client.get_async_pubsub().await.expect("plain pubsub");
    pubsub.subscribe(channel).await.expect("plain SUBSCRIBE");
    pubsub
        .into_on_message()
        .map(|msg| PlainMessage::bare(msg.get_payload_bytes().to_vec()))
        .boxed()
}

impl PlainPubSubFixture for Bare {
    async fn plain_publish(&self, subject: &Subject, payload: Bytes) {
        raw_publish(&self.redis, subject.as_str(), &payload).await;
    }

    async fn plain_subscribe(&self, subject: &Subject) -> PlainStream {
        raw_subscribe(subject.as_str()).await
    }
}

/// A connection of the plain client's own.
async fn plain_connection() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(common::redis_url()).expect("redis url");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("plain connection")
}

async fn setup_log() -> LiveLog {
    LiveLog::new(common::connect().await.log())
}

impl PlainLogFixture for LiveLog {
    async fn plain_append(&self, topic: &Topic, payload: Bytes) {
        let mut conn = plain_connection().await;
        let _: String = redis::cmd("XADD")
            .arg(self.log.stream_key(topic, 0))
            .arg("*")
            .arg("payload")
            .arg(payload.as_ref())
            .query_async(&mut conn)
            .await
            .expect("plain XADD");
    }

    async fn plain_read(&self, topic: &Topic, count: usize) -> Vec<PlainMessage> {
        let mut conn = plain_connection().await;
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.log.stream_key(topic, 0))
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await
            .expect("plain XRANGE");
        reply
            .ids
            .into_iter()
            .map(|mut entry| {
                let payload: Vec<u8> = entry.get("payload").expect("a payload field");
                entry.map.remove("payload");
                let headers = entry
                    .map
                    .keys()
                    .map(|name| (name.clone(), entry.get(name).expect("a text field")))
                    .collect();
                PlainMessage {
                    payload: payload.into(),
                    key: None,
                    headers: Some(headers),
                }
            })
            .collect()
    }
}

switchboard_core::pubsub_interop_conformance!(setup_bare);
switchboard_core::log_interop_conformance!(setup_log);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framed_is_the_default_and_prefix_rules_choose_bare() {
    let names = Names::unique();
    let bare_prefix = format!("sbtest.{}.plain", names.id());
    let redis = common::connect_with(
        common::config().with_wire_form_for(bare_prefix.clone(), WireForm::Bare),
    )
    .await;
    let framed = names.subject("app.orders");
    let bare = Subject::new(format!("{bare_prefix}.metrics")).unwrap();
    let mut framed_reader = raw_subscribe(framed.as_str()).await;
    let mut bare_reader = raw_subscribe(bare.as_str()).await;
    let publisher = redis.publisher();
    for subject in [&framed, &bare] {
        publisher
            .publish(Envelope::new(subject.clone(), "cpu=3"))
            .await
            .expect("publish");
    }
    let got = within(WAIT, "the framed message", framed_reader.next())
        .await
        .expect("plain subscription ended");
    assert!(got.payload.starts_with(b"SBF1"), "{:?}", got.payload);
    assert!(got.payload.ends_with(b"cpu=3"), "{:?}", got.payload);
    let got = within(WAIT, "the bare message", bare_reader.next())
        .await
        .expect("plain subscription ended");
    assert_eq!(got.payload.as_ref(), b"cpu=3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_frames_are_dropped_and_counted_plain_ones_delivered() {
    let redis = common::connect().await;
    let subscriber = redis.subscriber().await.expect("subscriber");
    let subject = Names::unique().subject("broken");
    let mut sub = subscriber
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    // The magic, a header length of 9, and a header that is not JSON.
    raw_publish(&redis, subject.as_str(), b"SBF1\0\0\0\x09{not json").await;
    raw_publish(&redis, subject.as_str(), b"SBF1").await;
    raw_publish(&redis, subject.as_str(), b"plain text from redis-cli").await;
    let got = next_ok(&mut sub, WAIT, "the plain message").await;
    assert_eq!(got.payload().as_ref(), b"plain text from redis-cli");
    assert_eq!(subscriber.broken_frames(), 2);
    assert_quiet(&mut sub, Duration::from_millis(200), "the subscription").await;
}
