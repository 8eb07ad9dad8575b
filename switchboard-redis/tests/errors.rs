//! An unreachable server is a typed, transient error.

mod common;

use std::time::Duration;

use switchboard_core::{Error, ErrorKind};
use switchboard_redis::{Redis, RedisConfig};

/// A local port that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

#[tokio::test]
async fn unreachable_server_is_unavailable_and_transient() {
    let config = RedisConfig::new(format!("redis://127.0.0.1:{}", closed_port()))
        .with_reconnect_attempts(0)
        .with_connect_timeout(Duration::from_secs(2));
    let err = Redis::connect(config)
        .await
        .expect_err("nothing listens there");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(err.is_transient());
    assert!(
        std::error::Error::source(&err).is_some(),
        "the client error is kept as the source"
    );
}

#[tokio::test]
async fn bad_url_is_invalid_input() {
    let err = Redis::connect(RedisConfig::new("http://127.0.0.1:6379"))
        .await
        .expect_err("not a redis url");
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("redis url"), "{err}");
}

#[tokio::test]
async fn oversized_payload_is_invalid_input() {
    use switchboard_core::{Envelope, Publisher, Subject};
    let redis = common::connect().await;
    let msg = Envelope::new(
        Subject::new("sbtest.too.big").expect("subject"),
        vec![0u8; redis.config().max_payload + 1],
    );
    let err = redis.publisher().publish(msg).await.expect_err("too large");
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}
