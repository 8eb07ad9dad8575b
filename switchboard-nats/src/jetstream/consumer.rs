//! Joining a group: one durable pull consumer per (stream, group), read by every member.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use async_nats::jetstream::{
    self, ErrorCode,
    consumer::{AckPolicy, DeliverPolicy, pull},
    stream::ConsumerErrorKind,
};
use futures::{FutureExt, Stream, StreamExt, future::BoxFuture, stream::SelectAll};
use switchboard_core::{
    Delivery, Error, Group, LogCapabilities, LogConsumer, Position, Result, Topic,
};

use super::{JetStreamLog, acker::JetStreamAcker};
use crate::codec;

impl JetStreamLog {
    /// What this log guarantees beyond at-least-once: a nack redelivers the message alone after its
    /// delay, and the members of a group pull from one durable consumer, so a key's messages may be
    /// split between them.
    pub const CAPABILITIES: LogCapabilities = LogCapabilities::AT_LEAST_ONCE;
}

impl LogConsumer for JetStreamLog {
    type Stream = JetStreamDeliveries;

    fn capabilities(&self) -> LogCapabilities {
        Self::CAPABILITIES
    }

    /// Joins `group` on every topic: creates (or updates) the group's durable pull consumer and
    /// sends the first pull request before returning, so this member is in line at once.
    async fn join(&self, group: &Group, topics: &[Topic]) -> Result<JetStreamDeliveries> {
        let mut readers = SelectAll::new();
        for topic in topics {
            let opened = open(self.clone(), group.clone(), topic.clone()).await?;
            tracing::debug!(topic = %topic, group = %group, "jetstream member joined");
            readers.push(TopicReader {
                log: self.clone(),
                group: group.clone(),
                topic: topic.clone(),
                state: State::Reading(Box::new(opened)),
                failures: 0,
            });
        }
        Ok(JetStreamDeliveries { readers })
    }
}

/// The deliveries of one group member. Never yields transient errors: after a disconnect or
/// a server restart it pulls again by itself. Dropping it leaves the group; the deliveries it
/// held unsettled (and messages its pull had buffered) go to the group's other members after
/// the ack wait.
pub struct JetStreamDeliveries {
    readers: SelectAll<TopicReader>,
}

impl std::fmt::Debug for JetStreamDeliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamDeliveries")
            .field("topics", &self.readers.len())
            .finish()
    }
}

impl Stream for JetStreamDeliveries {
    type Item = Result<Delivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.readers.poll_next_unpin(cx)
    }
}

type Pulled = std::result::Result<jetstream::Message, pull::MessagesError>;

struct Opened {
    messages: pull::Stream,
    /// A message that arrived while the first pull request was being sent.
    peeked: Option<Pulled>,
}

enum State {
    Reading(Box<Opened>),
    Reopening(BoxFuture<'static, Result<Opened>>),
}

/// One member's reading of one topic.
struct TopicReader {
    log: JetStreamLog,
    group: Group,
    topic: Topic,
    state: State,
    failures: u32,
}

fn consumer_name(group: &Group, topic: &Topic, shared_stream: bool) -> String {
    if shared_stream {
        format!("{group}_{}", topic.as_str().replace('.', "_"))
    } else {
        group.to_string()
    }
}

async fn open(log: JetStreamLog, group: Group, topic: Topic) -> Result<Opened> {
    let stream = log.stream_of(&topic).await?;
    let config = log.config();
    let name = consumer_name(&group, &topic, stream.shared);
    let consumer_config = pull::Config {
        durable_name: Some(name.clone()),
        filter_subject: topic.to_string(),
        ack_policy: AckPolicy::Explicit,
        deliver_policy: DeliverPolicy::All,
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver.map_or(-1, i64::from),
        max_ack_pending: i64::from(config.max_ack_pending.max(1)),
        ..Default::default()
    };
    let context = log.context();
    let consumer: jetstream::consumer::PullConsumer = match context
        .create_consumer_on_stream(consumer_config, &stream.name)
        .await
    {
        Ok(consumer) => consumer,
        Err(err) => match err.kind() {
            // Servers before 2.10 refuse to change some settings of an existing consumer:
            // keep using it as it is.
            ConsumerErrorKind::JetStream(js)
                if js.error_code() == ErrorCode::CONSUMER_NAME_EXIST
                    || js.error_code() == ErrorCode::CONSUMER_ALREADY_EXISTS =>
            {
                tracing::warn!(topic = %topic, group = %group, error = %js, "jetstream consumer exists with other settings; using it unchanged");
                context
                    .get_consumer_from_stream(&name, &stream.name)
                    .await
                    .map_err(Error::unavailable)?
            }
            ConsumerErrorKind::JetStream(js) if js.error_code() == ErrorCode::STREAM_NOT_FOUND => {
                log.forget_stream(&topic);
                return Err(Error::transient(err));
            }
            ConsumerErrorKind::JetStream(_) => return Err(Error::backend(err)),
            _ => return Err(Error::unavailable(err)),
        },
    };
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(config.batch.max(1))
        .expires(config.pull_expires)
        .heartbeat(config.idle_heartbeat)
        .messages()
        .await
        .map_err(Error::unavailable)?;
    // The first poll sends the first pull request.
    let peeked = match futures::poll!(messages.next()) {
        Poll::Ready(item) => item,
        Poll::Pending => None,
    };
    Ok(Opened { messages, peeked })
}

impl TopicReader {
    fn delivery(&self, message: jetstream::Message) -> Option<Delivery> {
        let (sequence, delivered) = match message.info() {
            Ok(info) => (info.stream_sequence, info.delivered),
            Err(err) => {
                tracing::warn!(topic = %self.topic, error = %err, "skipping a jetstream message without ack info");
                return None;
            }
        };
        let message = message.message;
        let reply = message.reply?;
        match codec::decode(
            message.subject.as_str(),
            message.headers.as_ref(),
            message.payload,
            &[codec::MSG_ID_HEADER],
        ) {
            Ok(envelope) => {
                let acker = JetStreamAcker {
                    client: self.log.client().clone(),
                    reply,
                    ack_timeout: self.log.config().ack_timeout,
                };
                let attempt = u32::try_from(delivered.max(1)).unwrap_or(u32::MAX);
                let position = Position {
                    partition: 0,
                    offset: sequence,
                };
                Some(Delivery::new(
                    "jetstream",
                    envelope,
                    position,
                    attempt,
                    acker,
                ))
            }
            Err(err) => {
                tracing::warn!(topic = %self.topic, offset = sequence, error = %err, "terminating a message that is not a switchboard envelope");
                let client = self.log.client().clone();
                tokio::spawn(async move {
                    let _ = client.publish(reply, jetstream::AckKind::Term.into()).await;
                });
                None
            }
        }
    }

    fn reopen(&mut self) {
        // Replacing the state drops the old pull; what it had buffered comes back after the
        // ack wait.
        let delay = match self.failures {
            0 => Duration::ZERO,
            n => Duration::from_millis(100 << n.min(6)).min(Duration::from_secs(5)),
        };
        let (log, group, topic) = (self.log.clone(), self.group.clone(), self.topic.clone());
        self.state = State::Reopening(
            async move {
                tokio::time::sleep(delay).await;
                open(log, group, topic).await
            }
            .boxed(),
        );
    }
}

impl Stream for TopicReader {
    type Item = Result<Delivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Reading(opened) => {
                    let item = match opened.peeked.take() {
                        Some(item) => Some(item),
                        None => match opened.messages.poll_next_unpin(cx) {
                            Poll::Ready(item) => item,
                            Poll::Pending => return Poll::Pending,
                        },
                    };
                    match item {
                        Some(Ok(message)) => {
                            if let Some(delivery) = this.delivery(message) {
                                return Poll::Ready(Some(Ok(delivery)));
                            }
                        }
                        Some(Err(err)) => {
                            tracing::warn!(topic = %this.topic, group = %this.group, error = %err, "jetstream pull interrupted; pulling again");
                            this.reopen();
                        }
                        None => this.reopen(),
                    }
                }
                State::Reopening(future) => match future.poll_unpin(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(opened)) => {
                        if this.failures > 0 {
                            tracing::info!(topic = %this.topic, group = %this.group, "jetstream member pulling again");
                        }
                        this.failures = 0;
                        this.state = State::Reading(Box::new(opened));
                    }
                    Poll::Ready(Err(err)) => {
                        this.failures = this.failures.saturating_add(1);
                        tracing::warn!(topic = %this.topic, group = %this.group, error = %err, attempt = this.failures, "jetstream member cannot pull yet; retrying");
                        this.reopen();
                    }
                },
            }
        }
    }
}
