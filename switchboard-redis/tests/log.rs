//! The durable-log conformance cases against Redis Streams at `REDIS_URL`.

mod common;

use std::sync::{Arc, Mutex};

use switchboard_core::{Topic, TopicAdmin, testkit::LogFixture};
use switchboard_redis::{MAX_PARTITIONS, RedisLog};

/// A log whose topics are deleted when the case ends.
struct LiveLog {
    log: RedisLog,
    topics: Arc<Mutex<Vec<Topic>>>,
}

async fn setup() -> LiveLog {
    LiveLog {
        log: common::connect().await.log(),
        topics: Arc::default(),
    }
}

impl LogFixture for LiveLog {
    type Producer = RedisLog;
    type Consumer = RedisLog;
    fn producer(&self) -> RedisLog {
        self.log.clone()
    }
    fn consumer(&self) -> RedisLog {
        self.log.clone()
    }
    async fn create_topic(&self, topic: &Topic, partitions: u32) {
        self.topics.lock().unwrap().push(topic.clone());
        self.log
            .create_topic(topic, partitions)
            .await
            .expect("create topic");
    }
}

impl Drop for LiveLog {
    fn drop(&mut self) {
        let topics = std::mem::take(&mut *self.topics.lock().unwrap());
        let mut keys = Vec::new();
        for topic in &topics {
            keys.push(self.log.topic_key(topic));
            keys.extend((0..MAX_PARTITIONS.min(16)).map(|p| self.log.stream_key(topic, p)));
        }
        if keys.is_empty() {
            return;
        }
        let client = redis::Client::open(common::redis_url()).expect("redis url");
        let mut conn = client.get_connection().expect("connect for cleanup");
        redis::cmd("UNLINK")
            .arg(keys)
            .exec(&mut conn)
            .expect("delete the test's streams");
    }
}

switchboard_core::log_conformance!(setup);

mod redis_specific {
    use std::time::Duration;

    use futures::StreamExt;
    use switchboard_core::{
        Envelope, LogConsumer, LogProducer,
        testkit::{Names, next_ok},
    };

    use super::*;

    const WAIT: Duration = Duration::from_secs(20);

    fn text(delivery: &switchboard_core::Delivery) -> String {
        String::from_utf8(delivery.envelope().payload().to_vec()).expect("utf-8")
    }

    async fn pending(
        log: &LiveLog,
        conn: &mut redis::aio::ConnectionManager,
        topic: &Topic,
        group: &str,
    ) -> u64 {
        let summary: (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
            .arg(log.log.stream_key(topic, 0))
            .arg(group)
            .query_async(conn)
            .await
            .expect("XPENDING");
        summary.0
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deliveries_of_a_crashed_process_are_claimed_after_the_idle_time() {
        let mut config = common::config();
        config.log_claim_idle = Duration::from_millis(500);
        let redis = common::connect_with(config).await;
        let log = LiveLog {
            log: redis.log(),
            topics: Arc::default(),
        };
        let names = Names::unique();
        let (topic, group) = (names.subject("crash"), names.group("g"));
        log.create_topic(&topic, 1).await;
        log.log
            .append(Envelope::new(topic.clone(), "work"))
            .await
            .expect("append");
        // Another process joined the group, read the entry as consumer `gone`, then died
        // without acking.
        let mut conn = redis.connection();
        let stream = log.log.stream_key(&topic, 0);
        redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&stream)
            .arg(group.as_str())
            .arg("0")
            .arg("MKSTREAM")
            .exec_async(&mut conn)
            .await
            .expect("XGROUP CREATE");
        let taken: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(group.as_str())
            .arg("gone")
            .arg("COUNT")
            .arg(1)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">")
            .query_async(&mut conn)
            .await
            .expect("XREADGROUP as another process");
        assert_eq!(taken.keys[0].ids.len(), 1);
        let mut member = log
            .log
            .join(&group, std::slice::from_ref(&topic))
            .await
            .expect("join");
        let delivery = next_ok(&mut member, WAIT, "the crashed process's entry").await;
        assert_eq!(text(&delivery), "work");
        assert!(
            delivery.attempt() >= 2,
            "a claimed entry counts the crashed delivery"
        );
        delivery.ack().await.expect("ack");
        assert_eq!(pending(&log, &mut conn, &topic, group.as_str()).await, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn foreign_entries_are_skipped_and_acked() {
        let redis = common::connect().await;
        let log = LiveLog {
            log: redis.log(),
            topics: Arc::default(),
        };
        let names = Names::unique();
        let (topic, group) = (names.subject("foreign"), names.group("g"));
        log.create_topic(&topic, 1).await;
        let mut conn = redis.connection();
        let _: String = redis::cmd("XADD")
            .arg(log.log.stream_key(&topic, 0))
            .arg("0-*")
            .arg("field")
            .arg("not a frame")
            .query_async(&mut conn)
            .await
            .expect("raw XADD");
        log.log
            .append(Envelope::new(topic.clone(), "framed"))
            .await
            .expect("append");
        let mut member = log
            .log
            .join(&group, std::slice::from_ref(&topic))
            .await
            .expect("join");
        let delivery = next_ok(&mut member, WAIT, "the framed entry").await;
        assert_eq!(text(&delivery), "framed");
        assert_eq!(
            delivery.position().offset,
            2,
            "offsets are sequence numbers"
        );
        delivery.ack().await.expect("ack");
        assert_eq!(pending(&log, &mut conn, &topic, group.as_str()).await, 0);
        assert!(
            tokio::time::timeout(Duration::from_millis(300), member.next())
                .await
                .is_err(),
            "nothing else is delivered"
        );
    }

    #[tokio::test]
    async fn partition_count_is_validated() {
        let log = common::connect().await.log();
        let topic = Names::unique().subject("bad");
        for bad in [0, MAX_PARTITIONS + 1] {
            let err = log
                .create_topic(&topic, bad)
                .await
                .expect_err("out of range");
            assert!(
                matches!(err, switchboard_core::Error::InvalidInput(_)),
                "{err:?}"
            );
        }
    }
}
