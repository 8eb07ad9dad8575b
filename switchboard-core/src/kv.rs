//! Key/value with TTL, confined to a [`Namespace`].
//!
//! # Semantics
//!
//! - Every handle works inside one namespace; the same [`Key`] in two namespaces names two
//!   different entries, and no key can address an entry of another namespace.
//! - `set` overwrites; with a TTL the entry disappears once it has passed, without one it stays
//!   (and a later `set` without TTL clears an earlier TTL).
//! - Reads never return an expired entry.

use std::{fmt, future::Future, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{FutureExt, future::BoxFuture};

use crate::{Key, Namespace, Result};

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
