//! [`MemKv`]: key/value with TTL in process.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use bytes::Bytes;
use tokio::time::Instant;

use crate::{Error, Key, KeyValue, Namespace, Result, kv::check_ttl};

struct Entry {
    value: Bytes,
    expires_at: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

struct Shared {
    entries: Mutex<HashMap<(Namespace, Key), Entry>>,
    capacity: usize,
}

/// An in-process key/value store shared by all its namespaces, bounded to `capacity` entries.
///
/// ```
/// use std::time::Duration;
/// use switchboard_core::{mem::MemKv, Key, KeyValue, Namespace};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> switchboard_core::Result<()> {
/// let kv = MemKv::new().namespace(Namespace::new("cache")?);
/// let key = Key::new("greeting")?;
/// kv.set(&key, "hello".into(), Some(Duration::from_secs(60))).await?;
/// assert_eq!(kv.get(&key).await?.as_deref(), Some(&b"hello"[..]));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemKv {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MemKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemKv")
            .field("capacity", &self.shared.capacity)
            .finish_non_exhaustive()
    }
}

impl Default for MemKv {
    fn default() -> Self {
        Self::with_capacity(100_000)
    }
}

impl MemKv {
    /// A store with room for 100,000 entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        MemKv {
            shared: Arc::new(Shared {
                entries: Mutex::default(),
                capacity,
            }),
        }
    }

    /// A handle confined to `namespace`.
    pub fn namespace(&self, namespace: Namespace) -> MemKeyValue {
        MemKeyValue {
            shared: self.shared.clone(),
            namespace,
        }
    }
}

/// A [`MemKv`] handle confined to one namespace.
#[derive(Clone)]
pub struct MemKeyValue {
    shared: Arc<Shared>,
    namespace: Namespace,
}

impl std::fmt::Debug for MemKeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MemKeyValue").field(&self.namespace).finish()
    }
}

impl MemKeyValue {
    fn entries(&self) -> MutexGuard<'_, HashMap<(Namespace, Key), Entry>> {
        self.shared
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn full_key(&self, key: &Key) -> (Namespace, Key) {
        (self.namespace.clone(), key.clone())
    }
}

impl KeyValue for MemKeyValue {
    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    async fn get(&self, key: &Key) -> Result<Option<Bytes>> {
        let now = Instant::now();
        Ok(self
            .entries()
            .get(&self.full_key(key))
            .filter(|e| e.live(now))
            .map(|e| e.value.clone()))
    }

    async fn set(&self, key: &Key, value: Bytes, ttl: Option<Duration>) -> Result<()> {
        let ttl = ttl.map(check_ttl).transpose()?;
        let now = Instant::now();
        let capacity = self.shared.capacity;
        let mut entries = self.entries();
        let full_key = self.full_key(key);
        if !entries.contains_key(&full_key) && entries.len() >= capacity {
            entries.retain(|_, e| e.live(now));
            if entries.len() >= capacity {
                return Err(Error::CapacityExceeded {
                    what: "in-memory key/value store",
                    capacity,
                });
            }
        }
        entries.insert(
            full_key,
            Entry {
                value,
                expires_at: ttl.map(|ttl| now + ttl),
            },
        );
        Ok(())
    }

    async fn del(&self, key: &Key) -> Result<bool> {
        let now = Instant::now();
        Ok(self
            .entries()
            .remove(&self.full_key(key))
            .is_some_and(|e| e.live(now)))
    }

    async fn ttl(&self, key: &Key) -> Result<Option<Option<Duration>>> {
        let now = Instant::now();
        Ok(self
            .entries()
            .get(&self.full_key(key))
            .filter(|e| e.live(now))
            .map(|e| e.expires_at.map(|at| at.saturating_duration_since(now))))
    }
}
