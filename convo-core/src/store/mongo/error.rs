//! Driver errors in the store's terms. Matched by kind and code, never by message text.

use mongodb::error::{Error, ErrorKind, WriteFailure};

use crate::store::StoreError;

/// MongoDB's duplicate-key error code.
pub(super) const DUPLICATE_KEY: i32 = 11000;

/// The server code of a command or write error, if any.
pub(super) fn code(err: &Error) -> Option<i32> {
    match err.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .and_then(|e| e.first())
            .map(|e| e.code),
        _ => None,
    }
}

/// Whether this is a duplicate-key error.
pub(super) fn is_duplicate(err: &Error) -> bool {
    code(err) == Some(DUPLICATE_KEY)
}

/// Whether a client-level `bulkWrite` failed only on duplicate keys: every
/// write error is one, and there is no other kind of failure.
pub(super) fn only_duplicates(err: &Error) -> bool {
    match err.kind.as_ref() {
        ErrorKind::BulkWrite(b) => {
            b.write_concern_errors.is_empty()
                && !b.write_errors.is_empty()
                && b.write_errors.values().all(|w| w.code == DUPLICATE_KEY)
        }
        _ => is_duplicate(err),
    }
}

/// The index of the first write a client-level `bulkWrite` refused as a
/// duplicate key, if that is how it failed.
pub(super) fn duplicate_at(err: &Error) -> Option<usize> {
    match err.kind.as_ref() {
        ErrorKind::BulkWrite(b) => b
            .write_errors
            .iter()
            .find(|(_, w)| w.code == DUPLICATE_KEY)
            .map(|(i, _)| *i),
        _ => None,
    }
}

/// Unreachable or slow servers are `Unavailable` (retryable); anything else `Internal`.
pub(super) fn map(err: Error) -> StoreError {
    let unreachable = matches!(
        err.kind.as_ref(),
        ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. } | ErrorKind::DnsResolve { .. }
    ) || err.contains_label("RetryableWriteError")
        || err.contains_label("TransientTransactionError")
        // Shutdown in progress, not primary, primary stepped down, etc.
        || matches!(code(&err), Some(6 | 7 | 89 | 91 | 189 | 10107 | 11600 | 11602 | 13435 | 13436));
    if unreachable {
        StoreError::Unavailable(err.to_string())
    } else {
        StoreError::Internal(err.to_string())
    }
}

/// `map` for `?`.
pub(super) trait MapErr<T> {
    /// Maps the driver error.
    fn store(self) -> Result<T, StoreError>;
}

impl<T> MapErr<T> for Result<T, Error> {
    fn store(self) -> Result<T, StoreError> {
        self.map_err(map)
    }
}
