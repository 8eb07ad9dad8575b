//! Connect by URL against the live servers (`scripts/services.sh` starts them); a server that
//! is not running fails the test, naming it.
#![cfg(all(feature = "postgres", feature = "redis", feature = "nats"))]

use std::time::Duration;

use futures::StreamExt;
use switchboard::{
    Envelope, Key, KeyValue, Namespace, Pattern, Publisher, Subject, Subscriber,
    connect::{Backends, Capability, ConnectConfig, ConnectError, Server},
};

fn env(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

fn live_urls() -> Vec<String> {
    vec![
        env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        env("REDIS_URL", "redis://127.0.0.1:6379"),
        env("NATS_URL", "nats://127.0.0.1:4222"),
    ]
}

async fn connect(config: &ConnectConfig) -> Backends {
    match Backends::connect(config).await {
        Ok(backends) => backends,
        Err(err) => panic!(
            "the live servers must be running ({:?}): {err}",
            live_urls()
        ),
    }
}

#[tokio::test]
async fn urls_become_live_handles_with_probes() {
    let config = ConnectConfig::from_urls(&live_urls()).unwrap();
    config
        .require(&[
            Capability::PubSub,
            Capability::Request,
            Capability::KeyValue,
            Capability::EventStore,
        ])
        .unwrap();
    let backends = connect(&config).await;
    assert_eq!(
        (
            backends.bus.backend,
            backends.kv.backend,
            backends.store.backend
        ),
        ("nats", "redis", "postgres")
    );
    assert_eq!(
        backends.log.backend, "memory",
        "no Kafka configured: the log stays in memory"
    );
    for server in Server::ALL {
        let probe = backends.probe(server);
        tokio::time::timeout(Duration::from_secs(10), probe.check())
            .await
            .unwrap_or_else(|_| panic!("the {server} probe did not answer"))
            .unwrap_or_else(|err| panic!("the {server} probe failed: {err}"));
    }

    let subject = Subject::new(format!("connect.test.{}", std::process::id())).unwrap();
    let mut sub = backends
        .bus
        .subscriber
        .subscribe(&Pattern::new(subject.as_str()).unwrap())
        .await
        .unwrap();
    backends
        .bus
        .publisher
        .publish(Envelope::new(subject, "hi"))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("the message published over NATS did not arrive");
    assert_eq!(got.unwrap().unwrap().payload().as_ref(), b"hi");

    let kv = backends
        .kv
        .namespace(Namespace::new("connect-test").unwrap());
    let key = Key::new(format!("k{}", std::process::id())).unwrap();
    kv.set(&key, "v".into(), Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(kv.get(&key).await.unwrap().as_deref(), Some(&b"v"[..]));
    kv.del(&key).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_names_its_setting_and_url() {
    let config = ConnectConfig::from_urls(&["nats://nobody:secret@127.0.0.1:1"]).unwrap();
    let Err(err) = Backends::connect(&config).await else {
        panic!("port 1 answered as NATS");
    };
    assert!(
        matches!(
            err,
            ConnectError::Backend {
                key: "nats.url",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "cannot use the backend configured by `nats.url` (nats://nobody:***@127.0.0.1:1)"
    );
}

#[test]
fn bad_urls_and_missing_capabilities_are_typed() {
    assert!(matches!(
        ConnectConfig::from_urls(&["amqp://127.0.0.1"]),
        Err(ConnectError::UnknownScheme { url }) if url == "amqp://127.0.0.1"
    ));
    let config = ConnectConfig::from_urls(&["kafka://a:9092,b:9092"]).unwrap();
    assert_eq!(
        config.kafka.brokers,
        Some(vec!["a:9092".into(), "b:9092".into()])
    );
    match config.require(&[Capability::Log, Capability::EventStore]) {
        Err(ConnectError::Missing { capability, urls }) => {
            assert_eq!(capability, Capability::EventStore);
            assert_eq!(urls, ["a:9092,b:9092"]);
        }
        other => panic!("expected Missing, got {other:?}"),
    }
    assert!(ConnectConfig::default().require(&Capability::ALL).is_ok());
}
