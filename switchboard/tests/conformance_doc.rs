//! `docs/conformance.md` states what each backend's durable log promises: the table there is
//! the one rendered from the capabilities the backends declare.
#![cfg(all(feature = "redis", feature = "nats", feature = "kafka"))]

use switchboard::{kafka::KafkaConsumer, mem::MemLog, nats::JetStreamLog, redis::RedisLog};
use switchboard_core::testkit::log::capability_table;

#[test]
fn the_documented_log_capabilities_are_the_declared_ones() {
    let rendered = capability_table(&[
        ("mem", MemLog::CAPABILITIES),
        ("redis", RedisLog::CAPABILITIES),
        ("nats", JetStreamLog::CAPABILITIES),
        ("kafka", KafkaConsumer::CAPABILITIES),
    ]);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/conformance.md");
    let doc = std::fs::read_to_string(path).expect("docs/conformance.md is readable");
    assert!(
        doc.contains(&rendered),
        "docs/conformance.md must hold this capability table:\n{rendered}"
    );
}
