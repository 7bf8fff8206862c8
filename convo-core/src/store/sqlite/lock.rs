//! The turn lock: a lease on the session row, taken by one conditional
//! update under the write lock, so it excludes across connections and
//! processes alike. Leases are wall-clock milliseconds, as every process on
//! the file must agree on them.

use std::time::Duration;

use rusqlite::{params, Connection};

use rusqlite::OptionalExtension;

use super::error::SqliteError;
use super::rows::{self, millis, SESSION_COLUMNS};
use super::SqliteStore;
use crate::domain::{now, ChatSession, SessionId, UserId};
use crate::store::StoreError;

/// The answer to a conditional update that matched nothing: `false` when
/// the session is there (the condition did not hold), not found when not.
fn unmatched(conn: &Connection, session: &str) -> Result<bool, SqliteError> {
    if conn
        .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1")?
        .exists([session])?
    {
        Ok(false)
    } else {
        Err(StoreError::NotFound("chat session").into())
    }
}

/// The owner's session, read in the lock's transaction.
fn owned_session(
    conn: &Connection,
    owner: &str,
    session: &str,
) -> Result<Option<ChatSession>, SqliteError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1 AND owner = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([session, owner], rows::session)
        .optional()?)
}

impl SqliteStore {
    pub(super) async fn try_lock_turn(
        &self,
        owner: &UserId,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<ChatSession>, StoreError> {
        let (owner, session, holder) = (owner.to_string(), session.to_string(), holder.to_owned());
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        self.write(move |tx| {
            // Someone else's session is not found, and its lock untouched.
            if owned_session(tx, &owner, &session)?.is_none() {
                return Err(StoreError::NotFound("chat session").into());
            }
            let at = now();
            // Free, expired, or ours (a renewal keeps a cancel request).
            let taken = tx
                .prepare_cached(
                    "UPDATE sessions SET lock_holder = ?2, lock_until = ?3, \
                     lock_cancel = CASE WHEN lock_holder = ?2 THEN lock_cancel ELSE 0 END \
                     WHERE id = ?1 \
                     AND (lock_holder IS NULL OR lock_until <= ?4 OR lock_holder = ?2)",
                )?
                .execute(params![session, holder, millis(at + lease), millis(at)])?;
            if taken == 1 {
                return owned_session(tx, &owner, &session);
            }
            Ok(None)
        })
        .await
    }

    pub(super) async fn unlock_turn(
        &self,
        session: &SessionId,
        holder: &str,
    ) -> Result<(), StoreError> {
        let (session, holder) = (session.to_string(), holder.to_owned());
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE sessions SET lock_holder = NULL, lock_until = NULL, lock_cancel = 0 \
                 WHERE id = ?1 AND lock_holder = ?2",
            )?
            .execute([session, holder])?;
            Ok(())
        })
        .await
    }

    pub(super) async fn cancel_turn(&self, session: &SessionId) -> Result<bool, StoreError> {
        let session = session.to_string();
        self.write(move |tx| {
            let marked = tx
                .prepare_cached(
                    "UPDATE sessions SET lock_cancel = 1 \
                     WHERE id = ?1 AND lock_holder IS NOT NULL AND lock_until > ?2",
                )?
                .execute(params![session, millis(now())])?;
            if marked == 1 {
                return Ok(true);
            }
            unmatched(tx, &session)
        })
        .await
    }

    pub(super) async fn turn_cancel_requested(
        &self,
        session: &SessionId,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let (session, holder) = (session.to_string(), holder.to_owned());
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM sessions WHERE id = ?1 AND lock_holder = ?2 AND lock_cancel = 1",
            )?
            .exists([session, holder])?)
        })
        .await
    }
}
