//! [`BridgeKey`]: the cluster key that authenticates bridge messages, and the seal every bridge
//! message carries.
//!
//! A sealed payload is a 32-byte HMAC-SHA256 tag followed by the message. The tag covers the
//! subject and the message, so a message cannot be forged, altered or moved to another subject
//! without the key.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::WsError;

type HmacSha256 = Hmac<Sha256>;

/// Length of the tag in front of every sealed payload.
const TAG_BYTES: usize = 32;

/// The shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// The secret every node of a cluster shares; bridge messages not sealed under it are dropped
/// and counted ([`crate::HubStats::bridge_rejected`]).
///
/// ```
/// use switchboard_ws::BridgeKey;
/// assert!(BridgeKey::new(b"a shared secret of enough bytes").is_ok());
/// assert!(BridgeKey::new(b"short").is_err());
/// let _random = BridgeKey::random(); // a single node, or a test
/// ```
#[derive(Clone)]
pub struct BridgeKey(HmacSha256);

impl BridgeKey {
    /// A key from shared secret bytes of at least [`MIN_KEY_BYTES`].
    pub fn new(secret: impl AsRef<[u8]>) -> Result<BridgeKey, WsError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_KEY_BYTES {
            return Err(WsError::WeakKey {
                len: secret.len(),
                min: MIN_KEY_BYTES,
            });
        }
        let mac = HmacSha256::new_from_slice(secret).map_err(|_| WsError::WeakKey {
            len: secret.len(),
            min: MIN_KEY_BYTES,
        })?;
        Ok(BridgeKey(mac))
    }

    /// A key of 32 random bytes, for a node that bridges with nobody sharing a secret.
    pub fn random() -> BridgeKey {
        let mut secret = [0u8; 32];
        secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        BridgeKey::new(secret).expect("32 bytes is long enough")
    }

    fn tag(&self, subject: &str, message: &[u8]) -> HmacSha256 {
        let mut mac = self.0.clone();
        mac.update(subject.as_bytes());
        mac.update(&[0]);
        mac.update(message);
        mac
    }

    /// The tag followed by `message`.
    pub(crate) fn seal(&self, subject: &str, message: &[u8]) -> Vec<u8> {
        let tag = self.tag(subject, message).finalize().into_bytes();
        let mut sealed = Vec::with_capacity(TAG_BYTES + message.len());
        sealed.extend_from_slice(&tag);
        sealed.extend_from_slice(message);
        sealed
    }

    /// The message of a payload sealed under this key for `subject`, if the tag verifies
    /// (compared in constant time).
    pub(crate) fn open<'a>(&self, subject: &str, sealed: &'a [u8]) -> Option<&'a [u8]> {
        if sealed.len() < TAG_BYTES {
            return None;
        }
        let (tag, message) = sealed.split_at(TAG_BYTES);
        self.tag(subject, message).verify_slice(tag).ok()?;
        Some(message)
    }
}

impl fmt::Debug for BridgeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BridgeKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_messages_open_only_under_the_same_key_and_subject() {
        let key = BridgeKey::new("0123456789abcdef").unwrap();
        let sealed = key.seal("chat.chat", b"{}");
        assert_eq!(key.open("chat.chat", &sealed), Some(&b"{}"[..]));
        assert_eq!(key.open("chat.presence", &sealed), None);
        assert_eq!(BridgeKey::random().open("chat.chat", &sealed), None);
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open("chat.chat", &altered), None);
        assert_eq!(key.open("chat.chat", b"{}"), None);
        assert_eq!(format!("{key:?}"), "BridgeKey(<redacted>)");
    }
}
