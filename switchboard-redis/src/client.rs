//! [`Redis`]: one server, handing out key/value handles, publishers and subscribers.

use std::sync::Arc;

use redis::{
    Client, IntoConnectionInfo, ProtocolVersion,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use switchboard_core::{Error, InvalidInput, Namespace, Result};

use crate::{
    RedisConfig, RedisKeyValue, RedisLog, RedisPublisher, RedisSubscriber, channel::Channels,
    error::from_redis, wire::WireForms,
};

/// A connection to one Redis server. Cheap to clone; clones share the connection.
///
/// Commands (key/value, `PUBLISH`) share one multiplexed connection that reconnects by itself;
/// each [`RedisSubscriber`] opens its own connection for its subscriptions.
#[derive(Clone)]
pub struct Redis {
    client: Client,
    conn: ConnectionManager,
    config: Arc<RedisConfig>,
    channels: Channels,
    forms: WireForms,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("key_prefix", &self.config.key_prefix)
            .field("channel_prefix", &self.config.channel_prefix)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Connects to the server of `config`.
    ///
    /// A bad URL or prefix is [`Error::InvalidInput`]; a server that cannot be reached after
    /// [`RedisConfig::reconnect_attempts`] is [`Error::Unavailable`].
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        config.validate()?;
        let forms = config.forms()?;
        let client = open_client(&config, ProtocolVersion::RESP2)?;
        let conn = ConnectionManager::new_with_config(client.clone(), manager_config(&config))
            .await
            .map_err(from_redis)?;
        tracing::debug!(url = %redacted(&config.url), "connected to redis");
        Ok(Redis {
            client,
            conn,
            channels: Channels::new(config.channel_prefix.as_deref()),
            forms,
            config: Arc::new(config),
        })
    }

    /// A key/value handle confined to `namespace`: keys are stored as
    /// `<key_prefix>:<namespace>:<key>`.
    pub fn key_value(&self, namespace: Namespace) -> RedisKeyValue {
        RedisKeyValue::new(self.conn.clone(), &self.config.key_prefix, namespace)
    }

    /// A publisher sharing this connection, writing each channel in the form
    /// [`RedisConfig::wire_forms`] gives it.
    pub fn publisher(&self) -> RedisPublisher {
        RedisPublisher::new(
            self.conn.clone(),
            self.channels.clone(),
            self.forms.clone(),
            self.config.max_payload,
        )
    }

    /// Opens a subscriber on its own connection. Its subscriptions share that connection and
    /// are re-issued by themselves after a reconnect.
    pub async fn subscriber(&self) -> Result<RedisSubscriber> {
        RedisSubscriber::connect(&self.config, self.channels.clone()).await
    }

    /// A durable log on Redis Streams under the key prefix; each member that joins a group
    /// opens its own connection for its blocking reads.
    pub fn log(&self) -> RedisLog {
        RedisLog::new(self.client.clone(), self.conn.clone(), self.config.clone())
    }

    /// The underlying connection, for commands this crate does not wrap.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The configuration this connection was made with.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }
}

/// A client for `config.url` speaking `protocol`; a URL that cannot be parsed is bad input.
pub(crate) fn open_client(config: &RedisConfig, protocol: ProtocolVersion) -> Result<Client> {
    let info = config.url.as_str().into_connection_info().map_err(|_| {
        Error::from(InvalidInput::InvalidName {
            what: "redis url",
            value: redacted(&config.url),
            reason: "not a valid redis:// or rediss:// URL, such as redis://127.0.0.1:6379",
        })
    })?;
    let settings = info.redis_settings().clone().set_protocol(protocol);
    Client::open(info.set_redis_settings(settings)).map_err(from_redis)
}

/// The connection manager's timeouts and reconnection policy.
pub(crate) fn manager_config(config: &RedisConfig) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.response_timeout))
        .set_number_of_retries(config.reconnect_attempts)
        .set_max_delay(config.max_reconnect_delay)
}

/// The URL without its password, for logs and error messages.
pub(crate) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redacted("redis://user:secret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(redacted("redis://host:6379"), "redis://host:6379");
    }

    #[test]
    fn bad_url_is_invalid_input() {
        let err = open_client(&RedisConfig::new("http://nope"), ProtocolVersion::RESP2)
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    }
}
