//! [`ConnectConfig`]: which server backs which capability, as serde reads it.

use serde::{Deserialize, Deserializer, Serialize};

use super::{Capability, ConnectError};

/// The servers to connect, one section per backend; an unset URL leaves its capabilities in
/// memory. Reads from YAML, JSON or environment variables through serde.
///
/// ```
/// use switchboard::connect::ConnectConfig;
/// let config: ConnectConfig = serde_json::from_str(
///     r#"{ "nats": { "url": ["nats://a:4222", "nats://b:4222"] },
///          "kafka": { "brokers": "127.0.0.1:9092", "batch_records": 1 } }"#,
/// )?;
/// assert_eq!(config.nats.url.as_deref(), Some("nats://a:4222,nats://b:4222"));
/// assert_eq!(config.kafka.brokers.as_deref(), Some(&["127.0.0.1:9092".to_owned()][..]));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectConfig {
    /// The event store.
    pub postgres: PostgresConnect,
    /// Key/value and the plain-client pub/sub.
    pub redis: RedisConnect,
    /// Pub/sub and request/reply.
    pub nats: NatsConnect,
    /// The durable log.
    pub kafka: KafkaConnect,
}

/// PostgreSQL: `postgres://…`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConnect {
    /// The database URL.
    pub url: Option<String>,
    /// Apply pending migrations on connect (default `true`).
    pub migrate: bool,
}

impl Default for PostgresConnect {
    fn default() -> Self {
        PostgresConnect {
            url: None,
            migrate: true,
        }
    }
}

/// Redis: `redis://…`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConnect {
    /// The server URL.
    pub url: Option<String>,
    /// Subject prefixes published bare (payload only, for plain clients such as
    /// `redis-cli SUBSCRIBE`); `""` makes every channel bare. Others carry framed envelopes.
    pub bare_prefixes: Vec<String>,
}

/// NATS: `nats://…`, or a cluster's servers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConnect {
    /// The servers, comma separated (a list is joined).
    #[serde(deserialize_with = "url_list")]
    pub url: Option<String>,
}

/// Kafka: `host:port` brokers (or `kafka://host:port,…`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConnect {
    /// The bootstrap brokers (a list, or one comma-separated string).
    #[serde(deserialize_with = "list")]
    pub brokers: Option<Vec<String>>,
    /// The client id the brokers log (default `switchboard`).
    pub client_id: String,
    /// A static group member id (`group.instance.id`): a restarted member takes its partitions
    /// back at once. One per process.
    pub instance_id: Option<String>,
    /// How long a silent member stays in its group, in milliseconds (default 10000).
    pub session_timeout_ms: u64,
    /// Records per produce batch at most; unset: librdkafka's default.
    pub batch_records: Option<usize>,
    /// Partitions of each topic created on connect (see [`KafkaConnect::topics`]).
    pub partitions: u32,
    /// Topics created on connect if missing.
    pub topics: Vec<String>,
}

impl Default for KafkaConnect {
    fn default() -> Self {
        KafkaConnect {
            brokers: None,
            client_id: "switchboard".to_owned(),
            instance_id: None,
            session_timeout_ms: 10_000,
            batch_records: None,
            partitions: 1,
            topics: Vec::new(),
        }
    }
}

impl ConnectConfig {
    /// A configuration from URLs, each naming its backend by scheme: `postgres://` (or
    /// `postgresql://`), `redis://` (or `rediss://`), `nats://` (or `tls://`), `kafka://host:port,…`.
    /// No URL at all means everything in memory.
    pub fn from_urls<S: AsRef<str>>(urls: &[S]) -> Result<ConnectConfig, ConnectError> {
        let mut config = ConnectConfig::default();
        for url in urls {
            let url = url.as_ref().trim();
            let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
            match scheme {
                "postgres" | "postgresql" => config.postgres.url = Some(url.to_owned()),
                "redis" | "rediss" => config.redis.url = Some(url.to_owned()),
                "nats" | "tls" => config.nats.url = Some(url.to_owned()),
                "kafka" => {
                    config.kafka.brokers = Some(rest.split(',').map(str::to_owned).collect());
                }
                _ => return Err(ConnectError::UnknownScheme { url: mask(url) }),
            }
        }
        Ok(config)
    }

    /// The configured URL (password masked) that provides `capability`, if any.
    pub fn provider(&self, capability: Capability) -> Option<String> {
        let url = match capability {
            Capability::PubSub | Capability::Request => self.nats.url.clone(),
            Capability::KeyValue | Capability::PlainPubSub => self.redis.url.clone(),
            Capability::Log => self.kafka.brokers.as_ref().map(|b| b.join(",")),
            Capability::EventStore => self.postgres.url.clone(),
        };
        url.map(|url| mask(&url))
    }

    /// Every configured URL, passwords masked.
    pub fn urls(&self) -> Vec<String> {
        let kafka = self.kafka.brokers.as_ref().map(|b| b.join(","));
        [&self.postgres.url, &self.redis.url, &self.nats.url, &kafka]
            .into_iter()
            .flatten()
            .map(|url| mask(url))
            .collect()
    }

    /// Checks that the configured servers offer every capability in `needs`. With no server
    /// configured everything runs in memory and this always succeeds; otherwise a capability
    /// none of them offers is [`ConnectError::Missing`], naming it and the configured URLs.
    pub fn require(&self, needs: &[Capability]) -> Result<(), ConnectError> {
        let urls = self.urls();
        if urls.is_empty() {
            return Ok(());
        }
        match needs.iter().find(|need| self.provider(**need).is_none()) {
            Some(&capability) => Err(ConnectError::Missing { capability, urls }),
            None => Ok(()),
        }
    }
}

/// A URL with its password replaced by `***`, fit for logs and errors.
pub fn mask(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// A list as a YAML/JSON list or one comma-separated string; empty entries dropped, and an
/// empty list is `None`.
fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(String),
        Many(Vec<String>),
    }
    let items: Vec<String> = match Option::<List>::deserialize(d)? {
        None => return Ok(None),
        Some(List::One(s)) => s.split(',').map(|b| b.trim().to_owned()).collect(),
        Some(List::Many(v)) => v.into_iter().map(|b| b.trim().to_owned()).collect(),
    };
    let items: Vec<String> = items.into_iter().filter(|b| !b.is_empty()).collect();
    Ok((!items.is_empty()).then_some(items))
}

/// A URL list kept as one comma-separated string.
fn url_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(list(d)?.map(|urls| urls.join(",")))
}

/// Serde helpers for the list forms above, for applications that embed these settings in
/// their own configuration structs.
pub mod de {
    use serde::Deserializer;

    /// A list as a list or one comma-separated string; empty is `None`.
    pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
        super::list(d)
    }

    /// A URL list kept as one comma-separated string; empty is `None`.
    pub fn url_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        super::url_list(d)
    }
}
