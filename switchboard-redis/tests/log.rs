//! The durable-log conformance cases against Redis Streams at `REDIS_URL`.

mod common;

use switchboard_core::{Topic, TopicAdmin, testkit::LogFixture};
use switchboard_redis::MAX_PARTITIONS;

use common::live_log::LiveLog;

async fn setup() -> LiveLog {
    LiveLog::new(common::connect().await.log())
}

switchboard_core::log_conformance!(setup);

mod redis_specific {
    use std::time::Duration;

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
        let log = LiveLog::new(redis.log());
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
    async fn entries_of_other_tools_are_delivered_with_their_fields_as_headers() {
        let redis = common::connect().await;
        let log = LiveLog::new(redis.log());
        let names = Names::unique();
        let (topic, group) = (names.subject("foreign"), names.group("g"));
        log.create_topic(&topic, 1).await;
        let mut conn = redis.connection();
        // No `payload` field: the entry's fields are all there is.
        let _: String = redis::cmd("XADD")
            .arg(log.log.stream_key(&topic, 0))
            .arg("0-*")
            .arg("temp")
            .arg("21")
            .query_async(&mut conn)
            .await
            .expect("raw XADD");
        log.log
            .append(Envelope::new(topic.clone(), "from switchboard"))
            .await
            .expect("append");
        let mut member = log
            .log
            .join(&group, std::slice::from_ref(&topic))
            .await
            .expect("join");
        let delivery = next_ok(&mut member, WAIT, "the other tool's entry").await;
        assert!(delivery.envelope().payload().is_empty());
        assert_eq!(delivery.envelope().headers().get("temp"), Some("21"));
        assert_eq!(delivery.position().offset, 1);
        delivery.ack().await.expect("ack");
        let delivery = next_ok(&mut member, WAIT, "the switchboard entry").await;
        assert_eq!(text(&delivery), "from switchboard");
        assert_eq!(
            delivery.position().offset,
            2,
            "offsets are sequence numbers"
        );
        delivery.ack().await.expect("ack");
        assert_eq!(pending(&log, &mut conn, &topic, group.as_str()).await, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn append_goes_on_after_a_time_based_entry_of_another_tool() {
        let redis = common::connect().await;
        let log = LiveLog::new(redis.log());
        let names = Names::unique();
        let (topic, group) = (names.subject("foreign-time"), names.group("g"));
        log.create_topic(&topic, 1).await;
        let before = log
            .log
            .append(Envelope::new(topic.clone(), "before"))
            .await
            .expect("append before the foreign entry");
        let stream = log.log.stream_key(&topic, 0);
        let mut conn = redis.connection();
        let foreign_id: String = redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("payload")
            .arg("written by another tool")
            .query_async(&mut conn)
            .await
            .expect("raw XADD with a time-based id");
        assert!(!foreign_id.starts_with("0-"), "{foreign_id}");
        let mut offsets = vec![before.offset];
        for text in ["after 1", "after 2"] {
            let position = log
                .log
                .append(Envelope::new(topic.clone(), text))
                .await
                .expect("append after a time-based id");
            offsets.push(position.offset);
        }
        assert!(
            offsets.is_sorted() && offsets[1] > offsets[0] + 1,
            "{offsets:?}"
        );

        let mut member = log
            .log
            .join(&group, std::slice::from_ref(&topic))
            .await
            .expect("join");
        for expected in ["before", "written by another tool", "after 1", "after 2"] {
            let delivery = next_ok(&mut member, WAIT, expected).await;
            assert_eq!(text(&delivery), expected);
            delivery.ack().await.expect("ack");
        }
        assert_eq!(pending(&log, &mut conn, &topic, group.as_str()).await, 0);
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
