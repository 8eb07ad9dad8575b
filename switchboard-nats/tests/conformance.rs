//! The conformance kit against a live NATS server (`NATS_URL`, JetStream on).

mod common;

use std::{sync::Mutex, time::Duration};

use switchboard_core::{
    Topic, TopicAdmin,
    testkit::{LogFixture, PubSubFixture, RequestReplyFixture},
};
use switchboard_nats::{JetStreamLog, NatsBus};

struct Nats {
    bus: NatsBus,
}

async fn setup() -> Nats {
    Nats {
        bus: NatsBus::new(common::client().await),
    }
}

impl PubSubFixture for Nats {
    type Publisher = NatsBus;
    type Subscriber = NatsBus;
    fn publisher(&self) -> NatsBus {
        self.bus.clone()
    }
    fn subscriber(&self) -> NatsBus {
        self.bus.clone()
    }
}

impl RequestReplyFixture for Nats {
    type Requester = NatsBus;
    type Responder = NatsBus;
    fn requester(&self) -> NatsBus {
        self.bus.clone()
    }
    fn responder(&self) -> NatsBus {
        self.bus.clone()
    }
}

/// A JetStream log whose streams are deleted when the case ends.
struct JetStream {
    log: JetStreamLog,
    topics: Mutex<Vec<Topic>>,
}

async fn setup_log() -> JetStream {
    JetStream {
        log: JetStreamLog::with_config(common::client().await, common::test_log_config()),
        topics: Mutex::default(),
    }
}

impl Drop for JetStream {
    fn drop(&mut self) {
        let topics = std::mem::take(&mut *self.topics.lock().unwrap());
        common::delete_topics(&self.log, topics);
    }
}

impl LogFixture for JetStream {
    type Producer = JetStreamLog;
    type Consumer = JetStreamLog;
    fn producer(&self) -> JetStreamLog {
        self.log.clone()
    }
    fn consumer(&self) -> JetStreamLog {
        self.log.clone()
    }
    async fn create_topic(&self, topic: &Topic, partitions: u32) {
        self.topics.lock().unwrap().push(topic.clone());
        self.log
            .create_topic(topic, partitions)
            .await
            .expect("create stream");
    }
    fn redelivery_timeout(&self) -> Duration {
        Duration::from_secs(15)
    }
}

switchboard_core::pubsub_conformance!(setup);
switchboard_core::request_reply_conformance!(setup);
switchboard_core::log_conformance!(setup_log);
