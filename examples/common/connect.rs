//! Connecting the real backends: each returns the handles `Backends` holds.

use std::{sync::Arc, time::Duration};

use switchboard_core::{
    DynEventStore, DynKeyValue, DynLogConsumer, DynLogProducer, DynPublisher, DynRequester,
    DynResponder, DynSubscriber, Subject, TopicAdmin,
};
use switchboard_flows::EVENTS_TOPIC;

use super::{
    backends::{BackendError, Bus, KvFactory, Log, ProbeFn, PubSub, Store, failed},
    config::KafkaConfig,
};

/// Partitions of `switchboard.events` when the gateway or processor creates it.
const EVENTS_PARTITIONS: u32 = 4;

pub(crate) async fn postgres(url: &str, migrate: bool) -> Result<Store, BackendError> {
    let key = "postgres.url";
    let to_err = |err: switchboard_postgres::PgError| BackendError {
        key,
        source: Box::new(err),
    };
    let pool = switchboard_postgres::PgConfig::new(url)
        .connect()
        .await
        .map_err(to_err)?;
    if migrate {
        let applied = switchboard_postgres::migrate(&pool).await.map_err(to_err)?;
        tracing::info!(applied = applied.len(), "postgres migrations applied");
    } else {
        tracing::info!("postgres.migrate is false: migrations not applied");
    }
    let store = switchboard_postgres::PgEventStore::new(pool);
    Ok(Store {
        store: DynEventStore::new(store.clone()),
        backend: "postgres",
        postgres: Some(store),
    })
}

pub(crate) async fn redis(url: &str) -> Result<(KvFactory, PubSub), BackendError> {
    let key = "redis.url";
    // The Redis panel's channels are for people and plain clients (`redis-cli SUBSCRIBE`): it
    // shows only payloads, so it publishes them bare.
    let config =
        switchboard_redis::RedisConfig::new(url).with_wire_form(switchboard_redis::WireForm::Bare);
    let redis = switchboard_redis::Redis::connect(config)
        .await
        .map_err(failed(key))?;
    let subscriber = redis.subscriber().await.map_err(failed(key))?;
    let kv_client = redis.clone();
    Ok((
        KvFactory::new("redis", move |ns| DynKeyValue::new(kv_client.key_value(ns))),
        PubSub {
            publisher: DynPublisher::new(redis.publisher()),
            subscriber: DynSubscriber::new(subscriber),
            backend: "redis",
        },
    ))
}

pub(crate) async fn nats(url: &str) -> Result<Bus, BackendError> {
    let bus = switchboard_nats::NatsBus::connect(url)
        .await
        .map_err(failed("nats.url"))?;
    Ok(Bus {
        publisher: DynPublisher::new(bus.clone()),
        subscriber: DynSubscriber::new(bus.clone()),
        requester: DynRequester::new(bus.clone()),
        responder: DynResponder::new(bus),
        backend: "nats",
    })
}

pub(crate) async fn kafka(kafka: &KafkaConfig, service: &str) -> Result<Log, BackendError> {
    let key = "kafka.brokers";
    let brokers = kafka.brokers.as_deref().unwrap_or_default().join(",");
    let mut config = switchboard_kafka::KafkaConfig::new(brokers)
        .with_client_id(service)
        .with_session_timeout(Duration::from_millis(kafka.session_timeout_ms));
    if let Some(id) = &kafka.instance_id {
        config = config.with_group_instance_id(id);
    }
    if let Some(records) = kafka.batch_records {
        config = config.with_batch_records(records);
    }
    let admin = switchboard_kafka::KafkaAdmin::new(&config).map_err(failed(key))?;
    let topic = Subject::new(EVENTS_TOPIC).expect("valid topic");
    admin
        .create_topic(&topic, EVENTS_PARTITIONS)
        .await
        .map_err(failed(key))?;
    let producer = switchboard_kafka::KafkaProducer::new(&config).map_err(failed(key))?;
    let admin = Arc::new(admin);
    let probe: ProbeFn = Arc::new(move || {
        let (admin, topic) = (admin.clone(), topic.clone());
        Box::pin(async move { admin.partitions(&topic).await.map(drop) })
    });
    Ok(Log {
        producer: DynLogProducer::new(producer),
        consumer: DynLogConsumer::new(switchboard_kafka::KafkaConsumer::new(&config)),
        backend: "kafka",
        probe: Some(probe),
    })
}
