//! Users and revoked tokens.

use rusqlite::{params, OptionalExtension};

use super::error::SqliteError;
use super::rows::{self, millis, USER_COLUMNS};
use super::SqliteStore;
use crate::domain::{now, Email, Timestamp, User, UserId};
use crate::store::StoreError;

impl SqliteStore {
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    pub(super) async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let user = user.clone();
        self.write(move |tx| {
            let inserted = tx.execute(
                "INSERT INTO users (id, email, name, password_hash, created_at, \
                 external_issuer, external_subject) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (email) DO NOTHING",
                params![
                    user.id.to_string(),
                    user.email.as_str(),
                    user.name,
                    rows::password_column(&user),
                    millis(user.created_at),
                    user.external.as_ref().map(|e| e.issuer()),
                    user.external.as_ref().map(|e| e.subject()),
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::Conflict("email already registered".into()).into());
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
            Ok(c.prepare_cached(&sql)?
                .query_row([id], rows::user)
                .optional()?)
        })
        .await
    }

    pub(super) async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let email = email.as_str().to_owned();
        self.read(move |c| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1");
            Ok(c.prepare_cached(&sql)?
                .query_row([email], rows::user)
                .optional()?)
        })
        .await
    }

    pub(super) async fn revoke_token(
        &self,
        jti: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let jti = jti.to_owned();
        self.write(move |tx| {
            // Expired entries can go: their tokens fail the expiry check anyway.
            tx.execute(
                "DELETE FROM revoked_tokens WHERE expires_at <= ?1",
                [millis(now())],
            )?;
            tx.execute(
                "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2) \
                 ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at",
                params![jti, millis(expires_at)],
            )?;
            Ok::<_, SqliteError>(())
        })
        .await
    }

    /// One statement: the user, unless the token is revoked.
    pub(super) async fn authenticate(
        &self,
        user: &UserId,
        jti: &str,
    ) -> Result<Option<User>, StoreError> {
        let (id, jti) = (user.to_string(), jti.to_owned());
        self.read(move |c| {
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id = ?1 \
                 AND NOT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ?2)"
            );
            Ok(c.prepare_cached(&sql)?
                .query_row([id, jti], rows::user)
                .optional()?)
        })
        .await
    }

    pub(super) async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let jti = jti.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM revoked_tokens WHERE jti = ?1")?
                    .exists([jti])?,
            )
        })
        .await
    }
}
