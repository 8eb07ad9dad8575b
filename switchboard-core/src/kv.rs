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

use std::{future::Future, time::Duration};

use bytes::Bytes;

use crate::{InvalidInput, Key, Namespace, Result, erased::dyn_twin};

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

dyn_twin! {
    /// A type-erased [`KeyValue`].
    pub struct DynKeyValue: KeyValue via ErasedKeyValue {
        sync fn namespace(&self) -> &Namespace;
        fn get<'k>(&self, key: &'k Key) -> Result<Option<Bytes>>;
        fn set<'k>(&self, key: &'k Key, value: Bytes, ttl: Option<Duration>) -> Result<()>;
        fn del<'k>(&self, key: &'k Key) -> Result<bool>;
        fn ttl<'k>(&self, key: &'k Key) -> Result<Option<Option<Duration>>>;
    }
}
