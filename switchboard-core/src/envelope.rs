//! The message that every transport carries.

use std::{collections::BTreeMap, sync::Arc, time::SystemTime};

use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::{
    error::{InvalidInput, Result},
    names::Subject,
};

/// Message headers: ordered string pairs, shared between clones until one is changed.
///
/// No headers hold no heap: the map is allocated by the first insert.
#[derive(Clone, Default)]
pub struct Headers(Option<Arc<BTreeMap<String, String>>>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.as_ref()?.get(name).map(String::as_str)
    }

    /// Sets `name` to `value`, copying the map only if another clone still shares it.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        Arc::make_mut(self.0.get_or_insert_default()).insert(name.into(), value.into());
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let map = self.0.as_mut()?;
        if !map.contains_key(name) {
            return None;
        }
        Arc::make_mut(map).remove(name)
    }

    /// All pairs, ordered by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .flat_map(|map| map.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |map| map.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let map: BTreeMap<String, String> = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Headers((!map.is_empty()).then(|| Arc::new(map)))
    }
}

/// One message: a subject (or topic), an optional partitioning key, headers and a payload.
///
/// Cloning is cheap: the payload is a shared [`Bytes`] and every other field is shared or
/// `Copy`, so a fan-out to many subscribers serializes once and shares the bytes.
///
/// ```
/// use switchboard_core::{Envelope, Subject};
/// let msg = Envelope::new(Subject::new("orders.created")?, "hello")
///     .with_key("customer-7")
///     .with_header("trace", "abc");
/// let copy = msg.clone();
/// assert_eq!(copy.payload().as_ptr(), msg.payload().as_ptr());
/// # Ok::<(), switchboard_core::InvalidInput>(())
/// ```
#[derive(Clone, Debug)]
pub struct Envelope {
    id: Uuid,
    subject: Subject,
    key: Option<Arc<str>>,
    headers: Headers,
    payload: Bytes,
    timestamp: SystemTime,
}

impl Envelope {
    /// A new message with a fresh time-ordered id (UUIDv7) and the current time.
    pub fn new(subject: Subject, payload: impl Into<Bytes>) -> Self {
        Envelope::from_parts(
            Uuid::now_v7(),
            subject,
            None,
            Headers::new(),
            payload.into(),
            SystemTime::now(),
        )
    }

    /// A message from every part of it, as a transport received it.
    pub(crate) fn from_parts(
        id: Uuid,
        subject: Subject,
        key: Option<Arc<str>>,
        headers: Headers,
        payload: Bytes,
        timestamp: SystemTime,
    ) -> Self {
        Envelope {
            id,
            subject,
            key,
            headers,
            payload,
            timestamp,
        }
    }

    /// A message whose payload is `value` serialized as JSON.
    pub fn json<T: Serialize + ?Sized>(subject: Subject, value: &T) -> Result<Self> {
        let payload = serde_json::to_vec(value).map_err(InvalidInput::NotJson)?;
        Ok(Self::new(subject, payload).with_header(CONTENT_TYPE, JSON))
    }

    /// Sets the partitioning key: messages with the same key keep their order on a durable log.
    pub fn with_key(mut self, key: impl Into<Arc<str>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Replaces all headers.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }

    /// Overrides the id (backends use this to restore the id a message was sent with).
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Overrides the timestamp.
    pub fn with_timestamp(mut self, timestamp: SystemTime) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// Moves the message to another subject, keeping everything else.
    pub fn with_subject(mut self, subject: Subject) -> Self {
        self.subject = subject;
        self
    }

    /// The unique id; a retried publish keeps it, so backends can deduplicate on it.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The subject or topic.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    /// The partitioning key, if any.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Mutable headers.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// When the message was created.
    pub fn timestamp(&self) -> SystemTime {
        self.timestamp
    }

    /// Decodes the payload as JSON; a payload that is not JSON is [`InvalidInput::NotJson`].
    pub fn decode_json<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.payload).map_err(InvalidInput::NotJson)?)
    }

    /// Checks the payload against a size limit.
    pub fn check_size(&self, limit: usize) -> Result<(), InvalidInput> {
        let size = self.payload.len();
        if size > limit {
            Err(InvalidInput::PayloadTooLarge { size, limit })
        } else {
            Ok(())
        }
    }
}

pub use crate::header::CONTENT_TYPE;
/// The JSON media type.
pub const JSON: &str = "application/json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_payload_and_headers() {
        let msg =
            Envelope::new(Subject::new("a.b").unwrap(), vec![1u8; 1024]).with_header("h", "v");
        let mut copy = msg.clone();
        assert_eq!(copy.payload().as_ptr(), msg.payload().as_ptr());
        copy.headers_mut().insert("h", "changed");
        assert_eq!(msg.headers().get("h"), Some("v"));
        assert_eq!(copy.headers().get("h"), Some("changed"));
    }

    #[test]
    fn no_headers_equal_emptied_headers() {
        let mut emptied = Headers::new();
        emptied.insert("h", "v");
        assert_eq!(emptied.remove("h").as_deref(), Some("v"));
        assert_eq!(emptied, Headers::new());
        assert!(emptied.is_empty());
        assert_eq!(Headers::new().get("h"), None);
        let none: Headers = std::iter::empty::<(String, String)>().collect();
        assert_eq!(none.iter().count(), 0);
    }

    #[test]
    fn json_round_trip_and_typed_error() {
        let msg = Envelope::json(Subject::new("a").unwrap(), &serde_json::json!({"n": 1})).unwrap();
        let v: serde_json::Value = msg.decode_json().unwrap();
        assert_eq!(v["n"], 1);
        let bad = Envelope::new(Subject::new("a").unwrap(), "not json");
        let err = bad.decode_json::<serde_json::Value>().unwrap_err();
        assert!(matches!(
            err,
            crate::Error::InvalidInput(InvalidInput::NotJson(_))
        ));
    }

    #[test]
    fn size_limit() {
        let msg = Envelope::new(Subject::new("a").unwrap(), vec![0u8; 11]);
        assert!(msg.check_size(11).is_ok());
        assert!(matches!(
            msg.check_size(10),
            Err(InvalidInput::PayloadTooLarge {
                size: 11,
                limit: 10
            })
        ));
    }
}
