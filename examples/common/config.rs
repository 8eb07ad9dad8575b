//! `configs/<service>.yaml` plus `<SERVICE>_…` environment overrides, validated at startup.

use std::{fmt, net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Yaml},
    value::Dict,
};
use serde::{Deserialize, Deserializer, Serialize};

use super::config_keys::Keys;
use super::gateway_config::{ClusterConfig, LimitsConfig};

/// Where the service runs: `dev` logs for people, `prod` logs JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RunEnv {
    Dev,
    Prod,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ServerConfig {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub(crate) body_limit: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PostgresConfig {
    pub(crate) url: Option<String>,
    pub(crate) migrate: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct UrlConfig {
    pub(crate) url: Option<String>,
}

/// NATS: one server or a cluster's servers (`url` as a YAML list or comma-separated string).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct NatsConfig {
    /// The servers, comma separated.
    #[serde(default, deserialize_with = "url_list")]
    pub(crate) url: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KafkaConfig {
    #[serde(default, deserialize_with = "brokers")]
    pub(crate) brokers: Option<Vec<String>>,
    /// The processor's consumer group.
    pub(crate) group: String,
    /// The processor's static member id (`group.instance.id`); empty: dynamic membership.
    #[serde(default)]
    pub(crate) instance_id: Option<String>,
    /// How long the broker keeps a silent member in its group, in milliseconds.
    pub(crate) session_timeout_ms: u64,
    /// Records per produce batch at most; unset: librdkafka's default. tansu 0.6 needs 1.
    #[serde(default)]
    pub(crate) batch_records: Option<usize>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: None,
            group: switchboard_flows::PROCESSOR_GROUP.to_owned(),
            instance_id: None,
            session_timeout_ms: 10_000,
            batch_records: None,
        }
    }
}

/// How the processor works its records (`processor.*`); see `ProcessorConfig` in
/// switchboard-flows for what each does.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ProcessorSettings {
    /// Records per batch at most: one bulk insert, then their publishes and acks.
    pub(crate) batch_records: usize,
    /// How long a batch waits for more records after its first, in milliseconds.
    pub(crate) batch_linger_ms: u64,
    /// Records in flight at most, over all partitions.
    pub(crate) in_flight: usize,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        let core = switchboard_flows::ProcessorConfig::default();
        ProcessorSettings {
            batch_records: core.batch_records,
            batch_linger_ms: core.batch_linger.as_millis() as u64,
            in_flight: core.in_flight,
        }
    }
}

impl ProcessorSettings {
    /// The core processor's settings with these applied.
    pub(crate) fn apply(
        &self,
        config: switchboard_flows::ProcessorConfig,
    ) -> switchboard_flows::ProcessorConfig {
        switchboard_flows::ProcessorConfig {
            batch_records: self.batch_records,
            batch_linger: std::time::Duration::from_millis(self.batch_linger_ms),
            in_flight: self.in_flight,
            ..config
        }
    }
}

/// One service's configuration. An unset (or empty) URL means the in-memory transport.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Config {
    pub(crate) env: RunEnv,
    pub(crate) service: String,
    pub(crate) server: ServerConfig,
    pub(crate) postgres: PostgresConfig,
    pub(crate) redis: UrlConfig,
    pub(crate) nats: NatsConfig,
    pub(crate) kafka: KafkaConfig,
    /// The processor's batches (also when it runs inside the gateway).
    #[serde(default)]
    pub(crate) processor: ProcessorSettings,
    /// The gateway's bridge key.
    #[serde(default)]
    pub(crate) cluster: ClusterConfig,
    /// The gateway's limits on visitors.
    #[serde(default)]
    pub(crate) limits: LimitsConfig,
}

/// A configuration that cannot be used; the message names the key and the variable.
#[derive(Debug)]
pub(crate) struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// `brokers` as a YAML list or a comma-separated string (`PROCESSOR_KAFKA_BROKERS=a:9092,b:9092`).
fn brokers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Brokers {
        One(String),
        Many(Vec<String>),
    }
    let list: Vec<String> = match Option::<Brokers>::deserialize(d)? {
        None => return Ok(None),
        Some(Brokers::One(s)) => s.split(',').map(|b| b.trim().to_owned()).collect(),
        Some(Brokers::Many(v)) => v.into_iter().map(|b| b.trim().to_owned()).collect(),
    };
    let list: Vec<String> = list.into_iter().filter(|b| !b.is_empty()).collect();
    Ok((!list.is_empty()).then_some(list))
}

/// A URL list (YAML list or comma-separated string), kept as one comma-separated string.
fn url_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(brokers(d)?.map(|urls| urls.join(",")))
}

impl Config {
    /// The built-in settings: every backend in memory, listening on 127.0.0.1:`port`.
    pub(crate) fn defaults(service: &str, port: u16) -> Config {
        Config {
            env: RunEnv::Dev,
            service: service.to_owned(),
            server: ServerConfig {
                host: "127.0.0.1".to_owned(),
                port,
                body_limit: 64 * 1024,
            },
            postgres: PostgresConfig {
                url: None,
                migrate: true,
            },
            redis: UrlConfig::default(),
            nats: NatsConfig::default(),
            kafka: KafkaConfig::default(),
            processor: ProcessorSettings::default(),
            cluster: ClusterConfig::default(),
            limits: LimitsConfig::default(),
        }
    }

    /// Loads `configs/<service>.yaml` (from the working directory, else from the repository),
    /// then `<SERVICE>_…` environment variables, then validates. A key that is not a setting,
    /// in the file or as a variable, is an error.
    pub(crate) fn load(service: &str, default_port: u16) -> Result<Config, ConfigError> {
        let file = config_file(service);
        let prefix = format!("{}_", service.to_uppercase());
        let keys = Config::keys();
        let figment = Figment::from(Serialized::defaults(Config::defaults(
            service,
            default_port,
        )))
        .merge(Yaml::file(file))
        .merge(Env::prefixed(&prefix).map(move |var| keys.env_key(var.as_str()).into()));
        Self::from_figment(figment, &prefix)
    }

    /// Every configuration key, read off the defaults.
    pub(crate) fn keys() -> Keys {
        let defaults = Figment::from(Serialized::defaults(Config::defaults("", 0)));
        Keys::of(&defaults.extract().expect("the defaults are a table"))
    }

    fn from_figment(figment: Figment, prefix: &str) -> Result<Config, ConfigError> {
        let keys = Config::keys();
        let data: Dict = figment
            .extract()
            .map_err(|err| ConfigError(err.to_string()))?;
        if let Some(key) = keys.unknown(&data) {
            let from = match figment.find_metadata(&key) {
                Some(meta) => match &meta.source {
                    Some(source) => format!(" in {} {source}", meta.name),
                    None => format!(" in {}", meta.name),
                },
                None => String::new(),
            };
            return Err(ConfigError(format!(
                "unknown key `{key}` (or {}){from}; the keys are {}",
                env_var(prefix, &key),
                keys.leaves().join(", ")
            )));
        }
        let mut config: Config = figment.extract().map_err(|err| {
            let key = err.path.join(".");
            let var = env_var(prefix, &key);
            ConfigError(format!("`{key}` (or {var}): {}", err.kind))
        })?;
        config.normalize();
        config.validate(prefix)?;
        Ok(config)
    }

    fn normalize(&mut self) {
        for url in [
            &mut self.postgres.url,
            &mut self.redis.url,
            &mut self.nats.url,
        ] {
            if url.as_deref().is_some_and(|u| u.trim().is_empty()) {
                *url = None;
            }
        }
        let instance_id = &mut self.kafka.instance_id;
        if instance_id
            .as_deref()
            .is_some_and(|id| id.trim().is_empty())
        {
            *instance_id = None;
        }
        if self.cluster.key.as_ref().is_some_and(|k| k.0.is_empty()) {
            self.cluster.key = None;
        }
    }

    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| {
            let var = env_var(prefix, key);
            ConfigError(format!("`{key}` (or {var}): {why}"))
        };
        self.listen_addr()
            .map_err(|err| bad("server.host", format!("{err}")))?;
        if self.server.body_limit == 0 {
            return Err(bad("server.body_limit", "must be at least 1 byte".into()));
        }
        if self.processor.batch_records == 0 {
            return Err(bad("processor.batch_records", "must be at least 1".into()));
        }
        if self.processor.in_flight < self.processor.batch_records {
            let why = format!(
                "must be at least processor.batch_records ({})",
                self.processor.batch_records
            );
            return Err(bad("processor.in_flight", why));
        }
        let schemes: [(&str, &Option<String>, &[&str]); 3] = [
            (
                "postgres.url",
                &self.postgres.url,
                &["postgres://", "postgresql://"],
            ),
            (
                "redis.url",
                &self.redis.url,
                &["redis://", "rediss://", "unix://"],
            ),
            (
                "nats.url",
                &self.nats.url,
                &["nats://", "tls://", "ws://", "wss://"],
            ),
        ];
        for (key, url, allowed) in schemes {
            // `nats.url` may list a cluster's servers; each must be a NATS URL.
            let urls: Vec<&str> = match url.as_deref() {
                Some(url) if key == "nats.url" => url.split(',').collect(),
                url => url.into_iter().collect(),
            };
            if let Some(url) = urls
                .into_iter()
                .find(|url| !allowed.iter().any(|s| url.starts_with(s)))
            {
                return Err(bad(
                    key,
                    format!("`{url}` must start with {}", allowed.join(" or ")),
                ));
            }
        }
        if self.kafka.session_timeout_ms < 1_000 {
            return Err(bad(
                "kafka.session_timeout_ms",
                "must be at least 1000 (one second)".into(),
            ));
        }
        if let Some((key, why)) = self.limits.invalid() {
            return Err(bad(key, why));
        }
        if let Some(key) = &self.cluster.key
            && let Err(err) = switchboard_ws::BridgeKey::new(&key.0)
        {
            return Err(bad("cluster.key", err.to_string()));
        }
        if let Err(err) = switchboard_core::Group::new(&self.kafka.group) {
            return Err(bad("kafka.group", err.to_string()));
        }
        for broker in self.kafka.brokers.iter().flatten() {
            let port = broker.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(_))) {
                return Err(bad(
                    "kafka.brokers",
                    format!("`{broker}` must be host:port"),
                ));
            }
        }
        Ok(())
    }

    /// The address to listen on.
    pub(crate) fn listen_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        let host = match self.server.host.as_str() {
            "localhost" => "127.0.0.1",
            host => host,
        };
        format!("{host}:{}", self.server.port)
            .parse()
            .or_else(|_| format!("[{host}]:{}", self.server.port).parse())
    }

    /// Whether every backend is in memory (the embedded, single-process mode).
    pub(crate) fn embedded(&self) -> bool {
        self.postgres.url.is_none()
            && self.redis.url.is_none()
            && self.nats.url.is_none()
            && self.kafka.brokers.is_none()
    }
}

/// The variable that sets `key`: `server.body_limit` → `GATEWAY_SERVER_BODY_LIMIT`.
pub(crate) fn env_var(prefix: &str, key: &str) -> String {
    format!("{prefix}{}", key.replace('.', "_").to_uppercase())
}

/// The file [`Config::load`] reads for `service` (it may not exist: then defaults and variables).
pub(crate) fn config_file(service: &str) -> PathBuf {
    let local = PathBuf::from(format!("configs/{service}.yaml"));
    if local.exists() {
        return local;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs"))
        .join(format!("{service}.yaml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::defaults("gateway", 8080)))
            .merge(Yaml::string(yaml));
        for (k, v) in env {
            let key = Config::keys().env_key(&k.trim_start_matches("GATEWAY_").to_lowercase());
            let value: figment::value::Value = v.parse().expect("figment parses any string");
            figment = figment.merge((key, value));
        }
        Config::from_figment(figment, "GATEWAY_")
    }

    #[test]
    fn defaults_are_embedded() {
        let config = load("", &[]).unwrap();
        assert!(config.embedded());
        assert_eq!(config.server.port, 8080);
        assert!(config.postgres.migrate);
    }

    #[test]
    fn yaml_and_overrides() {
        let yaml = "env: prod\nserver:\n  port: 9000\nkafka:\n  brokers: [\"a:9092\", \"b:9092\"]\npostgres:\n  url: \"\"\n";
        let config = load(yaml, &[("GATEWAY_SERVER_PORT", "9090")]).unwrap();
        assert_eq!(config.env, RunEnv::Prod);
        assert_eq!(config.server.port, 9090);
        assert_eq!(
            config.kafka.brokers.as_deref(),
            Some(&["a:9092".to_owned(), "b:9092".to_owned()][..])
        );
        assert!(config.postgres.url.is_none());
        let config = load("", &[("GATEWAY_KAFKA_BROKERS", "127.0.0.1:9092")]).unwrap();
        assert_eq!(config.kafka.brokers.unwrap(), ["127.0.0.1:9092"]);
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = load("server:\n  port: lots\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`server.port`") && err.contains("GATEWAY_SERVER_PORT"),
            "{err}"
        );
        let err = load("", &[("GATEWAY_POSTGRES_URL", "mysql://x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`postgres.url`"), "{err}");
        let err = load("", &[("GATEWAY_LIMITS_SSE_TOTAL", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`limits.sse.total`"), "{err}");
        let err = load("cluster:\n  key: short\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`cluster.key`") && !err.contains("short`"),
            "{err}"
        );
        let err = load("env: staging\n", &[]).unwrap_err().to_string();
        assert!(err.contains("`env`"), "{err}");
        let err = load("kafka:\n  brokers: nohost\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`kafka.brokers`"), "{err}");
        let err = load("", &[("GATEWAY_NATS_URL", "nats://a:4222,http://b:4222")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`nats.url`") && err.contains("http://b"),
            "{err}"
        );
        let err = load("kafka:\n  session_timeout_ms: 10\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`kafka.session_timeout_ms`"), "{err}");
    }

    #[test]
    fn nats_servers_as_a_list_or_a_string() {
        let yaml = "nats:\n  url: [\"nats://a:4222\", \"nats://b:4222\"]\n";
        let config = load(yaml, &[]).unwrap();
        assert_eq!(
            config.nats.url.as_deref(),
            Some("nats://a:4222,nats://b:4222")
        );
        let config = load("", &[("GATEWAY_NATS_URL", "nats://a:4222, nats://b:4222")]).unwrap();
        assert_eq!(
            config.nats.url.as_deref(),
            Some("nats://a:4222,nats://b:4222")
        );
    }

    #[test]
    fn static_membership_and_session_timeout() {
        let config = load("", &[]).unwrap();
        assert_eq!(config.kafka.instance_id, None);
        assert_eq!(config.kafka.session_timeout_ms, 10_000);
        let yaml = "kafka:\n  instance_id: processor-0\n  session_timeout_ms: 6000\n";
        let config = load(yaml, &[]).unwrap();
        assert_eq!(config.kafka.instance_id.as_deref(), Some("processor-0"));
        assert_eq!(config.kafka.session_timeout_ms, 6000);
        assert_eq!(config.kafka.batch_records, None);
        let config = load("kafka:\n  batch_records: 1\n", &[]).unwrap();
        assert_eq!(config.kafka.batch_records, Some(1));
    }

    #[test]
    fn processor_batches_and_their_bounds() {
        let config = load("", &[]).unwrap();
        assert_eq!(config.processor.batch_records, 500);
        let vars = [("GATEWAY_PROCESSOR_BATCH_RECORDS", "1")];
        let config = load("processor:\n  in_flight: 16\n", &vars).unwrap();
        assert_eq!(
            (config.processor.batch_records, config.processor.in_flight),
            (1, 16)
        );
        let err = load("processor:\n  batch_records: 0\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`processor.batch_records`"), "{err}");
        let err = load("processor:\n  in_flight: 100\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("at least processor.batch_records (500)"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = load("server:\n  prot: 9000\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown key `server.prot` (or GATEWAY_SERVER_PROT)")
                && err.contains("server.port"),
            "{err}"
        );
        let err = load("", &[("GATEWAY_REDIS_ADDR", "x:1")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`redis.addr` (or GATEWAY_REDIS_ADDR)"),
            "{err}"
        );
        let config = load("", &[("GATEWAY_SERVER_BODY_LIMIT", "10")]).unwrap();
        assert_eq!(config.server.body_limit, 10);
    }

    #[test]
    fn every_key_has_one_variable() {
        let keys = Config::keys();
        let mut vars: Vec<String> = keys.leaves().iter().map(|k| env_var("", k)).collect();
        vars.sort();
        vars.dedup();
        assert_eq!(vars.len(), keys.leaves().len(), "two keys share a variable");
        assert!(keys.leaves().contains(&"server.body_limit".to_owned()));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature
    fn real_env_variables_are_read() {
        // The real loader reads the process environment through figment's Env provider.
        figment::Jail::expect_with(|jail| {
            jail.set_env("JAILSVC_SERVER_PORT", "9191");
            jail.set_env("JAILSVC_POSTGRES_MIGRATE", "false");
            jail.set_env("JAILSVC_KAFKA_INSTANCE_ID", "processor-1");
            let config = Config::load("jailsvc", 1).map_err(|e| e.to_string())?;
            assert_eq!(config.server.port, 9191);
            assert!(!config.postgres.migrate);
            assert_eq!(config.kafka.instance_id.as_deref(), Some("processor-1"));
            jail.set_env("JAILSVC_SERVER_BODY_LIMIT", "100");
            let config = Config::load("jailsvc", 1).map_err(|e| e.to_string())?;
            assert_eq!(config.server.body_limit, 100, "a key with `_` in its name");
            jail.set_env("JAILSVC_SERVER_PORT", "x");
            let err = Config::load("jailsvc", 1).unwrap_err().to_string();
            assert!(err.contains("JAILSVC_SERVER_PORT"), "{err}");
            jail.set_env("JAILSVC_SERVER_PORT", "9191");
            jail.set_env("JAILSVC_SERVER_PROT", "9191");
            let err = Config::load("jailsvc", 1).unwrap_err().to_string();
            assert!(
                err.contains("unknown key `server.prot` (or JAILSVC_SERVER_PROT)")
                    && err.contains("environment variable"),
                "{err}"
            );
            Ok(())
        });
    }
}
