//! One header vocabulary for every transport.
//!
//! Where a transport has headers (NATS, Kafka, the fields of a Redis Streams entry), the
//! envelope's metadata travels under these names, so a plain client reads the same names
//! whichever transport it is on. Names are written lowercase and matched case-insensitively on
//! read: a plain NATS publisher's `Content-Type` or `Switchboard-Id` is understood.
//!
//! | name | carries | value |
//! |---|---|---|
//! | [`ID`] | [`Envelope::id`] | hyphenated UUID |
//! | [`KEY`] | [`Envelope::key`] (where the transport has no key of its own) | the key |
//! | [`TIMESTAMP`] | [`Envelope::timestamp`] (where the transport has no timestamp of its own) | microseconds since the Unix epoch |
//! | [`CONTENT_TYPE`] | the payload's media type | such as `application/json` |
//! | [`TRACEPARENT`], [`TRACESTATE`] | W3C trace context | as the W3C specification writes them |
//!
//! Core NATS sends [`ID`] and [`TIMESTAMP`] only when configured to
//! ([`BusCapabilities`](crate::BusCapabilities)); a message without them gets a fresh id and
//! the time it arrived, as [`Received::into_envelope`] does for any message.
//!
//! ```
//! use bytes::Bytes;
//! use switchboard_core::{Subject, header::{self, Received}};
//! // What a plain NATS client sent: its own spelling, no id.
//! let got = Received::from_pairs([("Content-Type", "text/plain"), ("X-Tenant", "7")])
//!     .into_envelope(Subject::new("orders.created")?, Bytes::from_static(b"hi"));
//! assert_eq!(got.headers().get(header::CONTENT_TYPE), Some("text/plain"));
//! assert_eq!(got.headers().get("X-Tenant"), Some("7"));
//! # Ok::<(), switchboard_core::InvalidInput>(())
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use uuid::Uuid;

use crate::{Envelope, Headers, Subject};

/// The envelope's id.
pub const ID: &str = "switchboard-id";
/// The envelope's partitioning key.
pub const KEY: &str = "switchboard-key";
/// The envelope's timestamp, in microseconds since the Unix epoch.
pub const TIMESTAMP: &str = "switchboard-timestamp";
/// The payload's media type.
pub const CONTENT_TYPE: &str = "content-type";
/// W3C trace context: the parent span.
pub const TRACEPARENT: &str = "traceparent";
/// W3C trace context: vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

/// The names that carry envelope fields rather than user headers; a transport that carries
/// them as headers refuses or replaces a user header of these names.
pub const ENVELOPE_FIELDS: [&str; 3] = [ID, KEY, TIMESTAMP];

const VOCABULARY: [&str; 6] = [ID, KEY, TIMESTAMP, CONTENT_TYPE, TRACEPARENT, TRACESTATE];

/// The vocabulary's spelling of `name` if it is one of its names in any case, else `name`.
pub fn canonical(name: &str) -> &str {
    VOCABULARY
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .unwrap_or(name)
}

/// Whether `name` is one of [`ENVELOPE_FIELDS`], in any case.
pub fn is_envelope_field(name: &str) -> bool {
    ENVELOPE_FIELDS
        .into_iter()
        .any(|field| field.eq_ignore_ascii_case(name))
}

/// `timestamp` as the value of [`TIMESTAMP`].
pub fn format_timestamp(timestamp: SystemTime) -> String {
    timestamp
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros()
        .to_string()
}

/// The time in a [`TIMESTAMP`] value, if it is one.
pub fn parse_timestamp(value: &str) -> Option<SystemTime> {
    let micros = value.trim().parse::<u64>().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_micros(micros))
}

/// The envelope fields and user headers found in a received message's headers.
///
/// Values of [`ENVELOPE_FIELDS`] that cannot be parsed are dropped, so a foreign message with
/// a malformed id still arrives, with a fresh one.
#[derive(Clone, Debug, Default)]
pub struct Received {
    /// The value of [`ID`], if it is a UUID.
    pub id: Option<Uuid>,
    /// The value of [`KEY`].
    pub key: Option<String>,
    /// The value of [`TIMESTAMP`], if it is one.
    pub timestamp: Option<SystemTime>,
    /// Everything else, with vocabulary names in their canonical spelling.
    pub headers: Headers,
}

impl Received {
    /// Sorts `pairs` into envelope fields and user headers; of repeated names the last wins.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut received = Received::default();
        let mut headers = Vec::new();
        for (name, value) in pairs {
            let (name, value) = (canonical(name.as_ref()), value.as_ref());
            match name {
                ID => received.id = Uuid::parse_str(value).ok(),
                KEY => received.key = Some(value.to_owned()),
                TIMESTAMP => received.timestamp = parse_timestamp(value),
                _ => headers.push((name.to_owned(), value.to_owned())),
            }
        }
        received.headers = headers.into_iter().collect();
        received
    }

    /// The envelope: fields that were missing get a fresh id, no key and the current time.
    pub fn into_envelope(self, subject: Subject, payload: Bytes) -> Envelope {
        let (id, timestamp) = match (self.id, self.timestamp) {
            (Some(id), Some(timestamp)) => (id, timestamp),
            (id, timestamp) => {
                let now = SystemTime::now();
                (id.unwrap_or_else(|| id_at(now)), timestamp.unwrap_or(now))
            }
        };
        Envelope::from_parts(
            id,
            subject,
            self.key.map(Into::into),
            self.headers,
            payload,
            timestamp,
        )
    }
}

/// A fresh UUIDv7 for a message received at `at`, from the clock read the timestamp took.
///
/// Not `Uuid::now_v7`: that reads the clock again and orders ids within a millisecond through a
/// counter shared by all threads, which together cost more than the rest of decoding a message
/// without headers. Received ids stay ordered by millisecond.
fn id_at(at: SystemTime) -> Uuid {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        since.as_secs(),
        since.subsec_nanos(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_in_any_case() {
        assert_eq!(canonical("Switchboard-Id"), ID);
        assert_eq!(canonical("CONTENT-TYPE"), CONTENT_TYPE);
        assert_eq!(canonical("TraceParent"), TRACEPARENT);
        assert_eq!(canonical("X-Other"), "X-Other");
        assert!(is_envelope_field("SWITCHBOARD-KEY"));
        assert!(!is_envelope_field(CONTENT_TYPE));
    }

    #[test]
    fn pairs_become_envelope_fields_and_headers() {
        let id = Uuid::now_v7();
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let received = Received::from_pairs([
            ("Switchboard-Id", id.to_string()),
            ("switchboard-KEY", "k1".to_owned()),
            ("Switchboard-Timestamp", format_timestamp(at)),
            ("Content-Type", "application/json".to_owned()),
            ("x-n", "7".to_owned()),
        ]);
        let msg = received.into_envelope(Subject::new("a").unwrap(), Bytes::from_static(b"p"));
        assert_eq!(msg.id(), id);
        assert_eq!(msg.key(), Some("k1"));
        assert_eq!(msg.timestamp(), at);
        let headers: Vec<_> = msg.headers().iter().collect();
        assert_eq!(headers, [(CONTENT_TYPE, "application/json"), ("x-n", "7")]);
    }

    #[test]
    fn malformed_fields_are_dropped_and_replaced() {
        let before = SystemTime::now();
        let msg = Received::from_pairs([(ID, "not-a-uuid"), (TIMESTAMP, "yesterday")])
            .into_envelope(Subject::new("a").unwrap(), Bytes::new());
        assert!(!msg.id().is_nil());
        assert!(msg.timestamp() >= before);
        assert!(msg.headers().is_empty());
    }

    #[test]
    fn a_fresh_id_is_a_v7_of_the_arrival_time() {
        let subject = Subject::new("a").unwrap();
        let msg = Received::default().into_envelope(subject.clone(), Bytes::new());
        assert_eq!(msg.id().get_version_num(), 7);
        let (secs, nanos) = msg.id().get_timestamp().unwrap().to_unix();
        let at = msg.timestamp().duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(
            (secs, nanos / 1_000_000),
            (at.as_secs(), at.subsec_millis())
        );
        let other = Received::default().into_envelope(subject, Bytes::new());
        assert_ne!(other.id(), msg.id());
    }
}
