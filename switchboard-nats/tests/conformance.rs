//! The conformance kit against a live NATS server (`NATS_URL`, JetStream on).

mod common;

use std::{sync::Mutex, time::Duration};

use switchboard_core::{
    Namespace, Topic, TopicAdmin,
    testkit::{KeyValueFixture, LogFixture, PubSubFixture, RequestReplyFixture},
};
use switchboard_nats::{JetStreamKeyValue, JetStreamKv, JetStreamLog, NatsBus};

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
        common::retry_transient("create stream", || self.log.create_topic(topic, partitions)).await;
    }
    fn redelivery_timeout(&self) -> Duration {
        Duration::from_secs(15)
    }
}

switchboard_core::pubsub_conformance!(setup);
switchboard_core::request_reply_conformance!(setup);
switchboard_core::log_conformance!(setup_log);
switchboard_core::router_conformance!(setup_log);

/// A KV bucket of the case's own, deleted when the case ends.
struct Kv {
    kv: JetStreamKv,
    context: async_nats::jetstream::Context,
    bucket: String,
}

async fn setup_kv() -> Kv {
    let context = async_nats::jetstream::new(common::client().await);
    let bucket = format!("sbtest-{}", switchboard_core::testkit::Names::unique().id());
    let kv = common::retry_transient("open bucket", || JetStreamKv::open(&context, &bucket)).await;
    Kv {
        kv,
        context,
        bucket,
    }
}

impl Drop for Kv {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        tokio::task::block_in_place(|| {
            runtime.block_on(async {
                if let Err(err) = JetStreamKv::delete_bucket(&self.context, &self.bucket).await {
                    eprintln!("could not delete bucket {}: {err}", self.bucket);
                }
            })
        });
    }
}

impl KeyValueFixture for Kv {
    type KeyValue = JetStreamKeyValue;
    fn namespace(&self, namespace: Namespace) -> JetStreamKeyValue {
        self.kv.namespace(namespace)
    }
}

switchboard_core::key_value_conformance!(setup_kv);
