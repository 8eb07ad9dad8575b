//! A minimal test-only pub/sub adapter over async-nats, so the bridge runs on a real server
//! without depending on switchboard-nats (built in parallel).

use futures::StreamExt;
use switchboard_core::{Envelope, Error, Pattern, Publisher, Result, Subject, Subscriber};

/// Core pub/sub over one NATS connection.
#[derive(Clone)]
pub(crate) struct NatsPubSub(async_nats::Client);

impl NatsPubSub {
    /// Connects to `NATS_URL` (default nats://127.0.0.1:4222), failing loudly when it is down.
    pub(crate) async fn connect() -> Self {
        let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let client = async_nats::connect(&url).await.unwrap_or_else(|err| {
            panic!("cannot reach NATS at {url} ({err}): start it (scripts/test starts everything)")
        });
        NatsPubSub(client)
    }
}

impl Publisher for NatsPubSub {
    async fn publish(&self, msg: Envelope) -> Result<()> {
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in msg.headers().iter() {
            headers.insert(name, value);
        }
        self.0
            .publish_with_headers(msg.subject().to_string(), headers, msg.payload().clone())
            .await
            .map_err(Error::unavailable)
    }
}

fn to_envelope(msg: async_nats::Message) -> Result<Envelope> {
    let subject = Subject::new(msg.subject.as_str())?;
    let mut envelope = Envelope::new(subject, msg.payload);
    for (name, values) in msg.headers.iter().flat_map(|h| h.iter()) {
        if let Some(value) = values.last() {
            envelope = envelope.with_header(name.to_string(), value.as_str());
        }
    }
    Ok(envelope)
}

type NatsStream =
    futures::stream::Map<async_nats::Subscriber, fn(async_nats::Message) -> Result<Envelope>>;

impl Subscriber for NatsPubSub {
    type Stream = NatsStream;

    async fn subscribe(&self, pattern: &Pattern) -> Result<NatsStream> {
        let sub = self
            .0
            .subscribe(pattern.to_string())
            .await
            .map_err(Error::unavailable)?;
        // The subscription is active once the server has it.
        self.0.flush().await.map_err(Error::unavailable)?;
        Ok(sub.map(to_envelope as fn(_) -> _))
    }
}
