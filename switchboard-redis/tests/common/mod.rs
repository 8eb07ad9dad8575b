//! Shared helpers: every test reaches the live Redis at `REDIS_URL` or fails saying so.

#![allow(dead_code, unreachable_pub)]

use switchboard_redis::{Redis, RedisConfig};

/// `REDIS_URL`, or the local default.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The test configuration: keys under `sbtest`, quick to give up when Redis is missing.
pub fn config() -> RedisConfig {
    RedisConfig::new(redis_url())
        .with_key_prefix("sbtest")
        .with_reconnect_attempts(2)
}

/// Connects with `config`, failing the test with what to start when Redis is not there.
pub async fn connect_with(config: RedisConfig) -> Redis {
    let url = config.url.clone();
    match Redis::connect(config).await {
        Ok(redis) => redis,
        Err(err) => panic!(
            "cannot reach Redis at {url}: {err} ({:?}); start it with `scripts/test` \
             (or `redis-server`), or point REDIS_URL at a running server",
            std::error::Error::source(&err).map(ToString::to_string)
        ),
    }
}

/// Connects with [`config`].
pub async fn connect() -> Redis {
    connect_with(config()).await
}
