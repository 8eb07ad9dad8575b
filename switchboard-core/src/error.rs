//! The crate's error type: one enum, a portable [`ErrorKind`], and [`Error::is_transient`].

use std::time::Duration;

use crate::names::Subject;

/// A boxed error from a backend's own client library.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a Switchboard transport can fail with.
///
/// Backends map their client errors onto these variants, so callers match on one type whatever
/// the backend. Retry layers ask [`Error::is_transient`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller passed something that can never succeed; fix the input, do not retry.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The operation did not finish in time.
    #[error("timed out after {after:?}")]
    Timeout {
        /// The deadline that passed.
        after: Duration,
    },
    /// A request was sent to a subject that nobody serves.
    #[error("no responders on subject `{subject}`")]
    NoResponders {
        /// The subject of the request.
        subject: Subject,
    },
    /// The responder's service failed; its message is passed back to the requester.
    #[error("responder failed: {message}")]
    Remote {
        /// What the responder said.
        message: String,
    },
    /// A bounded buffer is full and the operation was refused rather than grow memory.
    #[error("{what} is full (capacity {capacity})")]
    CapacityExceeded {
        /// Which buffer.
        what: &'static str,
        /// Its configured bound.
        capacity: usize,
    },
    /// This subscriber fell behind and `missed` messages were dropped for it.
    #[error("subscriber lagged behind and missed {missed} messages")]
    Lagged {
        /// How many messages were dropped for this subscriber.
        missed: u64,
    },
    /// The transport or the handle was closed.
    #[error("transport closed")]
    Closed,
    /// The server could not be reached, or the connection dropped; worth retrying.
    #[error("backend unavailable")]
    Unavailable(#[source] BoxError),
    /// Any other backend failure; `transient` says whether a retry may help.
    #[error("backend error")]
    Backend {
        /// The client library's error.
        #[source]
        source: BoxError,
        /// Whether retrying may succeed.
        transient: bool,
    },
}

/// A portable classification of [`Error`], stable across backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::Timeout`].
    Timeout,
    /// See [`Error::NoResponders`].
    NoResponders,
    /// See [`Error::Remote`].
    Remote,
    /// See [`Error::CapacityExceeded`].
    CapacityExceeded,
    /// See [`Error::Lagged`].
    Lagged,
    /// See [`Error::Closed`].
    Closed,
    /// See [`Error::Unavailable`].
    Unavailable,
    /// See [`Error::Backend`].
    Backend,
}

impl Error {
    /// The portable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::NoResponders { .. } => ErrorKind::NoResponders,
            Error::Remote { .. } => ErrorKind::Remote,
            Error::CapacityExceeded { .. } => ErrorKind::CapacityExceeded,
            Error::Lagged { .. } => ErrorKind::Lagged,
            Error::Closed => ErrorKind::Closed,
            Error::Unavailable(_) => ErrorKind::Unavailable,
            Error::Backend { .. } => ErrorKind::Backend,
        }
    }

    /// Whether the same call may succeed if retried later.
    ///
    /// Timeouts, unreachable servers, full buffers and backend errors marked transient are;
    /// bad input, a missing responder and a closed handle are not.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Timeout { .. } | Error::Unavailable(_) | Error::CapacityExceeded { .. } => true,
            Error::Backend { transient, .. } => *transient,
            _ => false,
        }
    }

    /// Wraps a client error that is not worth retrying.
    pub fn backend(source: impl Into<BoxError>) -> Self {
        Error::Backend {
            source: source.into(),
            transient: false,
        }
    }

    /// Wraps a client error that may go away on retry.
    pub fn transient(source: impl Into<BoxError>) -> Self {
        Error::Backend {
            source: source.into(),
            transient: true,
        }
    }

    /// Wraps a connection failure.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Error::Unavailable(source.into())
    }
}

/// Formats `err` with its whole `source()` chain, `outer: cause: root`, for places that can
/// carry only a string (a reply header, a firehose event, a log line).
pub fn report(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Errors that a caller or its errors can be asked about: may a retry help?
///
/// [`crate::layer::RetryLayer`] retries only errors for which this returns `true`.
pub trait Transient {
    /// Whether the same call may succeed if retried later.
    fn is_transient(&self) -> bool;
}

impl Transient for Error {
    fn is_transient(&self) -> bool {
        Error::is_transient(self)
    }
}

/// Input that can never be accepted, with a message a person can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// A subject, topic or pattern was empty.
    #[error("{what} is empty")]
    Empty {
        /// Which name ("subject", "pattern", "key"…).
        what: &'static str,
    },
    /// A name broke one of its rules.
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidName {
        /// Which name ("subject", "pattern", "key"…).
        what: &'static str,
        /// The offending value, with control characters escaped.
        value: String,
        /// The rule it broke.
        reason: &'static str,
    },
    /// A payload that must be JSON was not.
    #[error("payload is not valid JSON")]
    NotJson(#[source] serde_json::Error),
    /// A payload is larger than the configured limit.
    #[error("payload of {size} bytes is over the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Size of the rejected payload.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A pagination cursor that this store did not hand out.
    #[error("invalid cursor `{0}`: pass back the `next` cursor of a previous page")]
    InvalidCursor(String),
    /// A text longer than its limit.
    #[error("{what} is {len} bytes long; the limit is {max} bytes")]
    TooLong {
        /// Which text.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A name a user chose that lies outside the namespace it must stay in.
    #[error(
        "{what} `{value}` is outside the page namespace: use a name under `{namespace}`, such as `{namespace}demo`"
    )]
    OutsideNamespace {
        /// Which name ("subject", "pattern").
        what: &'static str,
        /// The offending value, with control characters escaped.
        value: String,
        /// The namespace's prefix, dot included.
        namespace: &'static str,
    },
    /// A numeric argument outside its allowed range.
    #[error("{what} must be between {min} and {max}, got {got}")]
    OutOfRange {
        /// Which argument.
        what: &'static str,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
        /// The value given.
        got: u64,
    },
}

impl InvalidInput {
    pub(crate) fn name(what: &'static str, value: &str, reason: &'static str) -> Self {
        InvalidInput::InvalidName {
            what,
            value: value.escape_debug().take(120).collect(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn cause_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = Error::unavailable(io);
        assert_eq!(err.to_string(), "backend unavailable");
        assert_eq!(err.source().unwrap().to_string(), "refused");
        assert!(err.is_transient());
    }

    #[test]
    fn report_walks_the_source_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            report(&Error::unavailable(io)),
            "backend unavailable: refused"
        );
    }

    #[test]
    fn bad_input_is_not_transient() {
        let err = Error::from(InvalidInput::Empty { what: "subject" });
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(!err.is_transient());
        assert!(err.to_string().contains("subject is empty"));
    }
}
