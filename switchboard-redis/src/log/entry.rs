//! How an [`Envelope`] is stored as a Redis Streams entry: one field per piece, so plain
//! clients read the payload unchanged and the metadata by name.
//!
//! | envelope | entry field |
//! |---|---|
//! | payload | `payload` (raw bytes) |
//! | id | `switchboard-id` |
//! | key | `switchboard-key` (also picks the partition) |
//! | timestamp | `switchboard-timestamp` (microseconds since the Unix epoch) |
//! | headers | one field per header |
//!
//! On read, an entry without a `payload` field (a plain client's `XADD s * temp 21`) arrives
//! with an empty payload and every field as a header; one holding only an `f` frame was
//! written by an earlier version of this crate and is read as such.

use std::collections::HashMap;

use bytes::Bytes;
use redis::{Cmd, Value};
use switchboard_core::{
    Envelope, InvalidInput, Topic,
    header::{self, Received},
};

use crate::{RedisBackendError, frame};

/// The field that holds the payload.
pub(crate) const PAYLOAD_FIELD: &str = "payload";
/// The field of the single-frame entries of earlier versions.
const FRAME_FIELD: &str = "f";

/// Appends the fields of `msg` to an `XADD` command; a header the entry cannot carry under its
/// own name is bad input.
pub(super) fn write_fields(cmd: &mut Cmd, msg: &Envelope) -> Result<(), InvalidInput> {
    for (name, _) in msg.headers().iter() {
        if header::is_envelope_field(name) || name.eq_ignore_ascii_case(PAYLOAD_FIELD) {
            return Err(InvalidInput::InvalidName {
                what: "header name",
                value: name.escape_debug().take(120).collect(),
                reason: "reserved for the entry's payload, id, key and timestamp",
            });
        }
    }
    cmd.arg(PAYLOAD_FIELD)
        .arg(msg.payload().as_ref())
        .arg(header::ID)
        .arg(msg.id().hyphenated().to_string())
        .arg(header::TIMESTAMP)
        .arg(header::format_timestamp(msg.timestamp()));
    if let Some(key) = msg.key() {
        cmd.arg(header::KEY).arg(key);
    }
    for (name, value) in msg.headers().iter() {
        cmd.arg(name).arg(value);
    }
    Ok(())
}

/// The envelope of an entry of `topic`. An entry that is an earlier version's frame but is
/// broken is an error.
pub(super) fn read(
    topic: &Topic,
    mut fields: HashMap<String, Value>,
) -> Result<Envelope, RedisBackendError> {
    let earlier_frame = fields.len() == 1
        && matches!(fields.get(FRAME_FIELD), Some(Value::BulkString(bytes)) if frame::is_frame(bytes));
    if earlier_frame && let Some(Value::BulkString(bytes)) = fields.remove(FRAME_FIELD) {
        return frame::decode(topic.clone(), bytes.into());
    }
    let payload_field = fields
        .keys()
        .find(|name| name.eq_ignore_ascii_case(PAYLOAD_FIELD))
        .cloned();
    let payload = match payload_field.and_then(|name| fields.remove(&name)) {
        Some(Value::BulkString(bytes)) => Bytes::from(bytes),
        Some(other) => Bytes::from(text(&other).unwrap_or_default().into_bytes()),
        None => Bytes::new(),
    };
    let pairs = fields
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), text(value)?)));
    Ok(Received::from_pairs(pairs).into_envelope(topic.clone(), payload))
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(text) => Some(text.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use switchboard_core::Subject;

    use super::*;

    fn topic() -> Topic {
        Subject::new("t.a").unwrap()
    }

    /// The field map `XADD` would store for `cmd`'s arguments after the id.
    fn stored(cmd: &Cmd) -> HashMap<String, Value> {
        let args: Vec<Vec<u8>> = cmd
            .args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => bytes.to_vec(),
                _ => unreachable!("no cursor in an XADD"),
            })
            .collect();
        args.chunks(2)
            .map(|pair| {
                (
                    String::from_utf8(pair[0].clone()).unwrap(),
                    Value::BulkString(pair[1].clone()),
                )
            })
            .collect()
    }

    #[test]
    fn round_trip_keeps_everything_but_sub_microsecond_time() {
        let payload: Vec<u8> = (0..=255u8).collect();
        let sent = Envelope::new(topic(), payload.clone())
            .with_key("k7")
            .with_header("content-type", "application/octet-stream")
            .with_header("x-n", "7");
        let mut cmd = Cmd::new();
        write_fields(&mut cmd, &sent).unwrap();
        let fields = stored(&cmd);
        assert_eq!(fields.len(), 6);
        let got = read(&topic(), fields).unwrap();
        assert_eq!(got.payload().as_ref(), &payload[..]);
        assert_eq!(got.id(), sent.id());
        assert_eq!(got.key(), Some("k7"));
        assert_eq!(got.headers(), sent.headers());
        let drift = sent.timestamp().duration_since(got.timestamp()).unwrap();
        assert!(drift.as_micros() < 1, "{drift:?}");
    }

    #[test]
    fn reserved_header_names_are_bad_input() {
        for name in ["Payload", "switchboard-id", "Switchboard-Timestamp"] {
            let msg = Envelope::new(topic(), "x").with_header(name, "v");
            let err = write_fields(&mut Cmd::new(), &msg).unwrap_err();
            assert!(err.to_string().contains("reserved"), "{err}");
        }
    }

    #[test]
    fn plain_entries_and_earlier_frames_are_read() {
        let plain: HashMap<String, Value> = [
            ("temp".to_owned(), Value::BulkString(b"21".to_vec())),
            (
                "Content-Type".to_owned(),
                Value::BulkString(b"text/plain".to_vec()),
            ),
        ]
        .into();
        let got = read(&topic(), plain).unwrap();
        assert!(got.payload().is_empty());
        assert_eq!(got.headers().get("temp"), Some("21"));
        assert_eq!(got.headers().get(header::CONTENT_TYPE), Some("text/plain"));

        let earlier = Envelope::new(topic(), "old").with_key("k");
        let framed: HashMap<String, Value> = [(
            FRAME_FIELD.to_owned(),
            Value::BulkString(frame::encode(&earlier)),
        )]
        .into();
        let got = read(&topic(), framed).unwrap();
        assert_eq!((got.id(), got.key()), (earlier.id(), Some("k")));

        let broken: HashMap<String, Value> = [(
            FRAME_FIELD.to_owned(),
            Value::BulkString(b"SBF1\0\0\0\x09{".to_vec()),
        )]
        .into();
        assert!(read(&topic(), broken).is_err());
    }
}
