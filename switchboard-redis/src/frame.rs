//! The bytes of one pub/sub message: the [`Envelope`] minus its subject, which is the channel.
//!
//! ```text
//! "SBF1" | header length (u32, big endian) | header (JSON) | payload (raw bytes)
//! header: {"id":"<uuid>","ts":<nanoseconds since the Unix epoch>,"key":"…","h":{"name":"value"}}
//! ```
//!
//! `key` and `h` are left out when empty. The payload is never re-encoded, so binary payloads
//! cost nothing extra.

use std::{
    collections::BTreeMap,
    time::{Duration, UNIX_EPOCH},
};

use bytes::{Buf, Bytes};
use serde::{Deserialize, Serialize};
use switchboard_core::{Envelope, Headers, Subject};
use uuid::Uuid;

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

/// Why a message on a subscribed channel could not be read as an [`Envelope`].
#[derive(Debug)]
pub(crate) enum FrameError {
    /// It does not start with the magic bytes: published by something other than Switchboard.
    Foreign,
    /// It is shorter than its header length says.
    Truncated,
    /// The header is not the expected JSON.
    Header(serde_json::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Foreign => f.write_str("not a switchboard frame"),
            FrameError::Truncated => f.write_str("truncated switchboard frame"),
            FrameError::Header(err) => write!(f, "bad switchboard frame header: {err}"),
        }
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

/// The message in `frame`, published on `subject`.
pub(crate) fn decode(subject: Subject, frame: Vec<u8>) -> Result<Envelope, FrameError> {
    let mut frame = Bytes::from(frame);
    if frame.len() < 8 || &frame[..4] != MAGIC {
        return Err(FrameError::Foreign);
    }
    frame.advance(4);
    let header_len = frame.get_u32() as usize;
    if frame.len() < header_len {
        return Err(FrameError::Truncated);
    }
    let header = frame.split_to(header_len);
    let header: HeaderIn = serde_json::from_slice(&header).map_err(FrameError::Header)?;
    let mut msg = Envelope::new(subject, frame)
        .with_id(header.id)
        .with_timestamp(UNIX_EPOCH + Duration::from_nanos(header.ts))
        .with_headers(header.h.into_iter().collect::<Headers>());
    if let Some(key) = header.key {
        msg = msg.with_key(key);
    }
    Ok(msg)
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
        let got = decode(subject(), encode(&sent)).unwrap();
        assert_eq!(got.id(), sent.id());
        assert_eq!(got.payload().as_ref(), &payload[..]);
        assert_eq!(got.key(), Some("customer-7"));
        assert_eq!(got.headers(), sent.headers());
        assert_eq!(got.timestamp(), sent.timestamp());
        assert_eq!(got.subject(), &subject());
    }

    #[test]
    fn empty_payload_and_no_headers() {
        let sent = Envelope::new(subject(), Bytes::new());
        let got = decode(subject(), encode(&sent)).unwrap();
        assert!(got.payload().is_empty());
        assert!(got.headers().is_empty());
        assert_eq!(got.key(), None);
    }

    #[test]
    fn foreign_and_broken_frames_are_errors() {
        assert!(matches!(
            decode(subject(), b"hello".to_vec()),
            Err(FrameError::Foreign)
        ));
        let mut truncated = encode(&Envelope::new(subject(), "x"));
        truncated.truncate(12);
        assert!(matches!(
            decode(subject(), truncated),
            Err(FrameError::Truncated)
        ));
        let mut bad = MAGIC.to_vec();
        bad.extend_from_slice(&2u32.to_be_bytes());
        bad.extend_from_slice(b"{}");
        assert!(matches!(decode(subject(), bad), Err(FrameError::Header(_))));
    }
}
