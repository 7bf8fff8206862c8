//! The turn lock: a lease on the session document, and cancel requests.

use std::time::Duration;

use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{InsertOneModel, ReturnDocument, UpdateOneModel, WriteModel};

use super::docs::to_bson;
use super::error::{is_duplicate, only_duplicates, MapErr};
use super::query::*;
use super::*;
use crate::domain::{now, ChatSession, SessionId, UsageRecord, UserId};
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
        owner: &UserId,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<ChatSession>, StoreError> {
        let now = now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        // The owner in every filter: someone else's session is not found,
        // and its lock never touched.
        let mine = owned(owner, session);
        // Take a free or expired lock (with no cancel request), or renew
        // our own (keeping one). A renewal (this handle holds the lock)
        // tries its own case first: one round trip either way.
        let free = merge(
            mine.clone(),
            doc! { "$or": [
                { "lock_holder": Bson::Null },
                { "lock_until": { "$lte": to_bson(now) } },
            ]},
        );
        let take = doc! { "$set": { "lock_holder": holder, "lock_until": to_bson(until), "lock_cancel": false } };
        let ours = merge(mine.clone(), doc! { "lock_holder": holder });
        let renew = doc! { "$set": { "lock_until": to_bson(until) } };
        let renewing = self.held().get(session).is_some_and(|h| h.holder == holder);
        let attempts = if renewing {
            [(ours, renew), (free, take)]
        } else {
            [(free, take), (ours, renew)]
        };
        for (filter, update) in attempts {
            let locked = self
                .sessions_coll()
                .find_one_and_update(filter, update)
                .return_document(ReturnDocument::After)
                .await
                .store()?;
            if let Some(doc) = locked {
                let session = doc.into_domain()?;
                self.note_held(&session, holder);
                return Ok(Some(session));
            }
        }
        let exists = self
            .sessions_coll()
            .clone_with_type::<Document>()
            .find_one(mine)
            .projection(doc! { "_id": 1 })
            .await
            .store()?;
        match exists {
            Some(_) => Ok(None),
            None => Err(StoreError::NotFound("chat session")),
        }
    }

    /// Remembers that this handle holds `session`'s lock, and its count.
    fn note_held(&self, session: &ChatSession, holder: &str) {
        let count = i64::try_from(session.message_count).unwrap_or(i64::MAX);
        self.lengths.note(&session.id, count);
        let mut held = self.held();
        match held.get_mut(&session.id) {
            // A renewal: our own appends may be ahead of a count read now.
            Some(h) if h.holder == holder => h.count = h.count.max(count),
            _ => {
                held.insert(
                    session.id,
                    Held {
                        holder: holder.to_owned(),
                        owner: session.owner.to_string(),
                        count,
                    },
                );
            }
        }
    }

    /// Forgets that this handle holds `session`'s lock (if `holder` does).
    pub(super) fn forget_held(&self, session: &SessionId, holder: &str) {
        let mut held = self.held();
        if held.get(session).is_some_and(|h| h.holder == holder) {
            held.remove(session);
        }
    }

    /// A release's update: the lock's fields cleared where `holder` still
    /// holds it (filter, update).
    pub(super) fn release_update(session: &SessionId, holder: &str) -> (Document, Document) {
        (
            doc! { "_id": session.to_string(), "lock_holder": holder },
            doc! { "$set": { "lock_holder": Bson::Null, "lock_until": Bson::Null, "lock_cancel": false } },
        )
    }

    /// A release's usage entry. Its `_id` is the lock's (session and
    /// holder): a release retried after a lost answer meets its own entry,
    /// a duplicate key.
    fn release_entry(session: &SessionId, holder: &str, record: &UsageRecord) -> Document {
        merge(
            doc! { "_id": format!("{session}/{holder}") },
            super::usage::usage_entry(record),
        )
    }

    /// The writes of a release, for a `bulkWrite`.
    fn release_models(
        &self,
        session: &SessionId,
        holder: &str,
        usage: Option<&UsageRecord>,
    ) -> Vec<WriteModel> {
        let (filter, update) = Self::release_update(session, holder);
        let release = WriteModel::UpdateOne(
            UpdateOneModel::builder()
                .namespace(self.sessions_coll().namespace())
                .filter(filter)
                .update(update)
                .build(),
        );
        std::iter::once(release)
            .chain(self.release_entry_model(session, holder, usage))
            .collect()
    }

    /// A release's usage entry as a `bulkWrite` insert (none without usage).
    pub(super) fn release_entry_model(
        &self,
        session: &SessionId,
        holder: &str,
        usage: Option<&UsageRecord>,
    ) -> Option<WriteModel> {
        usage.map(|record| {
            WriteModel::InsertOne(
                InsertOneModel::builder()
                    .namespace(self.db.collection::<Document>("usage").namespace())
                    .document(Self::release_entry(session, holder, record))
                    .build(),
            )
        })
    }

    pub(super) async fn unlock_turn(
        &self,
        session: &SessionId,
        holder: &str,
        usage: Option<&UsageRecord>,
    ) -> Result<(), StoreError> {
        self.forget_held(session, holder);
        if !self.bulk_write || usage.is_none() {
            let (filter, update) = Self::release_update(session, holder);
            self.sessions_coll()
                .update_one(filter, update)
                .await
                .store()?;
            let Some(record) = usage else {
                return Ok(());
            };
            let entry = Self::release_entry(session, holder, record);
            return match self
                .db
                .collection::<Document>("usage")
                .insert_one(entry)
                .await
            {
                Err(e) if !is_duplicate(&e) => Err(error::map(e)),
                _ => Ok(()),
            };
        }
        // One round trip; unordered, so a duplicate entry (a retry) does
        // not stop the release.
        let models = self.release_models(session, holder, usage);
        match self.client.bulk_write(models).ordered(false).await {
            Err(e) if !only_duplicates(&e) => Err(error::map(e)),
            _ => Ok(()),
        }
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
