//! Users created for an external identity: found or made under the one
//! write lock, so two first calls for one identity make one user.

use super::Inner;
use crate::domain::User;
use crate::store::{missing_external_identity, StoreError};

impl Inner {
    pub(super) fn find_or_insert_external_user(
        &mut self,
        candidate: &User,
    ) -> Result<User, StoreError> {
        let identity = candidate
            .external
            .as_ref()
            .ok_or_else(missing_external_identity)?;
        let found = self
            .users_by_external
            .get(identity)
            .and_then(|id| self.users.get(id));
        if let Some(user) = found {
            return Ok(user.clone());
        }
        // Indexes the identity too; `Conflict` on a taken e-mail.
        self.insert_user(candidate)?;
        Ok(candidate.clone())
    }
}
