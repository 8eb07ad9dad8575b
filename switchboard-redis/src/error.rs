//! Maps the `redis` crate's errors onto [`switchboard_core::Error`].

use redis::{ErrorKind, RedisError, RetryMethod};
use switchboard_core::Error;

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
}
