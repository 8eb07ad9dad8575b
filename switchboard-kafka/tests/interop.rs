//! Interop with plain Kafka clients: librdkafka's own producer and consumer, without
//! Switchboard, against the live broker (`KAFKA_BROKERS`).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Kafka, setup};
use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
    message::Headers,
    producer::{FutureProducer, FutureRecord},
};
use switchboard_core::{
    Topic,
    testkit::{Names, PlainLogFixture, PlainMessage, within},
};

const WAIT: Duration = Duration::from_secs(30);

fn plain_config(kafka: &Kafka) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", kafka.config.brokers());
    config
}

impl PlainLogFixture for Kafka {
    async fn plain_append(&self, topic: &Topic, payload: Bytes) {
        let producer: FutureProducer = plain_config(self)
            // As in the fixture: tansu serves fetches only from batch starts.
            .set("batch.num.messages", "1")
            .create()
            .expect("plain producer");
        let record = FutureRecord::<(), [u8]>::to(topic.as_str())
            .partition(0)
            .payload(payload.as_ref());
        producer
            .send(record, WAIT)
            .await
            .map_err(|(err, _)| err)
            .expect("plain produce");
    }

    async fn plain_read(&self, topic: &Topic, count: usize) -> Vec<PlainMessage> {
        let consumer: StreamConsumer = plain_config(self)
            .set("group.id", Names::unique().group("plain").as_str())
            .set("enable.auto.commit", "false")
            .create()
            .expect("plain consumer");
        let mut partitions = TopicPartitionList::new();
        partitions
            .add_partition_offset(topic.as_str(), 0, Offset::Beginning)
            .expect("partition 0");
        consumer.assign(&partitions).expect("assign partition 0");
        let mut read = Vec::new();
        while read.len() < count {
            let record = within(WAIT, "a record for the plain consumer", consumer.recv())
                .await
                .expect("plain consume");
            let headers = record.headers().map_or_else(Vec::new, |headers| {
                headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value.unwrap_or_default());
                        (h.key.to_owned(), value.into_owned())
                    })
                    .collect()
            });
            read.push(PlainMessage {
                payload: Bytes::copy_from_slice(record.payload().unwrap_or_default()),
                key: record
                    .key()
                    .map(|key| String::from_utf8_lossy(key).into_owned()),
                headers: Some(headers),
            });
        }
        read
    }
}

switchboard_core::log_interop_conformance!(setup);
