//! The durable-log conformance kit against a live Kafka-protocol broker (`KAFKA_BROKERS`).

mod common;

use common::setup;

switchboard_core::log_conformance!(setup);
