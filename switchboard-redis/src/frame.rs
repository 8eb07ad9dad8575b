//! The bytes of one pub/sub message: the [`Envelope`] minus its subject, which is the channel.
//!
//! ```text
//! "SBF1" | header length (u32, big endian) | header (JSON) | payload (raw bytes)
//! header: {"id":"<uuid>","ts":<nanoseconds since the Unix epoch>,"key":"…","h":{"name":"value"}}
//! ```
//!
//! `key` and `h` are left out when empty. The payload is never re-encoded, so binary payloads
//! cost nothing extra. Header names of [`switchboard_core::header`] are read in any case.

use std::{
    collections::BTreeMap,
    time::{Duration, UNIX_EPOCH},
};

use bytes::{Buf, Bytes};
use serde::{Deserialize, Serialize};
use switchboard_core::{Envelope, Headers, Subject, header};
use uuid::Uuid;

use crate::RedisBackendError;

const MAGIC: &[u8; 4] = b"SBF1";

#[derive(Serialize)]
struct HeaderOut<'a> {
    id: Uuid,
    ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    h: BTreeMap<&'a str, &'a str>,
}

#[derive(Deserialize)]
struct HeaderIn {
    id: Uuid,
    ts: u64,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    h: BTreeMap<String, String>,
}

fn broken(reason: impl std::fmt::Display) -> RedisBackendError {
    RedisBackendError::BrokenFrame {
        reason: reason.to_string(),
    }
}

/// The frame of `msg`.
pub(crate) fn encode(msg: &Envelope) -> Vec<u8> {
    let ts = msg
        .timestamp()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let header = HeaderOut {
        id: msg.id(),
        ts,
        key: msg.key(),
        h: msg.headers().iter().collect(),
    };
    let header = serde_json::to_vec(&header).expect("a frame header always serializes");
    let mut frame = Vec::with_capacity(8 + header.len() + msg.payload().len());
    frame.extend_from_slice(MAGIC);
    frame.extend_from_slice(
        &u32::try_from(header.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(&header);
    frame.extend_from_slice(msg.payload());
    frame
}

/// Whether `bytes` claim to be a frame: they start with the magic.
pub(crate) fn is_frame(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// The message in `frame`, published on `subject`.
pub(crate) fn decode(subject: Subject, mut frame: Bytes) -> Result<Envelope, RedisBackendError> {
    if !is_frame(&frame) {
        return Err(broken("no `SBF1` magic"));
    }
    if frame.len() < 8 {
        return Err(broken("truncated before the header length"));
    }
    frame.advance(4);
    let header_len = frame.get_u32() as usize;
    if frame.len() < header_len {
        return Err(broken(format_args!(
            "header of {header_len} bytes, {} left",
            frame.len()
        )));
    }
    let header = frame.split_to(header_len);
    let header: HeaderIn = serde_json::from_slice(&header)
        .map_err(|err| broken(format_args!("header is not the frame's JSON: {err}")))?;
    let mut msg = Envelope::new(subject, frame)
        .with_id(header.id)
        .with_timestamp(UNIX_EPOCH + Duration::from_nanos(header.ts))
        .with_headers(header.h.into_iter().map(canonical).collect::<Headers>());
    if let Some(key) = header.key {
        msg = msg.with_key(key);
    }
    Ok(msg)
}

/// A header name in the vocabulary's spelling, reusing the string when it already is.
fn canonical((name, value): (String, String)) -> (String, String) {
    match header::canonical(&name) {
        known if known != name => (known.to_owned(), value),
        _ => (name, value),
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn subject() -> Subject {
        Subject::new("a.b").unwrap()
    }

    #[test]
    fn round_trip_keeps_everything() {
        let payload: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let sent = Envelope::new(subject(), payload.clone())
            .with_key("customer-7")
            .with_header("trace-id", "abc")
            .with_header("x", "{\"json\": true}")
            .with_timestamp(SystemTime::now());
        let got = decode(subject(), encode(&sent).into()).unwrap();
        assert_eq!(got.id(), sent.id());
        assert_eq!(got.payload().as_ref(), &payload[..]);
        assert_eq!(got.key(), Some("customer-7"));
        assert_eq!(got.headers(), sent.headers());
        assert_eq!(got.timestamp(), sent.timestamp());
        assert_eq!(got.subject(), &subject());
    }

    #[test]
    fn vocabulary_names_are_read_in_any_case() {
        let sent = Envelope::new(subject(), "x").with_header("Content-Type", "text/plain");
        let got = decode(subject(), encode(&sent).into()).unwrap();
        assert_eq!(got.headers().get(header::CONTENT_TYPE), Some("text/plain"));
    }

    #[test]
    fn empty_payload_and_no_headers() {
        let sent = Envelope::new(subject(), Bytes::new());
        let got = decode(subject(), encode(&sent).into()).unwrap();
        assert!(got.payload().is_empty());
        assert!(got.headers().is_empty());
        assert_eq!(got.key(), None);
    }

    fn reason(bytes: impl Into<Bytes>) -> String {
        match decode(subject(), bytes.into()) {
            Err(RedisBackendError::BrokenFrame { reason }) => reason,
            other => panic!("expected a broken frame, got {other:?}"),
        }
    }

    #[test]
    fn foreign_and_broken_frames_are_errors() {
        assert!(!is_frame(b"hello"));
        assert!(reason(Bytes::from_static(b"hello")).contains("magic"));
        assert!(reason(Bytes::from_static(b"SBF1")).contains("truncated"));
        let mut truncated = encode(&Envelope::new(subject(), "x"));
        truncated.truncate(12);
        assert!(reason(truncated).contains("left"));
        let mut bad = MAGIC.to_vec();
        bad.extend_from_slice(&2u32.to_be_bytes());
        bad.extend_from_slice(b"{}");
        assert!(reason(bad).contains("JSON"));
    }
}
