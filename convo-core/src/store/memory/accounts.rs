//! Users and revoked tokens.

use super::Inner;
use crate::domain::{now, Email, Timestamp, User, UserId};
use crate::store::StoreError;

impl Inner {
    pub(super) fn insert_user(&mut self, user: &User) -> Result<(), StoreError> {
        if self.users_by_email.contains_key(&user.email) {
            return Err(StoreError::Conflict("email already registered".into()));
        }
        if let Some(identity) = &user.external {
            if self.users_by_external.contains_key(identity) {
                return Err(StoreError::Conflict(
                    "external identity already has a user".into(),
                ));
            }
            self.users_by_external.insert(identity.clone(), user.id);
        }
        self.users_by_email.insert(user.email.clone(), user.id);
        self.users.insert(user.id, user.clone());
        Ok(())
    }

    pub(super) fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        Ok(self.users.get(id).cloned())
    }

    pub(super) fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        Ok(self
            .users_by_email
            .get(email)
            .and_then(|id| self.users.get(id))
            .cloned())
    }

    pub(super) fn revoke_token(
        &mut self,
        jti: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let now = now();
        // Expired entries can go: their tokens fail the expiry check anyway.
        self.revoked.retain(|_, exp| *exp > now);
        self.revoked.insert(jti.to_owned(), expires_at);
        Ok(())
    }

    pub(super) fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.revoked.contains_key(jti))
    }

    /// Both questions under one lock: no revocation can land between them.
    pub(super) fn authenticate(
        &self,
        user: &UserId,
        jti: &str,
    ) -> Result<Option<User>, StoreError> {
        if self.revoked.contains_key(jti) {
            return Ok(None);
        }
        self.user(user)
    }
}
