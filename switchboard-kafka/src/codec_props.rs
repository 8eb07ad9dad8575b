//! Property tests of record header decoding on arbitrary bytes (the fuzzing of this parser:
//! cargo-fuzz cannot build librdkafka's types cheaply, see fuzz/README.md).

use proptest::prelude::*;
use rdkafka::message::Headers as _;
use switchboard_core::{Envelope, Subject, header::Received};

use crate::codec::{ID_HEADER, record_headers};

/// What `codec::envelope` does with a record's headers.
fn decode<'a>(pairs: impl Iterator<Item = (&'a str, Option<&'a [u8]>)>) -> Received {
    Received::from_pairs(pairs.map(|(k, v)| (k, String::from_utf8_lossy(v.unwrap_or_default()))))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_header_bytes_decode_without_panic(
        headers in proptest::collection::vec(
            (any::<String>(), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64))),
            0..8,
        ),
    ) {
        let received = decode(headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
        prop_assert!(received.headers.iter().all(|(k, _)| !k.eq_ignore_ascii_case(ID_HEADER)));
    }

    #[test]
    fn encoded_headers_round_trip(
        pairs in proptest::collection::btree_map("x-[a-z]{1,12}", any::<String>(), 0..6),
    ) {
        let mut msg = Envelope::new(Subject::new("t").unwrap(), "x");
        for (name, value) in &pairs {
            msg = msg.with_header(name.as_str(), value.as_str());
        }
        let owned = record_headers(&msg);
        let received = decode(owned.iter().map(|h| (h.key, h.value)));
        prop_assert_eq!(received.id, Some(msg.id()));
        prop_assert_eq!(&received.headers, msg.headers());
    }
}
