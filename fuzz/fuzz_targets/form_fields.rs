//! The gateway's check that urlencoded form and query fields are valid UTF-8 (the very file the
//! gateway compiles): never a panic, and what it accepts decodes without replacement characters
//! that the input did not hold.
#![no_main]

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/gateway/utf8_fields.rs"]
mod utf8_fields;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if utf8_fields::check(data).is_ok() {
        for pair in data.split(|b| *b == b'&') {
            let spaced: Vec<u8> = pair.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
            let decoded: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
            assert!(std::str::from_utf8(&decoded).is_ok(), "accepted invalid UTF-8");
        }
    }
});
