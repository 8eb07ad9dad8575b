//! [`RedisPublisher`]: `PUBLISH` on the shared command connection.

use redis::aio::ConnectionManager;
use switchboard_core::{
    Envelope, Publisher, Result,
    outgoing::{Operation, Sends},
};

use crate::{
    channel::Channels,
    error::from_redis,
    frame,
    wire::{WireForm, WireForms},
};

/// Publishes [`Envelope`]s with `PUBLISH <channel> <frame>`, or `PUBLISH <channel> <payload>`
/// on channels configured [`WireForm::Bare`].
///
/// The channel is the subject (under the configured channel prefix, if any). The frame carries
/// the id, timestamp, key, headers and raw payload; see the crate docs for its layout. The
/// bare form is the payload alone, for plain Redis clients, and carries nothing else.
/// Delivery is at-most-once: Redis hands the message to the subscribers connected right now
/// and keeps nothing.
#[derive(Clone)]
pub struct RedisPublisher {
    conn: ConnectionManager,
    channels: Channels,
    forms: WireForms,
    max_payload: usize,
    publishes: Sends,
}

impl std::fmt::Debug for RedisPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPublisher")
            .field("channels", &self.channels)
            .field("forms", &self.forms)
            .field("max_payload", &self.max_payload)
            .finish_non_exhaustive()
    }
}

impl RedisPublisher {
    pub(crate) fn new(
        conn: ConnectionManager,
        channels: Channels,
        forms: WireForms,
        max_payload: usize,
    ) -> Self {
        RedisPublisher {
            conn,
            channels,
            forms,
            max_payload,
            publishes: Sends::new(Operation::Publish, crate::SYSTEM),
        }
    }

    /// Publishes `msg` and returns how many subscriber connections Redis handed it to (the
    /// reply of `PUBLISH`). One [`RedisSubscriber`](crate::RedisSubscriber) connection counts
    /// once however many of its subscriptions match; `0` means nobody was listening.
    pub async fn publish_and_count(&self, mut msg: Envelope) -> Result<u64> {
        msg.check_size(self.max_payload)?;
        let out = self.publishes.start(&mut msg);
        let channel = self.channels.channel(msg.subject());
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(&channel);
        match self.forms.form(msg.subject()) {
            WireForm::Framed => publish.arg(frame::encode(&msg)),
            WireForm::Bare => publish.arg(msg.payload().as_ref()),
        };
        out.run(async {
            let receivers: u64 =
                publish
                    .query_async(&mut self.conn.clone())
                    .await
                    .map_err(|err| {
                        tracing::debug!(subject = %msg.subject(), error = %err, "publish failed");
                        from_redis(err)
                    })?;
            tracing::trace!(subject = %msg.subject(), receivers, "published");
            Ok(receivers)
        })
        .await
    }
}

impl Publisher for RedisPublisher {
    async fn publish(&self, msg: Envelope) -> Result<()> {
        self.publish_and_count(msg).await.map(drop)
    }
}
