//! The Redis pub/sub frame decoder on any bytes: never a panic, and a frame it accepts
//! re-encodes to one that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_core::Subject;
use switchboard_redis::fuzzing::{decode_frame, encode_frame};

fuzz_target!(|data: &[u8]| {
    let subject = Subject::new("fuzz.channel").unwrap();
    if let Some(msg) = decode_frame(subject.clone(), data) {
        let again = decode_frame(subject, &encode_frame(&msg)).expect("a re-encoded frame decodes");
        assert_eq!(again.id(), msg.id());
        assert_eq!(again.payload(), msg.payload());
        assert_eq!(again.key(), msg.key());
    }
});
