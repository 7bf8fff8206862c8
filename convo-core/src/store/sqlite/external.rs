//! Users created for an external identity, found or made in one write
//! transaction; the UNIQUE index on the identity (migration 0003) holds the
//! rule across processes sharing the file.

use rusqlite::{params, OptionalExtension, Transaction};

use super::error::SqliteError;
use super::rows::{self, USER_COLUMNS};
use super::SqliteStore;
use crate::domain::{ExternalIdentity, User};
use crate::store::{missing_external_identity, StoreError};

/// The user with this identity, on any connection.
fn by_identity(
    conn: &rusqlite::Connection,
    identity: &ExternalIdentity,
) -> Result<Option<User>, SqliteError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE external_issuer = ?1 AND external_subject = ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![identity.issuer(), identity.subject()], rows::user)
        .optional()?)
}

impl SqliteStore {
    pub(super) async fn find_or_insert_external_user(
        &self,
        candidate: &User,
    ) -> Result<User, StoreError> {
        let identity = candidate
            .external
            .clone()
            .ok_or_else(missing_external_identity)?;
        // Every call but the first finds the user: a read keeps those off
        // the single writer.
        let wanted = identity.clone();
        if let Some(user) = self.read(move |c| by_identity(c, &wanted)).await? {
            return Ok(user);
        }
        let candidate = candidate.clone();
        self.write(move |tx| insert_unless_found(tx, &identity, candidate))
            .await
    }
}

/// Under the write lock, so a concurrent first call (this process or
/// another) has either committed its user, found here, or not started.
fn insert_unless_found(
    tx: &Transaction<'_>,
    identity: &ExternalIdentity,
    candidate: User,
) -> Result<User, SqliteError> {
    if let Some(user) = by_identity(tx, identity)? {
        return Ok(user);
    }
    let inserted = tx.execute(
        "INSERT INTO users (id, email, name, password_hash, created_at, \
         external_issuer, external_subject) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (email) DO NOTHING",
        params![
            candidate.id.to_string(),
            candidate.email.as_str(),
            candidate.name,
            rows::password_column(&candidate),
            rows::millis(candidate.created_at),
            identity.issuer(),
            identity.subject(),
        ],
    )?;
    if inserted == 0 {
        return Err(SqliteError::Answer(StoreError::Conflict(
            "email already registered".into(),
        )));
    }
    Ok(candidate)
}
