//! This crate's own failures, and the mapping of async-nats errors onto [`switchboard_core::Error`].

use std::time::Duration;

use switchboard_core::{Error, InvalidInput, Subject};

/// Failures specific to NATS and JetStream. They reach callers wrapped in
/// [`Error::Backend`](switchboard_core::Error::Backend); match them with
/// `err.source().and_then(|e| e.downcast_ref::<NatsError>())`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// No JetStream stream stores the subject appended to.
    #[error(
        "no JetStream stream stores subject `{subject}`; create it with `TopicAdmin::create_topic` \
         or turn on `JetStreamConfig::create_streams`"
    )]
    NoStream {
        /// The subject of the append.
        subject: Subject,
    },
    /// A stream with the name derived from the topic exists but stores other subjects.
    #[error(
        "stream `{stream}` already exists for subjects {subjects:?}, not for topic `{topic}`; \
         pick another topic or delete the stream"
    )]
    StreamNameTaken {
        /// The stream name.
        stream: String,
        /// The subjects it stores.
        subjects: Vec<String>,
        /// The topic that wanted it.
        topic: Subject,
    },
    /// A server URL that async-nats cannot parse.
    #[error("invalid NATS server URL `{url}`: {reason}")]
    InvalidServerUrl {
        /// The offending entry of the server list.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// The server has no JetStream.
    #[error("JetStream is not enabled on the server; start nats-server with `-js`")]
    JetStreamDisabled,
}

impl NatsError {
    /// Whether the same call may succeed if retried later. None of these go away by waiting.
    pub fn is_transient(&self) -> bool {
        false
    }
}

impl From<NatsError> for Error {
    fn from(err: NatsError) -> Self {
        Error::backend(err)
    }
}

/// A core publish failed.
pub(crate) fn publish(err: async_nats::PublishError, size: usize, limit: usize) -> Error {
    use async_nats::client::PublishErrorKind as Kind;
    match err.kind() {
        Kind::MaxPayloadExceeded => InvalidInput::PayloadTooLarge { size, limit }.into(),
        // The client's command channel is gone: the client was closed.
        Kind::Send => Error::Closed,
        Kind::InvalidSubject => Error::backend(err),
    }
}

/// A subscribe or flush failed: the connection is not usable right now.
pub(crate) fn unavailable(err: impl Into<switchboard_core::BoxError>) -> Error {
    Error::unavailable(err)
}

/// A core request failed.
pub(crate) fn request(
    err: async_nats::RequestError,
    subject: &Subject,
    timeout: Duration,
    size: usize,
    limit: usize,
) -> Error {
    use async_nats::client::RequestErrorKind as Kind;
    match err.kind() {
        Kind::TimedOut => Error::Timeout { after: timeout },
        Kind::NoResponders => Error::NoResponders {
            subject: subject.clone(),
        },
        Kind::MaxPayloadExceeded => InvalidInput::PayloadTooLarge { size, limit }.into(),
        Kind::InvalidSubject => Error::backend(err),
        Kind::Other => Error::unavailable(err),
    }
}
