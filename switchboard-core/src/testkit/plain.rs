//! The plain side of the interop cases: a backend's own client library, used without
//! Switchboard, as a third-party program would.

use std::{future::Future, pin::Pin};

use bytes::Bytes;
use futures::Stream;

use super::{LogFixture, PubSubFixture, RequestReplyFixture};
use crate::{Subject, Topic};

/// A message as a plain client of the backend saw it.
#[derive(Clone, Debug, Default)]
pub struct PlainMessage {
    /// The body exactly as the plain client got it.
    pub payload: Bytes,
    /// The transport's own key, where it has one (a Kafka record key).
    pub key: Option<String>,
    /// The transport's headers (NATS headers, Kafka record headers, the fields of a Redis
    /// Streams entry other than the payload), or `None` where it has none (Redis pub/sub).
    pub headers: Option<Vec<(String, String)>>,
}

impl PlainMessage {
    /// A message with no headers, as a transport without headers delivers it.
    pub fn bare(payload: impl Into<Bytes>) -> Self {
        PlainMessage {
            payload: payload.into(),
            key: None,
            headers: None,
        }
    }

    /// The last value of header `name`, matched in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .as_ref()?
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a plain subscriber or responder receives.
pub type PlainStream = Pin<Box<dyn Stream<Item = PlainMessage> + Send>>;

/// A pub/sub fixture that also drives a plain client of the same server.
pub trait PlainPubSubFixture: PubSubFixture {
    /// Publishes `payload` on `subject` with the plain client: no framing, no headers.
    fn plain_publish(&self, subject: &Subject, payload: Bytes) -> impl Future<Output = ()> + Send;
    /// Subscribes the plain client to `subject`; returns once the server confirmed it.
    fn plain_subscribe(&self, subject: &Subject) -> impl Future<Output = PlainStream> + Send;
}

/// A durable-log fixture that also drives a plain client of the same server.
pub trait PlainLogFixture: LogFixture {
    /// Appends `payload` to partition 0 of `topic` with the plain client: no headers.
    fn plain_append(&self, topic: &Topic, payload: Bytes) -> impl Future<Output = ()> + Send;
    /// Reads the first `count` messages of partition 0 of `topic` with the plain client.
    fn plain_read(
        &self,
        topic: &Topic,
        count: usize,
    ) -> impl Future<Output = Vec<PlainMessage>> + Send;
}

/// A request/reply fixture that also drives a plain client of the same server.
pub trait PlainRequestFixture: RequestReplyFixture {
    /// Sends `payload` to `subject` as a plain request; returns the reply.
    fn plain_request(
        &self,
        subject: &Subject,
        payload: Bytes,
    ) -> impl Future<Output = PlainMessage> + Send;
    /// Serves `subject` with a plain responder that answers each request with `echo: ` and
    /// its payload, and hands every request it answered to the returned stream. Returns once
    /// the server confirmed the subscription; dropping the stream stops serving.
    fn plain_serve(&self, subject: &Subject) -> impl Future<Output = PlainStream> + Send;
}
