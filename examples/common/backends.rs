//! Picks each flow's transport from the configuration through `switchboard::connect`: a
//! backend whose URL is set is used for real, anything else runs in memory.

use std::time::Duration;

pub(crate) use switchboard::connect::{Backends, MEMORY};
use switchboard::connect::{
    ConnectConfig, ConnectError, KafkaConnect, NatsConnect, PostgresConnect, RedisConnect, Server,
};
use switchboard_flows::EVENTS_TOPIC;

use super::{config::Config, health::Dependency};

/// Partitions of `switchboard.events` when the gateway or processor creates it.
const EVENTS_PARTITIONS: u32 = 4;

/// How long a health probe may take.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The backends a service needs; the others stay in memory even when configured.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Needs {
    pub(crate) postgres: bool,
    pub(crate) redis: bool,
    pub(crate) nats: bool,
    pub(crate) kafka: bool,
}

impl Needs {
    pub(crate) const ALL: Needs = Needs {
        postgres: true,
        redis: true,
        nats: true,
        kafka: true,
    };
}

/// The library's connect settings for what `needs` asks of `config`.
pub(crate) fn connect_config(config: &Config, needs: Needs) -> ConnectConfig {
    let wanted = |need: bool, url: &Option<String>| url.clone().filter(|_| need);
    ConnectConfig {
        postgres: PostgresConnect {
            url: wanted(needs.postgres, &config.postgres.url),
            migrate: config.postgres.migrate,
        },
        redis: RedisConnect {
            url: wanted(needs.redis, &config.redis.url),
            // The Redis panel's channels are for people and plain clients (`redis-cli
            // SUBSCRIBE`): it shows only payloads, so it publishes them bare.
            bare_prefixes: vec![String::new()],
        },
        nats: NatsConnect {
            url: wanted(needs.nats, &config.nats.url),
        },
        kafka: KafkaConnect {
            brokers: config.kafka.brokers.clone().filter(|_| needs.kafka),
            client_id: config.service.clone(),
            instance_id: config.kafka.instance_id.clone(),
            session_timeout_ms: config.kafka.session_timeout_ms,
            batch_records: config.kafka.batch_records,
            partitions: EVENTS_PARTITIONS,
            topics: vec![EVENTS_TOPIC.to_owned()],
        },
    }
}

/// Connects every needed backend whose URL is set; the others stay in memory.
pub(crate) async fn connect(config: &Config, needs: Needs) -> Result<Backends, ConnectError> {
    Backends::connect(&connect_config(config, needs)).await
}

/// What the services ask of their [`Backends`] beyond the library's handles.
pub(crate) trait BackendsExt {
    /// Logs which backend each flow uses.
    fn log_flows(&self, service: &str, flows: &[&str]);
    /// The health check of one dependency (`postgres`, `redis`, `nats`, `kafka`).
    fn dependency(&self, name: &'static str) -> Dependency;
}

impl BackendsExt for Backends {
    fn log_flows(&self, service: &str, flows: &[&str]) {
        for flow in flows {
            let backend = match *flow {
                "postgres" => self.store.backend,
                "redis" => self.kv.backend,
                "redis-pubsub" => self.pubsub.backend,
                "nats" | "firehose" => self.bus.backend,
                "websocket" if self.bus.backend == MEMORY => "in-process hub",
                "websocket" => "hub bridged over nats",
                "kafka" => self.log.backend,
                _ => "in-process",
            };
            tracing::info!(service, flow = *flow, backend, "flow backend");
        }
    }

    fn dependency(&self, name: &'static str) -> Dependency {
        let server = Server::ALL
            .into_iter()
            .find(|server| server.as_str() == name)
            .unwrap_or(Server::Kafka);
        let probe = self.probe(server);
        Dependency::probed(name, probe.backend, move || probe.check())
    }
}
