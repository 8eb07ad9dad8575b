//! Envelope ↔ NATS message: the envelope's id, key and timestamp travel in the headers of
//! the shared vocabulary ([`switchboard_core::header`]), user headers as NATS headers, the
//! payload as the message body.

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use switchboard_core::{
    Envelope, Headers, InvalidInput, Subject,
    header::{self, Received},
};

/// Header carrying [`Envelope::id`].
pub const ID_HEADER: &str = header::ID;
/// Header carrying [`Envelope::key`].
pub const KEY_HEADER: &str = header::KEY;
/// Header carrying [`Envelope::timestamp`], in microseconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = header::TIMESTAMP;
/// JetStream's deduplication header; set to the envelope id on append.
/// The `messaging.system` of NATS spans.
pub(crate) const SYSTEM: &str = "nats";
pub(crate) const MSG_ID_HEADER: &str = "Nats-Msg-Id";

fn header_error(what: &'static str, value: &str, reason: &'static str) -> InvalidInput {
    InvalidInput::InvalidName {
        what,
        value: value.escape_debug().take(120).collect(),
        reason,
    }
}

/// Converts user headers, rejecting what NATS cannot carry and the reserved names.
pub(crate) fn user_headers(headers: &Headers) -> Result<HeaderMap, InvalidInput> {
    let mut map = HeaderMap::new();
    for (name, value) in headers.iter() {
        if name.is_empty() {
            return Err(InvalidInput::Empty {
                what: "header name",
            });
        }
        if header::is_envelope_field(name) {
            return Err(header_error(
                "header name",
                name,
                "reserved for the envelope's id, key and timestamp",
            ));
        }
        let header_name = HeaderName::try_from(name).map_err(|_| {
            header_error(
                "header name",
                name,
                "NATS header names are printable ASCII without spaces or `:`",
            )
        })?;
        let header_value: HeaderValue = value.parse().map_err(|_| {
            header_error(
                "header value",
                value,
                "NATS header values cannot contain `\\r` or `\\n`",
            )
        })?;
        map.insert(header_name, header_value);
    }
    Ok(map)
}

/// The headers of a sent envelope: user headers and key, and with `id_and_timestamp` its id
/// and timestamp. `None` when there is none of them: the message goes as a bare `PUB`.
pub(crate) fn encode_headers(
    msg: &Envelope,
    id_and_timestamp: bool,
) -> Result<Option<HeaderMap>, InvalidInput> {
    if !id_and_timestamp && msg.key().is_none() && msg.headers().is_empty() {
        return Ok(None);
    }
    let mut map = user_headers(msg.headers())?;
    if id_and_timestamp {
        // `encode_lower` rather than `to_string`: the formatting machinery cost more than the
        // rest of the header block.
        let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id: &str = msg.id().hyphenated().encode_lower(&mut id);
        map.insert(HeaderName::from_static(ID_HEADER), HeaderValue::from(id));
        map.insert(
            HeaderName::from_static(TIMESTAMP_HEADER),
            HeaderValue::from(header::format_timestamp(msg.timestamp())),
        );
    }
    if let Some(key) = msg.key() {
        let value: HeaderValue = key.parse().map_err(|_| {
            header_error(
                "key",
                key,
                "a key sent over NATS cannot contain `\\r` or `\\n`",
            )
        })?;
        map.insert(HeaderName::from_static(KEY_HEADER), value);
    }
    Ok(Some(map))
}

/// The header pairs of a received message, without `skip` (in any case); of a repeated name
/// the last value.
fn pairs<'a>(map: &'a HeaderMap, skip: &'a [&str]) -> impl Iterator<Item = (&'a str, &'a str)> {
    map.iter().filter_map(move |(name, values)| {
        let name: &str = name.as_ref();
        if skip.iter().any(|skip| skip.eq_ignore_ascii_case(name)) {
            return None;
        }
        values.last().map(|value| (name, value.as_str()))
    })
}

/// User headers of a received message: everything except the envelope fields and `skip`.
pub(crate) fn decode_headers(map: Option<&HeaderMap>, skip: &[&str]) -> Headers {
    map.map(|map| Received::from_pairs(pairs(map, skip)).headers)
        .unwrap_or_default()
}

/// Rebuilds an envelope. Messages from plain NATS publishers, without the envelope-field
/// headers, get a fresh id and the current time.
pub(crate) fn decode(
    subject: &str,
    map: Option<&HeaderMap>,
    payload: Bytes,
    skip: &[&str],
) -> Result<Envelope, InvalidInput> {
    Ok(decode_for(Subject::new(subject)?, map, payload, skip))
}

/// [`decode`] for a subject already validated.
pub(crate) fn decode_for(
    subject: Subject,
    map: Option<&HeaderMap>,
    payload: Bytes,
    skip: &[&str],
) -> Envelope {
    let received = map.map_or_else(Received::default, |map| {
        Received::from_pairs(pairs(map, skip))
    });
    received.into_envelope(subject, payload)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn round_trip_keeps_id_key_timestamp_and_headers() {
        let sent = Envelope::new(Subject::new("a.b").unwrap(), "x")
            .with_key("customer-7")
            .with_header("trace-id", "abc")
            .with_header("content-type", "application/json");
        let map = encode_headers(&sent, true).unwrap().unwrap();
        let got = decode("a.b", Some(&map), sent.payload().clone(), &[]).unwrap();
        assert_eq!(got.id(), sent.id());
        assert_eq!(got.key(), Some("customer-7"));
        assert_eq!(got.headers(), sent.headers());
        let drift = sent
            .timestamp()
            .duration_since(got.timestamp())
            .unwrap_or_default();
        assert!(drift < Duration::from_micros(1));
    }

    #[test]
    fn by_default_only_the_key_and_headers_are_sent() {
        let subject = Subject::new("a.b").unwrap();
        let plain = Envelope::new(subject.clone(), "x");
        assert!(encode_headers(&plain, false).unwrap().is_none());
        let keyed = plain.with_key("k").with_header("x-n", "7");
        let map = encode_headers(&keyed, false).unwrap().unwrap();
        let names: Vec<&str> = map.iter().map(|(name, _)| name.as_ref()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&KEY_HEADER) && names.contains(&"x-n"));
    }

    #[test]
    fn headers_nats_cannot_carry_are_typed_errors() {
        let subject = Subject::new("a").unwrap();
        for (name, value) in [("bad name", "v"), ("a:b", "v"), ("ok", "two\nlines")] {
            let msg = Envelope::new(subject.clone(), "x").with_header(name, value);
            for id_and_timestamp in [false, true] {
                assert!(matches!(
                    encode_headers(&msg, id_and_timestamp),
                    Err(InvalidInput::InvalidName { .. })
                ));
            }
        }
        for reserved in [ID_HEADER, "Switchboard-Key", "SWITCHBOARD-TIMESTAMP"] {
            let msg = Envelope::new(subject.clone(), "x").with_header(reserved, "mine");
            assert!(encode_headers(&msg, false).is_err(), "{reserved} accepted");
        }
    }

    #[test]
    fn headers_are_read_in_any_case() {
        let sent = Envelope::new(Subject::new("a").unwrap(), "x");
        let mut map = HeaderMap::new();
        map.insert("Switchboard-Id", sent.id().to_string().as_str());
        map.insert("Switchboard-Key", "k");
        map.insert("Content-Type", "text/plain");
        map.insert("nats-msg-id", "dedup");
        let got = decode("a", Some(&map), Bytes::new(), &[MSG_ID_HEADER]).unwrap();
        assert_eq!(got.id(), sent.id());
        assert_eq!(got.key(), Some("k"));
        assert_eq!(got.headers().get(header::CONTENT_TYPE), Some("text/plain"));
        assert_eq!(got.headers().len(), 1, "{:?}", got.headers());
    }

    #[test]
    fn foreign_messages_decode_with_fresh_id() {
        let got = decode("plain.subject", None, Bytes::from_static(b"hi"), &[]).unwrap();
        assert_eq!(got.payload().as_ref(), b"hi");
        assert!(got.headers().is_empty());
        assert!(decode("$JS.API.INFO", None, Bytes::new(), &[]).is_err());
    }
}
