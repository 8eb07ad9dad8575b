//! Connecting with options suited to long-running services.

use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use switchboard_core::{Error, Result};

/// How to connect to NATS. The defaults reconnect forever, so subscriptions, responders and
/// JetStream consumers resume by themselves after the server comes back.
#[derive(Clone, Debug)]
pub struct NatsConfig {
    /// Server URL(s), comma separated, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// Connection name shown by the server's monitoring.
    pub name: Option<String>,
    /// Messages the client buffers per subscription before it drops them and reports a slow
    /// consumer (async-nats' `subscription_capacity`).
    pub client_subscription_capacity: usize,
    /// How long the first connection attempt may take.
    pub connect_timeout: Duration,
    /// Reconnect attempts before giving up; `None` retries forever.
    pub max_reconnects: Option<usize>,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            name: None,
            client_subscription_capacity: 64 * 1024,
            connect_timeout: Duration::from_secs(5),
            max_reconnects: None,
        }
    }
}

impl NatsConfig {
    /// The defaults, for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Connects. Fails with [`Error::Unavailable`] if the server cannot be reached now; once
    /// connected, the client reconnects by itself.
    pub async fn connect(&self) -> Result<Client> {
        let mut options = ConnectOptions::new()
            .subscription_capacity(self.client_subscription_capacity.max(1))
            .connection_timeout(self.connect_timeout)
            .max_reconnects(self.max_reconnects)
            .event_callback(|event| async move { log_event(event) });
        if let Some(name) = &self.name {
            options = options.name(name);
        }
        options.connect(self.url.as_str()).await.map_err(|err| {
            tracing::warn!(url = %self.url, error = %err, "nats connect failed");
            Error::unavailable(err)
        })
    }
}

/// Connects to `url` with the default [`NatsConfig`].
pub async fn connect(url: &str) -> Result<Client> {
    NatsConfig::new(url).connect().await
}

fn log_event(event: Event) {
    match event {
        Event::Connected => tracing::info!("nats connected"),
        Event::Disconnected => tracing::warn!("nats disconnected; reconnecting"),
        Event::SlowConsumer(sid) => {
            tracing::warn!(sid, "nats slow consumer: the client dropped messages")
        }
        other => tracing::warn!(event = %other, "nats connection event"),
    }
}
