//! [`NatsBus`]: core NATS pub/sub.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use async_nats::Client;
use futures::{Stream, StreamExt};
use switchboard_core::{Envelope, Error, Pattern, Publisher, Result, Subscriber, metric};
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::{NatsConfig, codec, error};

/// Bounds of a [`NatsBus`].
#[derive(Clone, Copy, Debug)]
pub struct BusConfig {
    /// Messages queued per subscription before it starts missing them (then it yields one
    /// [`Error::Lagged`] saying how many it missed).
    pub subscriber_capacity: usize,
    /// Requests one responder handles at once.
    pub responder_concurrency: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            subscriber_capacity: 16 * 1024,
            responder_concurrency: 256,
        }
    }
}

/// Core NATS pub/sub and request/reply over one connection. Cheap to clone.
///
/// Subscriptions and responders are re-established by the client after a reconnect.
#[derive(Clone)]
pub struct NatsBus {
    pub(crate) client: Client,
    pub(crate) config: BusConfig,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl NatsBus {
    /// A bus over an existing client, with the default bounds.
    pub fn new(client: Client) -> Self {
        Self::with_config(client, BusConfig::default())
    }

    /// A bus over an existing client.
    pub fn with_config(client: Client, config: BusConfig) -> Self {
        NatsBus { client, config }
    }

    /// Connects to `url` with the default [`NatsConfig`].
    pub async fn connect(url: &str) -> Result<Self> {
        Ok(Self::new(NatsConfig::new(url).connect().await?))
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Publisher for NatsBus {
    async fn publish(&self, mut msg: Envelope) -> Result<()> {
        let limit = self.client.max_payload();
        msg.check_size(limit)?;
        switchboard_core::trace::inject(msg.headers_mut());
        metric::published("pubsub", codec::SYSTEM);
        let headers = codec::encode_headers(&msg)?;
        let size = msg.payload().len();
        self.client
            .publish_with_headers(
                msg.subject().as_str().to_owned(),
                headers,
                msg.payload().clone(),
            )
            .await
            .map_err(|err| error::publish(err, size, limit))
    }
}

impl Subscriber for NatsBus {
    type Stream = NatsSubscription;

    async fn subscribe(&self, pattern: &Pattern) -> Result<NatsSubscription> {
        let subscriber = self
            .client
            .subscribe(pattern.as_str().to_owned())
            .await
            .map_err(error::unavailable)?;
        // The server answers the flush after it processed the SUB: the subscription is active.
        self.client.flush().await.map_err(error::unavailable)?;
        let (tx, rx) = mpsc::channel(self.config.subscriber_capacity.max(1));
        let missed = Arc::new(AtomicU64::new(0));
        tokio::spawn(pump(subscriber, tx, missed.clone()));
        tracing::debug!(subject = %pattern, "nats subscribed");
        Ok(NatsSubscription { rx, missed })
    }
}

/// Moves messages from the client's subscription into this subscription's bounded queue,
/// counting what does not fit. Ends when the subscription is dropped or the client closes;
/// dropping the client subscription unsubscribes.
async fn pump(
    mut subscriber: async_nats::Subscriber,
    tx: mpsc::Sender<Envelope>,
    missed: Arc<AtomicU64>,
) {
    loop {
        let message = tokio::select! {
            message = subscriber.next() => message,
            () = tx.closed() => break,
        };
        let Some(message) = message else { break };
        match codec::decode(
            message.subject.as_str(),
            message.headers.as_ref(),
            message.payload,
            &[],
        ) {
            Ok(envelope) => match tx.try_send(envelope) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    missed.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Closed(_)) => break,
            },
            Err(err) => tracing::debug!(
                subject = %message.subject,
                error = %err,
                "skipping a message whose subject is not a switchboard subject"
            ),
        }
    }
}

/// One [`NatsBus`] subscription. Yields [`Error::Lagged`] once after it missed messages;
/// ends when the client is closed. Dropping it unsubscribes.
#[derive(Debug)]
pub struct NatsSubscription {
    rx: mpsc::Receiver<Envelope>,
    missed: Arc<AtomicU64>,
}

impl Stream for NatsSubscription {
    type Item = Result<Envelope>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let missed = self.missed.swap(0, Ordering::Relaxed);
        if missed > 0 {
            metric::lagged(codec::SYSTEM, missed);
            return Poll::Ready(Some(Err(Error::Lagged { missed })));
        }
        self.rx.poll_recv(cx).map(|msg| {
            msg.map(|msg| {
                metric::delivered("pubsub", codec::SYSTEM);
                Ok(msg)
            })
        })
    }
}
