//! Connecting each configured server; a server whose feature is off is
//! [`ConnectError::FeatureOff`].

use super::{Backends, ConnectConfig, ConnectError, config::mask};

#[cfg(any(
    feature = "postgres",
    feature = "redis",
    feature = "nats",
    feature = "kafka"
))]
fn failed<E: std::error::Error + Send + Sync + 'static>(
    key: &'static str,
    url: &str,
) -> impl Fn(E) -> ConnectError + use<E> {
    let url = mask(url);
    move |err| ConnectError::Backend {
        key,
        url: url.clone(),
        source: Box::new(err),
    }
}

#[cfg(not(all(
    feature = "postgres",
    feature = "redis",
    feature = "nats",
    feature = "kafka"
)))]
fn feature_off(url: &str, feature: &'static str) -> ConnectError {
    ConnectError::FeatureOff {
        url: mask(url),
        feature,
    }
}

impl Backends {
    /// Connects every server `config` names; each capability no server provides stays in
    /// memory (check [`ConnectConfig::require`] first to refuse that).
    pub async fn connect(config: &ConnectConfig) -> Result<Backends, ConnectError> {
        let mut backends = Backends::embedded();
        if let Some(url) = &config.postgres.url {
            backends.store = postgres(url, config.postgres.migrate).await?;
        }
        if let Some(url) = &config.redis.url {
            (backends.kv, backends.pubsub) = redis(url, &config.redis.bare_prefixes).await?;
        }
        if let Some(url) = &config.nats.url {
            backends.bus = nats(url).await?;
        }
        if let Some(brokers) = &config.kafka.brokers {
            backends.log = kafka(&brokers.join(","), &config.kafka).await?;
        }
        Ok(backends)
    }
}

#[cfg(feature = "postgres")]
async fn postgres(url: &str, migrate: bool) -> Result<super::Store, ConnectError> {
    use switchboard_core::DynEventStore;
    let to_err = failed::<switchboard_postgres::PgError>("postgres.url", url);
    let pool = switchboard_postgres::PgConfig::new(url)
        .connect()
        .await
        .map_err(&to_err)?;
    if migrate {
        let applied = switchboard_postgres::migrate(&pool)
            .await
            .map_err(&to_err)?;
        tracing::info!(applied = applied.len(), "postgres migrations applied");
    } else {
        tracing::info!("postgres migrations not applied (migrate is false)");
    }
    let store = switchboard_postgres::PgEventStore::new(pool);
    Ok(super::Store {
        store: DynEventStore::new(store.clone()),
        backend: "postgres",
        postgres: Some(store),
    })
}

#[cfg(not(feature = "postgres"))]
async fn postgres(url: &str, _migrate: bool) -> Result<super::Store, ConnectError> {
    Err(feature_off(url, "postgres"))
}

#[cfg(feature = "redis")]
async fn redis(
    url: &str,
    bare_prefixes: &[String],
) -> Result<(super::KvFactory, super::PubSub), ConnectError> {
    use switchboard_core::{DynKeyValue, DynPublisher, DynSubscriber};
    use switchboard_redis::{Redis, RedisConfig, WireForm};
    let key = "redis.url";
    let mut config = RedisConfig::new(url);
    for prefix in bare_prefixes {
        config = match prefix.as_str() {
            "" => config.with_wire_form(WireForm::Bare),
            prefix => config.with_wire_form_for(prefix, WireForm::Bare),
        };
    }
    let redis = Redis::connect(config).await.map_err(failed(key, url))?;
    let subscriber = redis.subscriber().await.map_err(failed(key, url))?;
    let kv = redis.clone();
    Ok((
        super::KvFactory::new("redis", move |ns| DynKeyValue::new(kv.key_value(ns))),
        super::PubSub {
            publisher: DynPublisher::new(redis.publisher()),
            subscriber: DynSubscriber::new(subscriber),
            backend: "redis",
        },
    ))
}

#[cfg(not(feature = "redis"))]
async fn redis(
    url: &str,
    _bare_prefixes: &[String],
) -> Result<(super::KvFactory, super::PubSub), ConnectError> {
    Err(feature_off(url, "redis"))
}

#[cfg(feature = "nats")]
async fn nats(url: &str) -> Result<super::Bus, ConnectError> {
    use switchboard_core::{DynPublisher, DynRequester, DynResponder, DynSubscriber};
    let bus = switchboard_nats::NatsBus::connect(url)
        .await
        .map_err(failed("nats.url", url))?;
    Ok(super::Bus {
        publisher: DynPublisher::new(bus.clone()),
        subscriber: DynSubscriber::new(bus.clone()),
        requester: DynRequester::new(bus.clone()),
        responder: DynResponder::new(bus),
        backend: "nats",
    })
}

#[cfg(not(feature = "nats"))]
async fn nats(url: &str) -> Result<super::Bus, ConnectError> {
    Err(feature_off(url, "nats"))
}

#[cfg(feature = "kafka")]
async fn kafka(brokers: &str, kafka: &super::KafkaConnect) -> Result<super::Log, ConnectError> {
    use std::{sync::Arc, time::Duration};

    use switchboard_core::{DynLogConsumer, DynLogProducer, Topic, TopicAdmin};
    let fail = failed::<switchboard_core::Error>("kafka.brokers", brokers);
    let mut config = switchboard_kafka::KafkaConfig::new(brokers)
        .with_client_id(&kafka.client_id)
        .with_session_timeout(Duration::from_millis(kafka.session_timeout_ms));
    if let Some(id) = &kafka.instance_id {
        config = config.with_group_instance_id(id);
    }
    if let Some(records) = kafka.batch_records {
        config = config.with_batch_records(records);
    }
    let admin = switchboard_kafka::KafkaAdmin::new(&config).map_err(&fail)?;
    let mut topics = Vec::with_capacity(kafka.topics.len());
    for topic in &kafka.topics {
        let topic = Topic::new(topic.as_str()).map_err(|err| fail(err.into()))?;
        admin
            .create_topic(&topic, kafka.partitions)
            .await
            .map_err(&fail)?;
        topics.push(topic);
    }
    let producer = switchboard_kafka::KafkaProducer::new(&config).map_err(&fail)?;
    let admin = Arc::new(admin);
    // The metadata of the first topic (or, with none configured, of the cluster) is the cheapest
    // round trip.
    let probe_topic = topics.into_iter().next();
    let probe: super::probe::ProbeFn = Arc::new(move || {
        let (admin, topic) = (admin.clone(), probe_topic.clone());
        Box::pin(async move {
            match topic {
                Some(topic) => admin.partitions(&topic).await.map(drop),
                None => admin.topics().await.map(drop),
            }
        })
    });
    Ok(super::Log {
        producer: DynLogProducer::new(producer),
        consumer: DynLogConsumer::new(switchboard_kafka::KafkaConsumer::new(&config)),
        backend: "kafka",
        probe: Some(probe),
    })
}

#[cfg(not(feature = "kafka"))]
async fn kafka(brokers: &str, _kafka: &super::KafkaConnect) -> Result<super::Log, ConnectError> {
    Err(feature_off(brokers, "kafka"))
}
