//! Key/value with TTL, confined to a [`Namespace`].
//!
//! # Semantics
//!
//! - Every handle works inside one namespace; the same [`Key`] in two namespaces names two
//!   different entries, and no key can address an entry of another namespace.
//! - `set` overwrites; with a TTL the entry disappears once it has passed, without one it stays
//!   (and a later `set` without TTL clears an earlier TTL).
//! - Reads never return an expired entry.
//! - A TTL is counted in whole milliseconds, rounded up (a zero TTL lives one millisecond);
//!   one longer than [`MAX_TTL`] is [`InvalidInput::OutOfRange`].

use std::{fmt, future::Future, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{FutureExt, future::BoxFuture};

use crate::{InvalidInput, Key, Namespace, Result};

/// The longest TTL accepted: about 100 years.
pub const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Checks a TTL against [`MAX_TTL`] and rounds it up to whole milliseconds (at least one), as
/// every backend stores it.
pub fn check_ttl(ttl: Duration) -> Result<Duration, InvalidInput> {
    if ttl > MAX_TTL {
        return Err(InvalidInput::OutOfRange {
            what: "ttl in milliseconds",
            min: 1,
            max: MAX_TTL.as_millis() as u64,
            got: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        });
    }
    let millis = ttl.as_nanos().div_ceil(1_000_000).max(1);
    Ok(Duration::from_millis(millis as u64))
}

/// Key/value storage with optional expiry.
pub trait KeyValue: Send + Sync {
    /// The namespace this handle works in.
    fn namespace(&self) -> &Namespace;

    /// The value of `key`, if it exists and has not expired.
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Bytes>>> + Send;

    /// Stores `value` under `key`, expiring after `ttl` if one is given.
    fn set(
        &self,
        key: &Key,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Deletes `key`; `true` if it existed.
    fn del(&self, key: &Key) -> impl Future<Output = Result<bool>> + Send;

    /// The time `key` has left: `None` if it does not exist, `Some(None)` if it never expires.
    fn ttl(&self, key: &Key) -> impl Future<Output = Result<Option<Option<Duration>>>> + Send;
}

trait ErasedKeyValue: Send + Sync {
    fn namespace(&self) -> &Namespace;
    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<Bytes>>>;
    fn set<'a>(
        &'a self,
        key: &'a Key,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>>;
    fn del<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<bool>>;
    fn ttl<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<Option<Duration>>>>;
}

impl<K: KeyValue> ErasedKeyValue for K {
    fn namespace(&self) -> &Namespace {
        KeyValue::namespace(self)
    }
    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<Bytes>>> {
        KeyValue::get(self, key).boxed()
    }
    fn set<'a>(
        &'a self,
        key: &'a Key,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>> {
        KeyValue::set(self, key, value, ttl).boxed()
    }
    fn del<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<bool>> {
        KeyValue::del(self, key).boxed()
    }
    fn ttl<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<Option<Duration>>>> {
        KeyValue::ttl(self, key).boxed()
    }
}

/// A type-erased [`KeyValue`].
#[derive(Clone)]
pub struct DynKeyValue(Arc<dyn ErasedKeyValue>);

impl DynKeyValue {
    /// Erases the type of `kv`.
    pub fn new(kv: impl KeyValue + 'static) -> Self {
        DynKeyValue(Arc::new(kv))
    }
}

impl KeyValue for DynKeyValue {
    fn namespace(&self) -> &Namespace {
        self.0.namespace()
    }
    async fn get(&self, key: &Key) -> Result<Option<Bytes>> {
        self.0.get(key).await
    }
    async fn set(&self, key: &Key, value: Bytes, ttl: Option<Duration>) -> Result<()> {
        self.0.set(key, value, ttl).await
    }
    async fn del(&self, key: &Key) -> Result<bool> {
        self.0.del(key).await
    }
    async fn ttl(&self, key: &Key) -> Result<Option<Option<Duration>>> {
        self.0.ttl(key).await
    }
}

impl fmt::Debug for DynKeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DynKeyValue")
            .field(self.0.namespace())
            .finish()
    }
}
