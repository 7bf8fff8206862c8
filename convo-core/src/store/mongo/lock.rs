//! The turn lock: a lease on the session document, and cancel requests.

use std::time::Duration;

use mongodb::bson::{doc, Bson};

use super::docs::to_bson;
use super::error::MapErr;
use super::query::*;
use super::*;
use crate::domain::{now, SessionId};
use crate::store::StoreError;

impl MongoStore {
    /// The answer to a conditional lock update that matched nothing: `false`
    /// when the session is there (the condition did not hold), not found
    /// when it is not.
    pub(super) async fn unmatched_lock_update(
        &self,
        session: &SessionId,
    ) -> Result<bool, StoreError> {
        let exists = self
            .sessions_coll()
            .find_one(merge(doc! { "_id": session.to_string() }, live()))
            .await
            .store()?;
        match exists {
            Some(_) => Ok(false),
            None => Err(StoreError::NotFound("chat session")),
        }
    }

    pub(super) async fn try_lock_turn(
        &self,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        // Take a free or expired lock (with no cancel request), or renew
        // our own (keeping one).
        let free = merge(
            doc! {
                "_id": session.to_string(),
                "$or": [
                    { "lock_holder": Bson::Null },
                    { "lock_until": { "$lte": to_bson(now) } },
                ],
            },
            live(),
        );
        let take = doc! { "$set": { "lock_holder": holder, "lock_until": to_bson(until), "lock_cancel": false } };
        if self
            .sessions_coll()
            .update_one(free, take)
            .await
            .store()?
            .matched_count
            == 1
        {
            return Ok(true);
        }
        let ours = merge(
            doc! { "_id": session.to_string(), "lock_holder": holder },
            live(),
        );
        let renew = doc! { "$set": { "lock_until": to_bson(until) } };
        if self
            .sessions_coll()
            .update_one(ours, renew)
            .await
            .store()?
            .matched_count
            == 1
        {
            return Ok(true);
        }
        self.unmatched_lock_update(session).await
    }

    pub(super) async fn unlock_turn(
        &self,
        session: &SessionId,
        holder: &str,
    ) -> Result<(), StoreError> {
        self.sessions_coll()
            .update_one(
                doc! { "_id": session.to_string(), "lock_holder": holder },
                doc! { "$set": { "lock_holder": Bson::Null, "lock_until": Bson::Null, "lock_cancel": false } },
            )
            .await
            .store()?;
        Ok(())
    }

    pub(super) async fn cancel_turn(&self, session: &SessionId) -> Result<bool, StoreError> {
        let filter = merge(
            doc! {
                "_id": session.to_string(),
                "lock_holder": { "$ne": Bson::Null },
                "lock_until": { "$gt": to_bson(now()) },
            },
            live(),
        );
        let result = self
            .sessions_coll()
            .update_one(filter, doc! { "$set": { "lock_cancel": true } })
            .await
            .store()?;
        if result.matched_count == 1 {
            return Ok(true);
        }
        self.unmatched_lock_update(session).await
    }

    pub(super) async fn turn_cancel_requested(
        &self,
        session: &SessionId,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let filter =
            doc! { "_id": session.to_string(), "lock_holder": holder, "lock_cancel": true };
        Ok(self
            .sessions_coll()
            .find_one(filter)
            .await
            .store()?
            .is_some())
    }
}
