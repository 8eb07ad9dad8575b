//! Property tests of record header decoding on arbitrary bytes (the fuzzing of this parser:
//! cargo-fuzz cannot build librdkafka's types cheaply, see fuzz/README.md).

use proptest::prelude::*;
use switchboard_core::{Envelope, Subject};

use crate::codec::{ID_HEADER, decode_headers, record_headers};
use rdkafka::message::Headers as _;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_header_bytes_decode_without_panic(
        headers in proptest::collection::vec(
            (any::<String>(), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64))),
            0..8,
        ),
    ) {
        let (id, decoded) = decode_headers(
            headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
        );
        prop_assert!(decoded.iter().all(|(k, _)| k != ID_HEADER));
        if id.is_some() {
            prop_assert!(headers.iter().any(|(k, _)| k == ID_HEADER));
        }
    }

    #[test]
    fn encoded_headers_round_trip(
        pairs in proptest::collection::btree_map("[a-z-]{1,12}", any::<String>(), 0..6),
    ) {
        let mut msg = Envelope::new(Subject::new("t").unwrap(), "x");
        for (name, value) in &pairs {
            msg = msg.with_header(name.as_str(), value.as_str());
        }
        let owned = record_headers(&msg);
        let (id, decoded) = decode_headers(owned.iter().map(|h| (h.key, h.value)));
        prop_assert_eq!(id, Some(msg.id()));
        let expected: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(name, _)| name != ID_HEADER)
            .collect();
        prop_assert_eq!(decoded, expected);
    }
}
