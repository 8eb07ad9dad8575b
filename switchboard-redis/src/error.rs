//! Maps the `redis` crate's errors onto [`switchboard_core::Error`], and the errors this
//! crate finds itself.

use redis::{ErrorKind, RedisError, RetryMethod};
use switchboard_core::Error;

/// A failure this crate recognises in what it reads from Redis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisBackendError {
    /// A pub/sub message or stream entry starts like a Switchboard frame (`SBF1`) but cannot
    /// be read: it is not delivered, it is counted
    /// ([`RedisSubscriber::broken_frames`](crate::RedisSubscriber::broken_frames)) and logged.
    /// Messages without the magic are plain payloads, not errors.
    #[error("broken switchboard frame: {reason}")]
    BrokenFrame {
        /// What is wrong with it.
        reason: String,
    },
}

impl RedisBackendError {
    /// Whether retrying may help; none of these clears up by itself.
    pub fn is_transient(&self) -> bool {
        match self {
            RedisBackendError::BrokenFrame { .. } => false,
        }
    }
}

/// Whether `err` is Redis refusing `XADD … 0-*` because the stream's last id is larger.
pub(crate) fn is_id_too_small(err: &RedisError) -> bool {
    err.detail()
        .is_some_and(|detail| detail.contains("equal or smaller than the target stream top item"))
}

/// Connection trouble is [`Error::Unavailable`]; a server error is transient when Redis says a
/// retry may help (`LOADING`, `BUSY`, `TRYAGAIN`…); bad credentials and client misuse are not.
pub(crate) fn from_redis(err: RedisError) -> Error {
    if err.is_io_error() || err.is_connection_dropped() || err.is_timeout() {
        return Error::unavailable(err);
    }
    match (err.kind(), err.retry_method()) {
        (ErrorKind::AuthenticationFailed | ErrorKind::InvalidClientConfig, _) => {
            Error::backend(err)
        }
        (_, RetryMethod::NoRetry) => Error::backend(err),
        _ => Error::transient(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = from_redis(RedisError::from(io));
        assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
        assert!(err.is_transient());
    }

    #[test]
    fn client_errors_are_not_transient() {
        let err = from_redis(RedisError::from((ErrorKind::Client, "misuse")));
        assert!(!err.is_transient(), "{err:?}");
    }

    #[test]
    fn xadd_id_refusal_is_recognised() {
        let refused = RedisError::from((
            ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "An error was signalled by the server",
            "The ID specified in XADD is equal or smaller than the target stream top item"
                .to_owned(),
        ));
        assert!(is_id_too_small(&refused), "{refused:?}");
        let other = RedisError::from((ErrorKind::Client, "misuse"));
        assert!(!is_id_too_small(&other));
    }
}
