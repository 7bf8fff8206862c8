//! Users and revoked tokens.

use futures::TryStreamExt;
use mongodb::bson::doc;

use super::docs::{to_bson, UserDoc};
use super::error::{is_duplicate, MapErr};
use super::query::*;
use super::*;
use crate::domain::{Email, Timestamp, User, UserId};
use crate::store::StoreError;

impl MongoStore {
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .store()
            .map(|_| ())
    }

    pub(super) async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        match self
            .users_coll()
            .insert_one(UserDoc::from_domain(user))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate(&e) => {
                Err(StoreError::Conflict("email already registered".into()))
            }
            Err(e) => Err(error::map(e)),
        }
    }

    pub(super) async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        find_one(self.users_coll(), doc! { "_id": id.to_string() }).await
    }

    pub(super) async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        find_one(self.users_coll(), doc! { "email": email.as_str() }).await
    }

    pub(super) async fn revoke_token(
        &self,
        jti: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.revoked_coll()
            .update_one(
                doc! { "_id": jti },
                doc! { "$set": { "expires_at": to_bson(expires_at) } },
            )
            .upsert(true)
            .await
            .store()?;
        Ok(())
    }

    /// One round trip: the user, joined with the token's revocation by an
    /// uncorrelated `$lookup` (a sub-pipeline with no `localField`, MongoDB
    /// 3.6 and later; MongoDB manual, "$lookup (aggregation stage)",
    /// consulted 2026-12-01), kept only when no revocation matched.
    pub(super) async fn authenticate(
        &self,
        user: &UserId,
        jti: &str,
    ) -> Result<Option<User>, StoreError> {
        let pipeline = vec![
            doc! { "$match": { "_id": user.to_string() } },
            doc! { "$lookup": {
                "from": "revoked_tokens",
                "pipeline": [ { "$match": { "_id": jti } }, { "$project": { "_id": 1 } } ],
                "as": "revoked",
            }},
            doc! { "$match": { "revoked": { "$size": 0 } } },
            doc! { "$limit": 1 },
        ];
        // `UserDoc` ignores the extra `revoked` field.
        let mut found: Vec<UserDoc> = self
            .users_coll()
            .aggregate(pipeline)
            .with_type::<UserDoc>()
            .await
            .store()?
            .try_collect()
            .await
            .store()?;
        found.pop().map(UserDoc::into_domain).transpose()
    }

    pub(super) async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self
            .revoked_coll()
            .find_one(doc! { "_id": jti })
            .await
            .store()?
            .is_some())
    }
}
