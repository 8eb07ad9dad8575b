//! [`RedisKeyValue`]: [`KeyValue`] on Redis strings, confined to a namespace.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use redis::aio::ConnectionManager;
use switchboard_core::{InvalidInput, Key, KeyValue, Namespace, Result, kv::check_ttl};

use crate::error::from_redis;

/// Key/value with TTL on a Redis server, confined to one [`Namespace`].
///
/// Each key is stored as the Redis string `<prefix>:<namespace>:<key>`. Neither the prefix nor
/// the namespace can hold `:`, so the first two separators always end the prefix and the
/// namespace: a key such as `other:secret`, `*` or `a\nb` (rejected by [`Key`]) can never name
/// an entry of another namespace. Keys are only ever addressed exactly (`GET`, `SET`, `DEL`,
/// `PTTL`), never through `KEYS` or `SCAN` patterns, so glob characters in a key are plain text.
///
/// - `set` with a TTL is one atomic `SET key value PX <ms>` (rounded up to whole milliseconds);
///   `set` without one is a plain `SET`, which clears an earlier TTL.
/// - `ttl` reads `PTTL`: `-2` (missing) is `None`, `-1` (no expiry) is `Some(None)`.
#[derive(Clone)]
pub struct RedisKeyValue {
    conn: ConnectionManager,
    namespace: Namespace,
    prefix: Arc<str>,
}

impl std::fmt::Debug for RedisKeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKeyValue")
            .field("prefix", &self.prefix)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl RedisKeyValue {
    pub(crate) fn new(conn: ConnectionManager, prefix: &str, namespace: Namespace) -> Self {
        RedisKeyValue {
            conn,
            prefix: Arc::from(format!("{prefix}:{namespace}:")),
            namespace,
        }
    }

    /// The Redis key that stores `key`: `<prefix>:<namespace>:<key>`.
    pub fn redis_key(&self, key: &Key) -> String {
        let mut stored = String::with_capacity(self.prefix.len() + key.as_str().len());
        stored.push_str(&self.prefix);
        stored.push_str(key.as_str());
        stored
    }
}

/// A TTL in whole milliseconds, rounded up so an entry never expires before its TTL; bounded
/// by [`switchboard_core::kv::MAX_TTL`] like every backend.
fn ttl_millis(ttl: Duration) -> Result<u64, InvalidInput> {
    Ok(check_ttl(ttl)?.as_millis() as u64)
}

impl KeyValue for RedisKeyValue {
    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    async fn get(&self, key: &Key) -> Result<Option<Bytes>> {
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.redis_key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(from_redis)?;
        Ok(value.map(Bytes::from))
    }

    async fn set(&self, key: &Key, value: Bytes, ttl: Option<Duration>) -> Result<()> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(key)).arg(value.as_ref());
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl_millis(ttl)?);
        }
        cmd.exec_async(&mut self.conn.clone())
            .await
            .map_err(from_redis)
    }

    async fn del(&self, key: &Key) -> Result<bool> {
        let removed: u64 = redis::cmd("DEL")
            .arg(self.redis_key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(from_redis)?;
        Ok(removed > 0)
    }

    async fn ttl(&self, key: &Key) -> Result<Option<Option<Duration>>> {
        let left: i64 = redis::cmd("PTTL")
            .arg(self.redis_key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(from_redis)?;
        Ok(match left {
            -2 => None,
            -1 => Some(None),
            ms => Some(Some(Duration::from_millis(ms.max(0).unsigned_abs()))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_whole_milliseconds() {
        assert_eq!(ttl_millis(Duration::from_millis(1200)).unwrap(), 1200);
        assert_eq!(ttl_millis(Duration::from_micros(1)).unwrap(), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1500)).unwrap(), 2);
        assert_eq!(ttl_millis(Duration::ZERO).unwrap(), 1);
        assert!(matches!(
            ttl_millis(Duration::MAX),
            Err(InvalidInput::OutOfRange { .. })
        ));
    }
}
