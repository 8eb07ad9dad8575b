//! [`NatsBus`]: core NATS pub/sub.

use async_nats::Client;
use futures::{StreamExt, TryFutureExt};
use switchboard_core::{
    BusCapabilities, Envelope, Pattern, Publisher, Result, Subject, Subscriber,
    lagging::{Lagging, LaggingSender, lagging_channel},
    outgoing::{Operation, Sends},
};

use crate::{NatsConfig, codec, error, settle::settled, subject::to_client};

/// Bounds and wire form of a [`NatsBus`].
#[derive(Clone, Copy, Debug)]
pub struct BusConfig {
    /// Messages queued per subscription before it starts missing them (then it yields one
    /// [`Error::Lagged`](switchboard_core::Error::Lagged) saying how many it missed).
    pub subscriber_capacity: usize,
    /// Requests one responder handles at once.
    pub responder_concurrency: usize,
    /// Send each published message's and request's [`Envelope::id`] and
    /// [`Envelope::timestamp`] as the [`ID_HEADER`](crate::ID_HEADER) and
    /// [`TIMESTAMP_HEADER`](crate::TIMESTAMP_HEADER) headers, so receivers get them as sent.
    ///
    /// Off by default: receivers give each message a fresh id and the time it arrived, as they
    /// do for messages of plain NATS clients, and a message without key, headers or trace
    /// context goes out as a bare `PUB`, at the raw client's cost. (Building and parsing the
    /// header block cost three times what the raw client spends on a whole message,
    /// docs/benchmarks.md.) Turn it on when subscribers or responders deduplicate or correlate
    /// by id, or need the sender's time. The key, the headers and the trace context are always
    /// sent; JetStream appends always carry the id.
    pub send_id_and_timestamp: bool,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            subscriber_capacity: 16 * 1024,
            responder_concurrency: 256,
            send_id_and_timestamp: false,
        }
    }
}

impl BusConfig {
    /// What a bus with this configuration carries of an envelope.
    pub const fn capabilities(&self) -> BusCapabilities {
        if self.send_id_and_timestamp {
            BusCapabilities::WHOLE_ENVELOPE
        } else {
            BusCapabilities::WITHOUT_ID_AND_TIMESTAMP
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
    publishes: Sends,
    pub(crate) requests: Sends,
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
        NatsBus {
            client,
            config,
            publishes: Sends::new(Operation::Publish, codec::SYSTEM),
            requests: Sends::new(Operation::Request, codec::SYSTEM),
        }
    }

    /// Connects to `url` with the default [`NatsConfig`].
    pub async fn connect(url: &str) -> Result<Self> {
        Ok(Self::new(NatsConfig::new(url).connect().await?))
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// What this bus carries of an envelope ([`BusConfig::send_id_and_timestamp`]).
    pub const fn capabilities(&self) -> BusCapabilities {
        self.config.capabilities()
    }
}

impl Publisher for NatsBus {
    async fn publish(&self, mut msg: Envelope) -> Result<()> {
        let limit = self.client.max_payload();
        msg.check_size(limit)?;
        let out = self.publishes.start(&mut msg);
        let headers = codec::encode_headers(&msg, self.config.send_id_and_timestamp)?;
        let (subject, payload) = (to_client(msg.subject()), msg.payload().clone());
        // Not kept across the send: every byte of this future is copied as it is built.
        drop(msg);
        let size = payload.len();
        let failed = move |err| error::publish(err, size, limit);
        match headers {
            Some(headers) => {
                let send = self.client.publish_with_headers(subject, headers, payload);
                out.run(send.map_err(failed)).await
            }
            None => {
                out.run(self.client.publish(subject, payload).map_err(failed))
                    .await
            }
        }
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
        // The subscription is active once the server has processed the SUB.
        settled(&self.client).await?;
        let (tx, rx) = lagging_channel(self.config.subscriber_capacity, codec::SYSTEM);
        tokio::spawn(pump(subscriber, tx));
        tracing::debug!(subject = %pattern, "nats subscribed");
        Ok(rx)
    }
}

/// Moves messages from the client's subscription into this subscription's bounded queue,
/// counting what does not fit. Ends when the subscription is dropped or the client closes;
/// dropping the client subscription unsubscribes.
async fn pump(mut subscriber: async_nats::Subscriber, tx: LaggingSender<Envelope>) {
    let forward = async {
        // A subscription mostly sees one subject: validate it once, not per message.
        let mut last: Option<Subject> = None;
        while let Some(message) = subscriber.next().await {
            let subject = match last.as_ref() {
                Some(subject) if subject.as_str() == message.subject.as_str() => subject.clone(),
                _ => match Subject::new(message.subject.as_str()) {
                    Ok(subject) => last.insert(subject).clone(),
                    Err(err) => {
                        tracing::debug!(
                            subject = %message.subject,
                            error = %err,
                            "skipping a message whose subject is not a switchboard subject"
                        );
                        continue;
                    }
                },
            };
            let envelope =
                codec::decode_for(subject, message.headers.as_ref(), message.payload, &[]);
            if !tx.send(envelope) {
                break;
            }
        }
    };
    // Both futures live for the whole pump, so neither is rebuilt per message.
    tokio::select! {
        biased;
        () = forward => {}
        () = tx.closed() => {}
    }
}

/// One [`NatsBus`] subscription. Yields [`Error::Lagged`](switchboard_core::Error::Lagged)
/// once after it missed messages; ends when the client is closed. Dropping it unsubscribes.
pub type NatsSubscription = Lagging<Envelope>;
