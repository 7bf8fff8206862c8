//! Users created for an external identity. One unique index does the
//! deciding: `external.issuer` + `external.subject`, sparse so that password
//! users (who have no `external`) are not in it. Two first calls race to
//! insert; the loser's duplicate-key error sends it to read the winner's
//! user, on every server sharing the database.

use mongodb::bson::doc;

use super::docs::UserDoc;
use super::error::{self, is_duplicate};
use super::query::find_one;
use super::MongoStore;
use crate::domain::User;
use crate::store::{missing_external_identity, StoreError};

impl MongoStore {
    pub(super) async fn find_or_insert_external_user(
        &self,
        candidate: &User,
    ) -> Result<User, StoreError> {
        let identity = candidate
            .external
            .as_ref()
            .ok_or_else(missing_external_identity)?;
        let filter = doc! {
            "external.issuer": identity.issuer(),
            "external.subject": identity.subject(),
        };
        if let Some(user) = find_one(self.users_coll(), filter.clone()).await? {
            return Ok(user);
        }
        match self
            .users_coll()
            .insert_one(UserDoc::from_domain(candidate))
            .await
        {
            Ok(_) => Ok(candidate.clone()),
            // Either index refused it: a concurrent first call's user (then
            // it is there to read) or a taken e-mail (then it is not).
            Err(e) if is_duplicate(&e) => find_one(self.users_coll(), filter)
                .await?
                .ok_or_else(|| StoreError::Conflict("email already registered".into())),
            Err(e) => Err(error::map(e)),
        }
    }
}
