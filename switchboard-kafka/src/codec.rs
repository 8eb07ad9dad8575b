//! How an [`Envelope`] travels as a Kafka record.
//!
//! | envelope | Kafka record |
//! |---|---|
//! | subject | topic |
//! | key | key (UTF-8); it picks the partition |
//! | payload | value |
//! | headers | headers, one per pair |
//! | id | header [`ID_HEADER`] (a UUID) |
//! | timestamp | record timestamp (milliseconds; finer precision is dropped) |
//!
//! Header names are those of [`switchboard_core::header`], matched in any case on read.

use std::time::{Duration, UNIX_EPOCH};

use rdkafka::{
    Timestamp,
    message::{BorrowedMessage, Header, Headers as _, Message as _, OwnedHeaders},
};
use switchboard_core::{
    Envelope, Topic,
    header::{self, Received},
};
use uuid::Uuid;

/// The record header that carries [`Envelope::id`]. A user header of this name (in any case)
/// is replaced.
pub const ID_HEADER: &str = header::ID;

/// The record headers of `msg`: its own headers plus its id.
pub(crate) fn record_headers(msg: &Envelope) -> OwnedHeaders {
    let mut buffer = Uuid::encode_buffer();
    let id: &str = msg.id().hyphenated().encode_lower(&mut buffer);
    let mut headers = OwnedHeaders::new_with_capacity(msg.headers().len() + 1);
    for (name, value) in msg
        .headers()
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case(ID_HEADER))
    {
        headers = headers.insert(Header {
            key: name,
            value: Some(value),
        });
    }
    headers.insert(Header {
        key: ID_HEADER,
        value: Some(id),
    })
}

/// The record timestamp of `msg`, in milliseconds since the Unix epoch.
pub(crate) fn record_timestamp(msg: &Envelope) -> i64 {
    msg.timestamp()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Rebuilds the envelope of a consumed record of `topic`.
///
/// A record from a producer that did not set [`ID_HEADER`] gets an id derived from its topic,
/// partition and offset, so every redelivery carries the same id. The record's own key and
/// timestamp win over headers of those names.
pub(crate) fn envelope(topic: &Topic, record: &BorrowedMessage<'_>) -> Envelope {
    let pairs = record.headers().into_iter().flat_map(|headers| {
        headers
            .iter()
            .map(|h| (h.key, String::from_utf8_lossy(h.value.unwrap_or_default())))
    });
    let mut received = Received::from_pairs(pairs);
    received.id = received
        .id
        .or_else(|| Some(derived_id(topic, record.partition(), record.offset())));
    if let Some(key) = record.key() {
        received.key = Some(String::from_utf8_lossy(key).into_owned());
    }
    if let Some(millis) = timestamp_millis(record.timestamp()) {
        received.timestamp = Some(UNIX_EPOCH + Duration::from_millis(millis));
    }
    let payload = record.payload().unwrap_or_default().to_vec();
    received.into_envelope(topic.clone(), payload.into())
}

fn timestamp_millis(timestamp: Timestamp) -> Option<u64> {
    timestamp.to_millis().and_then(|ms| u64::try_from(ms).ok())
}

/// A stable version-8 UUID naming one record: FNV-1a of topic and partition, then the offset.
fn derived_id(topic: &Topic, partition: i32, offset: i64) -> Uuid {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in topic.as_str().bytes().chain(partition.to_be_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hash.to_be_bytes());
    bytes[8..].copy_from_slice(&offset.to_be_bytes());
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use rdkafka::message::Headers as _;
    use switchboard_core::Subject;

    use super::*;

    #[test]
    fn headers_carry_the_id_and_replace_a_forged_one() {
        let msg = Envelope::new(Subject::new("a.b").unwrap(), "x")
            .with_header("trace", "t1")
            .with_header("Switchboard-ID", "forged");
        let headers = record_headers(&msg);
        let pairs: Vec<(String, String)> = headers
            .iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8(h.value.unwrap().to_vec()).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            [
                ("trace".to_owned(), "t1".to_owned()),
                (ID_HEADER.to_owned(), msg.id().hyphenated().to_string()),
            ]
        );
    }

    #[test]
    fn timestamp_is_in_milliseconds() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123) + Duration::from_micros(456);
        let msg = Envelope::new(Subject::new("a").unwrap(), "x").with_timestamp(at);
        assert_eq!(record_timestamp(&msg), 1_700_000_000_123);
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let topic = Subject::new("t").unwrap();
        assert_eq!(derived_id(&topic, 0, 7), derived_id(&topic, 0, 7));
        assert_ne!(derived_id(&topic, 0, 7), derived_id(&topic, 1, 7));
        assert_ne!(derived_id(&topic, 0, 7), derived_id(&topic, 0, 8));
        assert_eq!(
            derived_id(&topic, 0, 7).get_version(),
            Some(uuid::Version::Custom)
        );
    }
}
