//! `docs/conformance.md` states what each backend promises where backends differ: its tables
//! are the ones rendered from the capabilities the backends declare.
#![cfg(all(feature = "redis", feature = "nats", feature = "kafka"))]

use switchboard::{
    kafka::KafkaConsumer,
    mem::MemLog,
    nats::{BusConfig, JetStreamLog},
    redis::RedisLog,
};
use switchboard_core::{BusCapabilities, testkit};

fn assert_documented(rendered: String) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/conformance.md");
    let doc = std::fs::read_to_string(path).expect("docs/conformance.md is readable");
    assert!(
        doc.contains(&rendered),
        "docs/conformance.md must hold this capability table:\n{rendered}"
    );
}

#[test]
fn the_documented_log_capabilities_are_the_declared_ones() {
    assert_documented(testkit::log::capability_table(&[
        ("mem", MemLog::CAPABILITIES),
        ("redis", RedisLog::CAPABILITIES),
        ("nats", JetStreamLog::CAPABILITIES),
        ("kafka", KafkaConsumer::CAPABILITIES),
    ]));
}

#[test]
fn the_documented_bus_capabilities_are_the_declared_ones() {
    // The in-memory bus and Redis (framed, its default) carry the whole envelope, which is
    // what their conformance fixtures state by not overriding `capabilities`.
    assert_documented(testkit::pubsub::capability_table(&[
        ("mem", BusCapabilities::WHOLE_ENVELOPE),
        ("redis", BusCapabilities::WHOLE_ENVELOPE),
        ("nats", BusConfig::default().capabilities()),
        (
            "nats, `send_id_and_timestamp`",
            BusConfig {
                send_id_and_timestamp: true,
                ..BusConfig::default()
            }
            .capabilities(),
        ),
    ]));
}
