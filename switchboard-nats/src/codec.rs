//! Envelope ↔ NATS message: the envelope's id, key and timestamp travel in reserved headers,
//! user headers as NATS headers, the payload as the message body.

use std::time::{Duration, UNIX_EPOCH};

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use switchboard_core::{Envelope, Headers, InvalidInput, Subject};
use uuid::Uuid;

/// Header carrying [`Envelope::id`].
pub const ID_HEADER: &str = "Switchboard-Id";
/// Header carrying [`Envelope::key`].
pub const KEY_HEADER: &str = "Switchboard-Key";
/// Header carrying [`Envelope::timestamp`], in microseconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "Switchboard-Timestamp";
/// JetStream's deduplication header; set to the envelope id on append.
pub(crate) const MSG_ID_HEADER: &str = "Nats-Msg-Id";

const RESERVED: [&str; 3] = [ID_HEADER, KEY_HEADER, TIMESTAMP_HEADER];

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
        if RESERVED.contains(&name) {
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

/// The headers of a published envelope: user headers plus id, key and timestamp.
pub(crate) fn encode_headers(msg: &Envelope) -> Result<HeaderMap, InvalidInput> {
    let mut map = user_headers(msg.headers())?;
    map.insert(ID_HEADER, msg.id().to_string().as_str());
    if let Some(key) = msg.key() {
        let value: HeaderValue = key.parse().map_err(|_| {
            header_error(
                "key",
                key,
                "a key sent over NATS cannot contain `\\r` or `\\n`",
            )
        })?;
        map.insert(KEY_HEADER, value);
    }
    let micros = msg
        .timestamp()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    map.insert(TIMESTAMP_HEADER, micros.to_string().as_str());
    Ok(map)
}

fn last<'a>(map: &'a HeaderMap, name: &str) -> Option<&'a str> {
    map.get_last(name).map(HeaderValue::as_str)
}

/// User headers of a received message: everything except the reserved names and `skip`.
pub(crate) fn decode_headers(map: Option<&HeaderMap>, skip: &[&str]) -> Headers {
    let Some(map) = map else {
        return Headers::new();
    };
    map.iter()
        .filter_map(|(name, values)| {
            let name: &str = name.as_ref();
            if RESERVED.contains(&name) || skip.contains(&name) {
                return None;
            }
            values
                .last()
                .map(|value| (name.to_owned(), value.as_str().to_owned()))
        })
        .collect()
}

/// Rebuilds an envelope. Messages from plain NATS publishers, without the reserved headers,
/// get a fresh id and the current time.
pub(crate) fn decode(
    subject: &str,
    map: Option<&HeaderMap>,
    payload: Bytes,
    skip: &[&str],
) -> Result<Envelope, InvalidInput> {
    let subject = Subject::new(subject)?;
    let mut msg = Envelope::new(subject, payload).with_headers(decode_headers(map, skip));
    if let Some(map) = map {
        if let Some(id) = last(map, ID_HEADER).and_then(|id| Uuid::parse_str(id).ok()) {
            msg = msg.with_id(id);
        }
        if let Some(key) = last(map, KEY_HEADER) {
            msg = msg.with_key(key);
        }
        if let Some(micros) = last(map, TIMESTAMP_HEADER).and_then(|t| t.parse::<u64>().ok()) {
            msg = msg.with_timestamp(UNIX_EPOCH + Duration::from_micros(micros));
        }
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_id_key_timestamp_and_headers() {
        let sent = Envelope::new(Subject::new("a.b").unwrap(), "x")
            .with_key("customer-7")
            .with_header("trace-id", "abc")
            .with_header("content-type", "application/json");
        let map = encode_headers(&sent).unwrap();
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
    fn headers_nats_cannot_carry_are_typed_errors() {
        let subject = Subject::new("a").unwrap();
        for (name, value) in [("bad name", "v"), ("a:b", "v"), ("ok", "two\nlines")] {
            let msg = Envelope::new(subject.clone(), "x").with_header(name, value);
            assert!(matches!(
                encode_headers(&msg),
                Err(InvalidInput::InvalidName { .. })
            ));
        }
        let reserved = Envelope::new(subject, "x").with_header(ID_HEADER, "mine");
        assert!(encode_headers(&reserved).is_err());
    }

    #[test]
    fn foreign_messages_decode_with_fresh_id() {
        let got = decode("plain.subject", None, Bytes::from_static(b"hi"), &[]).unwrap();
        assert_eq!(got.payload().as_ref(), b"hi");
        assert!(got.headers().is_empty());
        assert!(decode("$JS.API.INFO", None, Bytes::new(), &[]).is_err());
    }
}
