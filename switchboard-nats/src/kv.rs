//! [`JetStreamKv`]: key/value on a JetStream KV bucket, one [`Namespace`] per handle.
//!
//! nats-server before 2.11 has no per-key expiry, so a TTL is kept with the value: each value
//! is stored as a version byte, the expiry (Unix milliseconds, 0 for none, big-endian `u64`)
//! and the bytes. Reads never return an expired entry and remove it when they meet it.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_nats::jetstream::{
    self,
    context::CreateStreamErrorKind,
    kv::{self, Store},
    stream::{self, DiscardPolicy},
};
use bytes::{BufMut, Bytes, BytesMut};
use switchboard_core::{Error, InvalidInput, Key, KeyValue, Namespace, Result};

use crate::NatsError;

const FORMAT: u8 = 1;
const HEADER_LEN: usize = 9;

/// A JetStream KV bucket shared by namespaces. Cheap to clone.
#[derive(Clone)]
pub struct JetStreamKv {
    store: Arc<Store>,
    bucket: String,
}

impl std::fmt::Debug for JetStreamKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamKv")
            .field("bucket", &self.bucket)
            .finish()
    }
}

impl JetStreamKv {
    /// Opens `bucket`, creating it (file storage, one revision per key) if it does not exist.
    ///
    /// The bucket's stream is created here rather than by async-nats' `create_key_value`, which
    /// first queries account limits in a shape nats-server 2.9 does not answer.
    pub async fn open(context: &jetstream::Context, bucket: &str) -> Result<Self> {
        let valid = !bucket.is_empty()
            && bucket
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(InvalidInput::InvalidName {
                what: "bucket",
                value: bucket.escape_debug().take(120).collect(),
                reason: "use A-Z, a-z, 0-9, `_` and `-`",
            }
            .into());
        }
        let config = stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: DiscardPolicy::New,
            num_replicas: 1,
            ..Default::default()
        };
        context
            .get_or_create_stream(config)
            .await
            .map_err(|err| match err.kind() {
                CreateStreamErrorKind::JetStreamUnavailable => NatsError::JetStreamDisabled.into(),
                CreateStreamErrorKind::TimedOut => Error::unavailable(err),
                _ => Error::backend(err),
            })?;
        let store = context
            .get_key_value(bucket)
            .await
            .map_err(Error::unavailable)?;
        Ok(JetStreamKv {
            store: Arc::new(store),
            bucket: bucket.to_owned(),
        })
    }

    /// Deletes `bucket` with every namespace in it.
    pub async fn delete_bucket(context: &jetstream::Context, bucket: &str) -> Result<()> {
        context
            .delete_key_value(bucket)
            .await
            .map(drop)
            .map_err(Error::unavailable)
    }

    /// A handle confined to `namespace`.
    pub fn namespace(&self, namespace: Namespace) -> JetStreamKeyValue {
        JetStreamKeyValue {
            kv: self.clone(),
            namespace,
        }
    }
}

/// Key/value inside one namespace of a [`JetStreamKv`] bucket.
#[derive(Clone, Debug)]
pub struct JetStreamKeyValue {
    kv: JetStreamKv,
    namespace: Namespace,
}

/// `<namespace>.<key>`, with every byte outside `A-Z a-z 0-9 _ -` written as `=XX`: the
/// result is a valid KV key, and no key of one namespace spells a key of another.
fn storage_key(namespace: &Namespace, key: &Key) -> String {
    let mut out = String::with_capacity(namespace.as_str().len() + 1 + key.as_str().len());
    out.push_str(namespace.as_str());
    out.push('.');
    for byte in key.as_str().bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("={byte:02X}"));
        }
    }
    out
}

fn now_millis() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

fn encode(value: &Bytes, ttl: Option<Duration>) -> Bytes {
    let expires = ttl.map_or(0, |ttl| {
        now_millis().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
    });
    let mut out = BytesMut::with_capacity(HEADER_LEN + value.len());
    out.put_u8(FORMAT);
    out.put_u64(expires);
    out.extend_from_slice(value);
    out.freeze()
}

/// A stored entry: its value and its expiry (Unix milliseconds), if any.
struct Stored {
    value: Bytes,
    expires: Option<u64>,
    revision: u64,
}

impl Stored {
    fn decode(entry: kv::Entry) -> Result<Stored> {
        let raw = entry.value;
        if raw.len() < HEADER_LEN || raw[0] != FORMAT {
            return Err(Error::backend(format!(
                "kv entry `{}` was not written by switchboard",
                entry.key
            )));
        }
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&raw[1..HEADER_LEN]);
        let expires = u64::from_be_bytes(expiry);
        Ok(Stored {
            value: raw.slice(HEADER_LEN..),
            expires: (expires != 0).then_some(expires),
            revision: entry.revision,
        })
    }

    fn left(&self) -> Option<Duration> {
        self.expires
            .map(|at| Duration::from_millis(at.saturating_sub(now_millis())))
    }

    fn expired(&self) -> bool {
        self.expires.is_some_and(|at| at <= now_millis())
    }
}

impl JetStreamKeyValue {
    /// The live entry of `key`; an expired one is removed (unless rewritten meanwhile).
    async fn live(&self, key: &str) -> Result<Option<Stored>> {
        let entry = self.kv.store.entry(key).await.map_err(Error::unavailable)?;
        let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
            return Ok(None);
        };
        let stored = Stored::decode(entry)?;
        if stored.expired() {
            let _ = self
                .kv
                .store
                .delete_expect_revision(key, Some(stored.revision))
                .await;
            return Ok(None);
        }
        Ok(Some(stored))
    }
}

impl KeyValue for JetStreamKeyValue {
    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    async fn get(&self, key: &Key) -> Result<Option<Bytes>> {
        let key = storage_key(&self.namespace, key);
        Ok(self.live(&key).await?.map(|stored| stored.value))
    }

    async fn set(&self, key: &Key, value: Bytes, ttl: Option<Duration>) -> Result<()> {
        let key = storage_key(&self.namespace, key);
        self.kv
            .store
            .put(&key, encode(&value, ttl))
            .await
            .map(drop)
            .map_err(Error::unavailable)
    }

    async fn del(&self, key: &Key) -> Result<bool> {
        let key = storage_key(&self.namespace, key);
        let Some(stored) = self.live(&key).await? else {
            return Ok(false);
        };
        match self
            .kv
            .store
            .delete_expect_revision(&key, Some(stored.revision))
            .await
        {
            Ok(()) => Ok(true),
            // Rewritten since we read it: it existed, delete whatever is there now.
            Err(_) => self
                .kv
                .store
                .delete(&key)
                .await
                .map(|()| true)
                .map_err(Error::unavailable),
        }
    }

    async fn ttl(&self, key: &Key) -> Result<Option<Option<Duration>>> {
        let key = storage_key(&self.namespace, key);
        Ok(self.live(&key).await?.map(|stored| stored.left()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_keys_are_valid_and_cannot_cross_namespaces() {
        let ns = Namespace::new("one").unwrap();
        let key = |k: &str| storage_key(&ns, &Key::new(k).unwrap());
        assert_eq!(key("plain-key_1"), "one.plain-key_1");
        assert_eq!(key("a:b"), "one.a=3Ab");
        assert_eq!(key("two.x"), "one.two=2Ex");
        assert_eq!(key("é"), "one.=C3=A9");
        assert!(
            key("?[ab]\\ *")
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=.".contains(&b))
        );
    }

    #[test]
    fn values_keep_their_expiry() {
        let raw = encode(&Bytes::from_static(b"v"), Some(Duration::from_secs(60)));
        assert_eq!(raw[0], FORMAT);
        assert_eq!(&raw[HEADER_LEN..], b"v");
        let never = encode(&Bytes::from_static(b"v"), None);
        assert_eq!(&never[1..HEADER_LEN], &[0; 8]);
    }
}
