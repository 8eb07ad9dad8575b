//! This crate's error type, and how librdkafka's errors map onto [`switchboard_core::Error`].

use std::time::Duration;

use rdkafka::{error::KafkaError, types::RDKafkaErrorCode};
use switchboard_core::Error;

/// What went wrong inside the Kafka backend; reaches callers as the source of a
/// [`switchboard_core::Error`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaBackendError {
    /// librdkafka reported an error.
    #[error("kafka client error")]
    Client(#[source] KafkaError),
    /// The settings were refused when the client was created.
    #[error(
        "invalid kafka configuration; check the brokers and any property passed with `KafkaConfig::set`"
    )]
    Config(#[source] KafkaError),
    /// An append or a subscription named a topic the broker does not know.
    #[error(
        "topic `{topic}` does not exist; create it first with `TopicAdmin::create_topic` \
         (brokers here do not create topics on first use)"
    )]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// A topic was created but did not show up in the broker's metadata in time.
    #[error("topic `{topic}` was not visible in the broker metadata after {after:?}")]
    TopicNotVisible {
        /// The topic.
        topic: String,
        /// How long we waited.
        after: Duration,
    },
    /// The broker refused to create a topic.
    #[error("the broker refused to create topic `{topic}`: {code}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
}

impl KafkaBackendError {
    /// Whether the same call may succeed if retried later.
    pub fn is_transient(&self) -> bool {
        match self {
            KafkaBackendError::Client(err) => err.rdkafka_error_code().is_some_and(is_transient),
            KafkaBackendError::TopicNotVisible { .. } => true,
            KafkaBackendError::CreateTopic { code, .. } => is_transient(*code),
            KafkaBackendError::Config(_) | KafkaBackendError::UnknownTopic { .. } => false,
        }
    }
}

/// Whether librdkafka's `code` means "the broker or the network, for now".
fn is_unavailable(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::Resolve
            | C::BrokerNotAvailable
            | C::NetworkException
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::CoordinatorNotAvailable
            | C::CoordinatorLoadInProgress
            | C::NotCoordinator
            | C::WaitingForCoordinator
            | C::KafkaStorageError
    )
}

/// Whether retrying a call that failed with `code` may help.
fn is_transient(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    is_unavailable(code)
        || matches!(
            code,
            C::MessageTimedOut
                | C::OperationTimedOut
                | C::RequestTimedOut
                | C::TimedOutQueue
                | C::QueueFull
                | C::NotEnoughReplicas
                | C::NotEnoughReplicasAfterAppend
                | C::RebalanceInProgress
                | C::IllegalGeneration
                | C::UnknownMemberId
                | C::AssignmentLost
                | C::State
                | C::Retry
                | C::ThrottlingQuotaExceeded
                | C::InProgress
        )
}

/// Maps a librdkafka error onto the portable error.
pub(crate) fn map(err: KafkaError) -> Error {
    match err.rdkafka_error_code() {
        Some(code) if is_unavailable(code) => Error::unavailable(KafkaBackendError::Client(err)),
        Some(code) if is_transient(code) => Error::transient(KafkaBackendError::Client(err)),
        _ => Error::backend(KafkaBackendError::Client(err)),
    }
}

/// Maps an error from creating a client.
pub(crate) fn config(err: KafkaError) -> Error {
    Error::backend(KafkaBackendError::Config(err))
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use switchboard_core::ErrorKind;

    use super::*;

    #[test]
    fn transport_failures_are_unavailable() {
        let err = map(KafkaError::MessageProduction(
            RDKafkaErrorCode::AllBrokersDown,
        ));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.is_transient());
    }

    #[test]
    fn unknown_topic_says_what_to_do() {
        let err = Error::backend(KafkaBackendError::UnknownTopic {
            topic: "orders".into(),
        });
        assert!(!err.is_transient());
        let message = err.source().unwrap().to_string();
        assert!(message.contains("create_topic"), "{message}");
    }

    #[test]
    fn timeouts_are_transient_bad_config_is_not() {
        assert!(
            map(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut
            ))
            .is_transient()
        );
        assert!(
            !map(KafkaError::MessageProduction(
                RDKafkaErrorCode::InvalidMessage
            ))
            .is_transient()
        );
        assert!(!config(KafkaError::ClientCreation("bad".into())).is_transient());
    }
}
