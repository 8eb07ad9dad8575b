//! Connecting with options suited to long-running services.

use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event, ServerAddr};
use switchboard_core::{Error, InvalidInput, Result};

use crate::NatsError;

/// How to connect to NATS. The defaults reconnect forever, so subscriptions, responders and
/// JetStream consumers resume by themselves after the server comes back.
#[derive(Clone, Debug)]
pub struct NatsConfig {
    /// Server URL(s), comma separated, e.g. `nats://127.0.0.1:4222` or the servers of a
    /// cluster, `nats://10.0.0.1:4222,nats://10.0.0.2:4222`. The client connects to one of
    /// them and, when it goes away, reconnects to another (and to servers the cluster
    /// announces).
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

    /// The servers of [`NatsConfig::url`], parsed. An entry async-nats cannot parse is
    /// [`NatsError::InvalidServerUrl`]; a list without any is [`InvalidInput::Empty`].
    pub fn servers(&self) -> Result<Vec<ServerAddr>> {
        let servers = self
            .url
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| {
                url.parse::<ServerAddr>().map_err(|err| {
                    Error::from(NatsError::InvalidServerUrl {
                        url: url.to_owned(),
                        reason: err.to_string(),
                    })
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if servers.is_empty() {
            return Err(InvalidInput::Empty {
                what: "nats server list",
            }
            .into());
        }
        Ok(servers)
    }

    /// Connects to one of the servers. Fails with [`Error::Unavailable`] if none can be
    /// reached now; once connected, the client reconnects by itself.
    pub async fn connect(&self) -> Result<Client> {
        let servers = self.servers()?;
        let mut options = ConnectOptions::new()
            .subscription_capacity(self.client_subscription_capacity.max(1))
            .connection_timeout(self.connect_timeout)
            .max_reconnects(self.max_reconnects)
            .event_callback(|event| async move { log_event(event) });
        if let Some(name) = &self.name {
            options = options.name(name);
        }
        options.connect(servers).await.map_err(|err| {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comma_separated_list_is_every_server() {
        let config = NatsConfig::new("nats://127.0.0.1:4222, nats://127.0.0.1:4223,");
        let servers = config.servers().unwrap();
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[1].port(), 4223);
    }

    #[test]
    fn bad_entries_are_typed_errors() {
        let err = NatsConfig::new("nats://127.0.0.1:4222,nats://h:port")
            .servers()
            .unwrap_err();
        assert!(!err.is_transient());
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert!(
            cause
                .as_deref()
                .is_some_and(|c| c.contains("nats://h:port")),
            "{cause:?}"
        );
        let err = NatsConfig::new(" , ").servers().unwrap_err();
        assert_eq!(err.kind(), switchboard_core::ErrorKind::InvalidInput);
    }
}
