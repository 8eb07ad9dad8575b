//! Property tests of message decoding on arbitrary subjects and headers (the fuzzing of this
//! parser: it takes async-nats's header types, see fuzz/README.md).

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use proptest::prelude::*;

use crate::codec::{ID_HEADER, KEY_HEADER, TIMESTAMP_HEADER, decode, encode_headers};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_subject_and_headers_decode_without_panic(
        subject in any::<String>(),
        headers in proptest::collection::vec((any::<String>(), any::<String>()), 0..8),
    ) {
        let mut map = HeaderMap::new();
        for (name, value) in &headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), value.parse::<HeaderValue>()) {
                map.insert(name, value);
            }
        }
        match decode(&subject, Some(&map), Bytes::from_static(b"x"), &[]) {
            Ok(msg) => {
                prop_assert_eq!(msg.subject().as_str(), subject.as_str());
                for reserved in [ID_HEADER, KEY_HEADER, TIMESTAMP_HEADER] {
                    prop_assert!(msg.headers().get(reserved).is_none());
                }
            }
            Err(_) => prop_assert!(switchboard_core::Subject::new(&subject).is_err()),
        }
    }

    #[test]
    fn encoded_messages_round_trip(
        key in proptest::option::of("[ -~]{1,40}"),
        pairs in proptest::collection::btree_map("[a-z][a-z0-9-]{0,11}", "[ -~]{0,40}", 0..6),
        id_and_timestamp in any::<bool>(),
    ) {
        let mut msg = switchboard_core::Envelope::new(switchboard_core::Subject::new("a.b").unwrap(), "x");
        if let Some(key) = &key {
            msg = msg.with_key(key.as_str());
        }
        for (name, value) in &pairs {
            msg = msg.with_header(name.as_str(), value.as_str());
        }
        let map = encode_headers(&msg, id_and_timestamp).unwrap();
        let got = decode("a.b", map.as_ref(), Bytes::from_static(b"x"), &[]).unwrap();
        prop_assert_eq!(got.id() == msg.id(), id_and_timestamp);
        prop_assert_eq!(got.key(), key.as_deref());
        prop_assert_eq!(got.headers(), msg.headers());
    }
}
