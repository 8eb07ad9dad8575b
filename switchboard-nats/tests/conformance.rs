//! The conformance kit against a live NATS server (`NATS_URL`, JetStream on).

mod common;

use std::{sync::Mutex, time::Duration};

use switchboard_core::{
    BusCapabilities, Namespace, Topic, TopicAdmin,
    testkit::{KeyValueFixture, LogFixture, PubSubFixture, RequestReplyFixture},
};
use switchboard_nats::{BusConfig, JetStreamKeyValue, JetStreamKv, JetStreamLog, NatsBus};

struct Nats {
    bus: NatsBus,
}

/// The bus as configured by default: ids and timestamps are the receiver's.
async fn setup() -> Nats {
    Nats {
        bus: NatsBus::new(common::client().await),
    }
}

/// A bus that sends each envelope's id and timestamp.
async fn setup_with_ids() -> Nats {
    let config = BusConfig {
        send_id_and_timestamp: true,
        ..BusConfig::default()
    };
    Nats {
        bus: NatsBus::with_config(common::client().await, config),
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
    fn capabilities(&self) -> BusCapabilities {
        self.bus.capabilities()
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
    fn capabilities(&self) -> BusCapabilities {
        self.bus.capabilities()
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

/// With [`BusConfig::send_id_and_timestamp`] the cases that depend on it hold the promise.
mod with_id_and_timestamp {
    use switchboard_core::testkit::{interop, pubsub};

    use super::setup_with_ids;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn round_trip_keeps_id_and_timestamp() {
        let fixture = setup_with_ids().await;
        assert!(fixture.bus.capabilities().keeps_id_and_timestamp);
        pubsub::round_trip_keeps_payload_and_headers(&fixture).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain_subscriber_reads_id_and_timestamp() {
        interop::plain_subscriber_reads_sdk_message(&setup_with_ids().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain_responder_reads_id_and_timestamp() {
        interop::sdk_requester_gets_plain_reply(&setup_with_ids().await).await;
    }
}
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

/// Interop with plain clients: async-nats itself, without Switchboard, on the same server.
mod interop {
    use async_nats::HeaderMap;
    use bytes::Bytes;
    use futures::StreamExt;
    use switchboard_core::{
        Subject, Topic,
        testkit::{
            PlainLogFixture, PlainMessage, PlainPubSubFixture, PlainRequestFixture, PlainStream,
        },
    };
    use tokio::sync::mpsc;

    use super::{JetStream, Nats, setup, setup_log};

    fn plain(headers: Option<&HeaderMap>, payload: Bytes) -> PlainMessage {
        let headers = headers.map_or_else(Vec::new, |map| {
            map.iter()
                .filter_map(|(name, values)| {
                    let name: &str = name.as_ref();
                    Some((name.to_owned(), values.last()?.as_str().to_owned()))
                })
                .collect()
        });
        PlainMessage {
            payload,
            key: None,
            headers: Some(headers),
        }
    }

    /// Subscribes the raw client to `subject`, confirmed by a flush.
    async fn raw_subscribe(
        client: &async_nats::Client,
        subject: &Subject,
    ) -> async_nats::Subscriber {
        let subscriber = client
            .subscribe(subject.as_str().to_owned())
            .await
            .expect("plain subscribe");
        client.flush().await.expect("plain flush");
        subscriber
    }

    impl PlainPubSubFixture for Nats {
        async fn plain_publish(&self, subject: &Subject, payload: Bytes) {
            let client = self.bus.client();
            client
                .publish(subject.as_str().to_owned(), payload)
                .await
                .expect("plain publish");
            client.flush().await.expect("plain flush");
        }

        async fn plain_subscribe(&self, subject: &Subject) -> PlainStream {
            raw_subscribe(self.bus.client(), subject)
                .await
                .map(|msg| plain(msg.headers.as_ref(), msg.payload))
                .boxed()
        }
    }

    impl PlainRequestFixture for Nats {
        async fn plain_request(&self, subject: &Subject, payload: Bytes) -> PlainMessage {
            let reply = self
                .bus
                .client()
                .request(subject.as_str().to_owned(), payload)
                .await
                .expect("plain request");
            plain(reply.headers.as_ref(), reply.payload)
        }

        async fn plain_serve(&self, subject: &Subject) -> PlainStream {
            let client = self.bus.client().clone();
            let mut requests = raw_subscribe(&client, subject).await;
            let (seen, rx) = mpsc::unbounded_channel();
            tokio::spawn(async move {
                loop {
                    let request = tokio::select! {
                        request = requests.next() => request,
                        () = seen.closed() => break,
                    };
                    let Some(request) = request else { break };
                    let Some(reply) = request.reply.clone() else {
                        continue;
                    };
                    let mut body = b"echo: ".to_vec();
                    body.extend_from_slice(&request.payload);
                    client
                        .publish(reply, body.into())
                        .await
                        .expect("plain reply");
                    let _ = seen.send(plain(request.headers.as_ref(), request.payload));
                }
            });
            futures::stream::unfold(rx, |mut rx| async move { Some((rx.recv().await?, rx)) })
                .boxed()
        }
    }

    impl PlainLogFixture for JetStream {
        async fn plain_append(&self, topic: &Topic, payload: Bytes) {
            async_nats::jetstream::new(self.log.client().clone())
                .publish(topic.as_str().to_owned(), payload)
                .await
                .expect("plain jetstream publish")
                .await
                .expect("plain jetstream ack");
        }

        async fn plain_read(&self, topic: &Topic, count: usize) -> Vec<PlainMessage> {
            let stream = self
                .log
                .context()
                .get_stream(self.log.stream_name(topic))
                .await
                .expect("plain get stream");
            let mut read = Vec::new();
            for sequence in 1..=count as u64 {
                let msg = stream
                    .get_raw_message(sequence)
                    .await
                    .expect("plain get message");
                read.push(plain(Some(&msg.headers), msg.payload));
            }
            read
        }
    }

    switchboard_core::pubsub_interop_conformance!(setup);
    switchboard_core::request_reply_interop_conformance!(setup);
    switchboard_core::log_interop_conformance!(setup_log);
}
