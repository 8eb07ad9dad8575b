//! Settling JetStream deliveries: ack (confirmed by the server), nack with delay, abandon.

use std::time::Duration;

use async_nats::{Client, jetstream::AckKind};
use futures::{FutureExt, future::BoxFuture};
use switchboard_core::{Acknowledge, Error, Result};

/// Settles one delivery through its ack subject.
pub(crate) struct JetStreamAcker {
    pub(crate) client: Client,
    pub(crate) reply: async_nats::Subject,
    pub(crate) ack_timeout: Duration,
}

impl Acknowledge for JetStreamAcker {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        async move {
            // A request, not a publish: the server answers once it has recorded the ack.
            let request = async_nats::Request::new()
                .payload(AckKind::Ack.into())
                .timeout(Some(self.ack_timeout));
            self.client
                .send_request(self.reply, request)
                .await
                .map(drop)
                .map_err(|err| match err.kind() {
                    async_nats::client::RequestErrorKind::TimedOut => Error::Timeout {
                        after: self.ack_timeout,
                    },
                    _ => Error::unavailable(err),
                })
        }
        .boxed()
    }

    fn nack(self: Box<Self>, delay: Duration) -> BoxFuture<'static, Result<()>> {
        async move { nak(&self.client, self.reply, delay).await }.boxed()
    }

    fn abandon(self: Box<Self>) {
        // Must not block: nak from a task, or leave it to the ack wait without a runtime.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if let Err(err) = nak(&self.client, self.reply, Duration::ZERO).await {
                tracing::debug!(error = %err, "could not nak a dropped delivery; the ack wait will redeliver it");
            }
        });
    }
}

async fn nak(client: &Client, reply: async_nats::Subject, delay: Duration) -> Result<()> {
    let kind = AckKind::Nak((!delay.is_zero()).then_some(delay));
    client
        .publish(reply, kind.into())
        .await
        .map_err(Error::unavailable)
}
