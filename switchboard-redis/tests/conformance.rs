//! The conformance kit against the live Redis at `REDIS_URL`.

mod common;

use switchboard_core::{
    Namespace,
    testkit::{KeyValueFixture, PubSubFixture},
};
use switchboard_redis::{Redis, RedisKeyValue, RedisPublisher, RedisSubscriber};

struct Live {
    redis: Redis,
    subscriber: RedisSubscriber,
}

async fn setup() -> Live {
    let redis = common::connect().await;
    let subscriber = redis.subscriber().await.expect("open a redis subscriber");
    Live { redis, subscriber }
}

impl PubSubFixture for Live {
    type Publisher = RedisPublisher;
    type Subscriber = RedisSubscriber;
    fn publisher(&self) -> RedisPublisher {
        self.redis.publisher()
    }
    fn subscriber(&self) -> RedisSubscriber {
        self.subscriber.clone()
    }
}

impl KeyValueFixture for Live {
    type KeyValue = RedisKeyValue;
    fn namespace(&self, namespace: Namespace) -> RedisKeyValue {
        self.redis.key_value(namespace)
    }
}

switchboard_core::pubsub_conformance!(setup);
switchboard_core::key_value_conformance!(setup);
