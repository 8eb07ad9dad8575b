//! [`LiveLog`]: a [`RedisLog`] fixture that deletes its topics' keys when dropped.

use std::sync::{Arc, Mutex};

use switchboard_core::{Topic, TopicAdmin, testkit::LogFixture};
use switchboard_redis::{MAX_PARTITIONS, RedisLog};

/// A log whose topics are deleted when the case ends.
pub struct LiveLog {
    pub log: RedisLog,
    topics: Arc<Mutex<Vec<Topic>>>,
}

impl LiveLog {
    pub fn new(log: RedisLog) -> Self {
        LiveLog {
            log,
            topics: Arc::default(),
        }
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
        let client = redis::Client::open(super::redis_url()).expect("redis url");
        let mut conn = client.get_connection().expect("connect for cleanup");
        redis::cmd("UNLINK")
            .arg(keys)
            .exec(&mut conn)
            .expect("delete the test's streams");
    }
}
