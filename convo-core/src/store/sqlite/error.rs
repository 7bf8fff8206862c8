//! SQLite's errors in the store's terms. Matched by SQLite's result codes,
//! never by message text.

use rusqlite::ErrorCode;

use super::pool::{InteractError, PoolError};
use crate::store::StoreError;

/// What can go wrong in the SQLite layer, before it becomes a [`StoreError`].
#[derive(Debug, thiserror::Error)]
pub(super) enum SqliteError {
    /// SQLite (or rusqlite's conversion of a value) failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// No connection could be had from the pool.
    #[error("no SQLite connection: {0}")]
    Pool(#[from] PoolError),
    /// The blocking call panicked or was cancelled.
    #[error("a SQLite call did not finish: {0}")]
    Interact(String),
    /// The file was written by a newer Convo, whose schema this one cannot read.
    #[error(
        "the SQLite database {path} has schema version {found}, but this build of Convo knows \
         versions up to {known}: upgrade Convo, or point it at another file"
    )]
    NewerSchema {
        /// The file.
        path: String,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The newest version this build migrates to.
        known: i64,
    },
    /// A stored value does not read back as a domain value.
    #[error("corrupt data in the SQLite database: {0}")]
    Corrupt(String),
    /// An answer decided inside a transaction (e.g. the parent is gone).
    #[error(transparent)]
    Answer(StoreError),
}

impl From<InteractError> for SqliteError {
    fn from(e: InteractError) -> Self {
        SqliteError::Interact(e.to_string())
    }
}

impl From<StoreError> for SqliteError {
    fn from(e: StoreError) -> Self {
        SqliteError::Answer(e)
    }
}

/// Whether SQLite says "not now": the file is locked by another writer past
/// `busy_timeout`, the disk is full, the file is read-only or cannot be
/// opened, or I/O failed. The same call may succeed once the operator fixes
/// it, so these are [`StoreError::Unavailable`] (`503 store_unavailable`).
pub(super) fn is_unavailable(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::PermissionDenied
            | ErrorCode::OutOfMemory
            | ErrorCode::FileLockingProtocolFailed
    )
}

impl From<SqliteError> for StoreError {
    fn from(e: SqliteError) -> Self {
        match e {
            SqliteError::Answer(answer) => answer,
            SqliteError::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
                if is_unavailable(failure.code) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            SqliteError::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
                if failure.code == ErrorCode::ConstraintViolation =>
            {
                StoreError::Conflict(e.to_string())
            }
            SqliteError::Pool(PoolError::Backend(inner)) => SqliteError::Sqlite(inner).into(),
            SqliteError::Pool(_) => StoreError::Unavailable(e.to_string()),
            SqliteError::Sqlite(_)
            | SqliteError::Interact(_)
            | SqliteError::NewerSchema { .. }
            | SqliteError::Corrupt(_) => StoreError::Internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::ffi;

    use super::*;

    fn failure(code: i32) -> SqliteError {
        SqliteError::Sqlite(rusqlite::Error::SqliteFailure(
            ffi::Error::new(code),
            Some("from the test".into()),
        ))
    }

    #[test]
    fn busy_locked_full_read_only_and_io_failures_are_unavailable() {
        let cases = [
            ("busy", ffi::SQLITE_BUSY),
            ("locked", ffi::SQLITE_LOCKED),
            ("disk full", ffi::SQLITE_FULL),
            ("read-only", ffi::SQLITE_READONLY),
            (
                "read-only file (extended code)",
                ffi::SQLITE_READONLY_DBMOVED,
            ),
            ("cannot open", ffi::SQLITE_CANTOPEN),
            ("I/O error", ffi::SQLITE_IOERR_WRITE),
        ];
        for (what, code) in cases {
            let mapped = StoreError::from(failure(code));
            assert!(
                matches!(mapped, StoreError::Unavailable(_)),
                "{what} must be Unavailable, got {mapped:?}"
            );
        }
    }

    #[test]
    fn constraints_conflict_and_the_rest_is_internal() {
        assert!(matches!(
            StoreError::from(failure(ffi::SQLITE_CONSTRAINT_UNIQUE)),
            StoreError::Conflict(_)
        ));
        assert!(matches!(
            StoreError::from(failure(ffi::SQLITE_CORRUPT)),
            StoreError::Internal(_)
        ));
        assert_eq!(
            StoreError::from(SqliteError::Answer(StoreError::NotFound("agent"))),
            StoreError::NotFound("agent")
        );
    }
}
