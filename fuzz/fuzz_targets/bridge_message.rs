//! Bridge message decoding (seal check, then JSON) on any bytes: never a panic; unsealed bytes
//! are never accepted; a sealed message is accepted exactly when it decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_ws::{
    BridgeKey,
    fuzzing::{bridge_message_accepted, seal},
};

const SUBJECT: &str = "switchboard.chat.chat";

fuzz_target!(|data: &[u8]| {
    let key = BridgeKey::new("the fuzzing cluster's key").unwrap();
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        // Raw bytes off the wire: accepted only if they happen to carry a valid tag.
        let accepted = bridge_message_accepted(&key, SUBJECT, rest);
        assert!(!accepted || rest.len() >= 32);
    } else {
        let sealed = seal(&key, SUBJECT, rest);
        let decodes = serde_json::from_slice::<serde_json::Value>(rest).is_ok();
        let accepted = bridge_message_accepted(&key, SUBJECT, &sealed);
        assert!(!accepted || decodes, "accepted a payload that is not JSON");
        assert!(!bridge_message_accepted(&key, "switchboard.chat.presence", &sealed));
    }
});
