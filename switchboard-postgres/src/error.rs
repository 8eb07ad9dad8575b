//! The crate's error type and how it maps onto [`switchboard_core::Error`].

use std::{io, path::PathBuf};

use sqlx::migrate::MigrateError;
use switchboard_core::{Error, InvalidInput};

/// Everything this crate can fail with outside the [`EventStore`](switchboard_core::EventStore)
/// trait (connecting, migrating, creating migration files).
///
/// Event-store calls return [`switchboard_core::Error`]; `From<PgError>` does the mapping:
/// connection loss, pool timeouts and I/O become [`Error::Unavailable`], a value the database
/// rejects (constraint violation, data exception) becomes [`Error::InvalidInput`], anything
/// else [`Error::Backend`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// A query, a connection or the pool failed.
    #[error("postgres error")]
    Database(#[from] sqlx::Error),
    /// Applying or reverting a migration failed.
    #[error("migration failed")]
    Migrate(#[from] MigrateError),
    /// A schema name that is not a plain lowercase identifier.
    #[error(
        "invalid schema name `{name}`: use 1 to 63 lowercase letters, digits and underscores, not starting with a digit"
    )]
    InvalidSchema {
        /// The rejected name.
        name: String,
    },
    /// A migration name that cannot become a file name.
    #[error(
        "invalid migration name `{name}`: use 1 to 64 lowercase letters, digits and underscores, such as `add_users`"
    )]
    InvalidMigrationName {
        /// The rejected name.
        name: String,
    },
    /// The migrations directory could not be read or written.
    #[error("cannot use migrations directory `{}`", path.display())]
    MigrationsDir {
        /// The directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
}

impl PgError {
    /// Whether the same call may succeed if retried later (the server was unreachable, the
    /// pool timed out, a serialization conflict…).
    pub fn is_transient(&self) -> bool {
        match self {
            PgError::Database(err) => classify(err) == Class::Unavailable || is_retryable(err),
            PgError::Migrate(MigrateError::Execute(err)) => {
                classify(err) == Class::Unavailable || is_retryable(err)
            }
            _ => false,
        }
    }
}

/// How a `sqlx::Error` maps onto the core error.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    Unavailable,
    Closed,
    BadInput,
    Other,
}

/// SQLSTATE classes and codes: <https://www.postgresql.org/docs/current/errcodes-appendix.html>.
fn classify(err: &sqlx::Error) -> Class {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => Class::Unavailable,
        sqlx::Error::PoolClosed => Class::Closed,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // connection exception; admin/crash shutdown; cannot connect now; too many connections
            Some(code)
                if code.starts_with("08")
                    || matches!(code, "57P01" | "57P02" | "57P03" | "53300") =>
            {
                Class::Unavailable
            }
            // integrity constraint violation, data exception
            Some(code) if code.starts_with("23") || code.starts_with("22") => Class::BadInput,
            _ => Class::Other,
        },
        _ => Class::Other,
    }
}

/// Errors other than unavailability that a retry may clear: serialization failures, deadlocks,
/// lock timeouts, statement timeouts and resource exhaustion.
fn is_retryable(err: &sqlx::Error) -> bool {
    let Some(db) = err.as_database_error() else {
        return false;
    };
    db.code().is_some_and(|code| {
        code.starts_with("53") || matches!(&*code, "40001" | "40P01" | "55P03" | "57014")
    })
}

/// What a rejected value was wrong with, for a person to act on.
fn bad_input(db: &dyn sqlx::error::DatabaseError) -> InvalidInput {
    let code = db.code().unwrap_or_default();
    let (what, reason) = match &*code {
        "22P05" => (
            "payload",
            "PostgreSQL cannot store the NUL character (\\u0000) in text or JSON; remove or replace it",
        ),
        "22001" => ("event", "a field is longer than its column allows"),
        "23502" => ("event", "a required field is missing"),
        "23505" => ("event", "a row with this unique value already exists"),
        "23514" => (
            "event",
            "a field breaks a check constraint of the events table",
        ),
        _ => ("event", "the database rejected a value"),
    };
    let value = db.constraint().unwrap_or_else(|| db.message());
    InvalidInput::InvalidName {
        what,
        value: value.escape_debug().take(120).collect(),
        reason,
    }
}

/// Maps a query error of the event store onto the core error.
pub(crate) fn into_core(err: sqlx::Error) -> Error {
    PgError::Database(err).into()
}

impl From<PgError> for Error {
    fn from(err: PgError) -> Self {
        let transient = err.is_transient();
        match err {
            PgError::Database(sqlx) => match classify(&sqlx) {
                Class::Unavailable => Error::unavailable(sqlx),
                Class::Closed => Error::Closed,
                Class::BadInput => match sqlx.as_database_error() {
                    Some(db) => Error::InvalidInput(bad_input(db)),
                    None => Error::backend(sqlx),
                },
                Class::Other if transient => Error::transient(sqlx),
                Class::Other => Error::backend(sqlx),
            },
            PgError::InvalidSchema { name } => Error::InvalidInput(InvalidInput::InvalidName {
                what: "schema",
                value: name.escape_debug().take(120).collect(),
                reason: "use 1 to 63 lowercase letters, digits and underscores, not starting with a digit",
            }),
            PgError::InvalidMigrationName { name } => {
                Error::InvalidInput(InvalidInput::InvalidName {
                    what: "migration name",
                    value: name.escape_debug().take(120).collect(),
                    reason: "use 1 to 64 lowercase letters, digits and underscores, such as `add_users`",
                })
            }
            other if transient => Error::transient(other),
            other => Error::backend(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use switchboard_core::ErrorKind;

    use super::*;

    #[test]
    fn connection_failures_are_unavailable_and_transient() {
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        for err in [
            sqlx::Error::Io(refused),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::WorkerCrashed,
        ] {
            let pg = PgError::from(err);
            assert!(pg.is_transient(), "{pg:?}");
            let core = Error::from(pg);
            assert_eq!(core.kind(), ErrorKind::Unavailable, "{core:?}");
            assert!(core.is_transient());
        }
    }

    #[test]
    fn other_failures_keep_their_cause_once() {
        let core = Error::from(PgError::from(sqlx::Error::Protocol("garbled".into())));
        assert_eq!(core.kind(), ErrorKind::Backend);
        assert!(!core.is_transient());
        assert_eq!(core.to_string(), "backend error");
        assert!(core.source().unwrap().to_string().contains("garbled"));
        assert_eq!(
            Error::from(PgError::from(sqlx::Error::PoolClosed)).kind(),
            ErrorKind::Closed
        );
    }

    #[test]
    fn bad_names_become_typed_bad_input() {
        let err = Error::from(PgError::InvalidMigrationName {
            name: "Bad Name".into(),
        });
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("add_users"), "{err}");
    }
}
