//! Shared test helpers: the live server's address and a client that fails loudly without it.

#![allow(dead_code, unreachable_pub)]

pub mod server;

use async_nats::Client;
use switchboard_nats::NatsConfig;

/// `NATS_URL`, or the local default.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Connects to the live server, failing the test with what to start if it is not there.
pub async fn client() -> Client {
    let url = nats_url();
    match NatsConfig::new(&url).connect().await {
        Ok(client) => client,
        Err(err) => panic!(
            "cannot reach NATS at {url} ({err:?}); start it with `scripts/test` or \
             `nats-server -js`, or set NATS_URL"
        ),
    }
}

/// JetStream settings for tests: in-memory streams under `SBTEST_`, short ack wait.
pub fn test_log_config() -> switchboard_nats::JetStreamConfig {
    switchboard_nats::JetStreamConfig {
        stream_prefix: "SBTEST_".into(),
        storage: switchboard_nats::StorageType::Memory,
        ack_wait: std::time::Duration::from_secs(5),
        max_age: std::time::Duration::from_secs(600),
        ..Default::default()
    }
}

/// Deletes the streams of `topics`; callable from `Drop` inside a multi-threaded test runtime.
pub fn delete_topics(log: &switchboard_nats::JetStreamLog, topics: Vec<switchboard_core::Topic>) {
    if topics.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    tokio::task::block_in_place(|| {
        runtime.block_on(async {
            for topic in topics {
                if let Err(err) = log.delete_topic(&topic).await {
                    eprintln!("could not delete the stream of {topic}: {err}");
                }
            }
        })
    });
}

/// Runs `attempt` up to three times while it fails with a transient error: the shared server
/// can be slow to answer JetStream API requests while other cases flood it.
pub async fn retry_transient<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = switchboard_core::Result<T>>,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        match attempt().await {
            Ok(value) => return value,
            Err(err) if err.is_transient() && attempts < 3 => {
                eprintln!("{what} failed ({err:?}); retrying");
            }
            Err(err) => panic!("{what}: {err:?}"),
        }
    }
}
