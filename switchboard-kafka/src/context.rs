//! librdkafka callbacks routed to `tracing`.

use rdkafka::{
    ClientContext, config::RDKafkaLogLevel, consumer::ConsumerContext, error::KafkaError,
};
use tracing::{debug, error, info, warn};

/// Sends librdkafka's log lines and error events to `tracing` (target `switchboard_kafka`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TracingContext;

impl ClientContext for TracingContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        client_error(&error, reason);
    }
}

impl ConsumerContext for TracingContext {}

pub(crate) fn log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => error!(facility, "librdkafka: {message}"),
        RDKafkaLogLevel::Warning => warn!(facility, "librdkafka: {message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => info!(facility, "librdkafka: {message}"),
        RDKafkaLogLevel::Debug => debug!(facility, "librdkafka: {message}"),
    }
}

/// librdkafka retries by itself after these; they are worth a warning, not a failure.
pub(crate) fn client_error(error: &KafkaError, reason: &str) {
    warn!(error = %error, reason, "kafka client error");
}
