//! Messages: `seq` allocation and the append (in a transaction where the
//! deployment has them), reads, forks, and idempotency records.

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;

use super::docs::{to_bson, IdempotencyDoc, MessageDoc, SessionDoc};
use super::error::MapErr;
use super::query::*;
use super::*;
use crate::domain::{
    now, ChatSession, Message, MessageDraft, MessageId, Page, PageRequest, SessionId,
};
use crate::store::{IdempotencyRecord, StoreError};

impl MongoStore {
    /// The seq of a message of `session`, for cursors.
    pub(super) async fn seq_of(
        &self,
        session: &SessionId,
        id: &MessageId,
    ) -> Result<i64, StoreError> {
        let found = self
            .messages_coll()
            .find_one(doc! { "_id": id.to_string(), "session_id": session.to_string() })
            .await
            .store()?;
        found.map(|m| m.seq).ok_or(StoreError::NotFound("message"))
    }

    /// `$inc` then insert, in a transaction where available.
    pub(super) async fn append_plain(
        &self,
        session: &SessionId,
        draft: &MessageDraft,
    ) -> Result<Message, StoreError> {
        let bumped = self
            .sessions_coll()
            .find_one_and_update(
                merge(doc! { "_id": session.to_string() }, live()),
                doc! { "$inc": { "message_count": 1 }, "$max": { "updated_at": to_bson(draft.created_at) } },
            )
            .return_document(ReturnDocument::After)
            .await
            .store()?
            .ok_or(StoreError::NotFound("chat session"))?;
        let message = draft
            .clone()
            .into_message(*session, u64::try_from(bumped.message_count).unwrap_or(0));
        self.messages_coll()
            .insert_one(MessageDoc::from_domain(&message))
            .await
            .store()?;
        Ok(message)
    }

    /// Our message as stored, by its id, in its session: the outcome of an
    /// append whose answer was lost.
    pub(super) async fn stored_message(
        &self,
        session: &SessionId,
        id: &MessageId,
    ) -> Result<Option<Message>, StoreError> {
        self.messages_coll()
            .find_one(doc! { "_id": id.to_string(), "session_id": session.to_string() })
            .await
            .store()?
            .map(MessageDoc::into_domain)
            .transpose()
    }

    pub(super) async fn append_in_transaction(
        &self,
        session: &SessionId,
        draft: &MessageDraft,
    ) -> Result<Message, StoreError> {
        let mut txn = self.client.start_session().await.store()?;
        let sessions = self.sessions_coll();
        let messages = self.messages_coll();
        let filter = merge(doc! { "_id": session.to_string() }, live());
        let update = doc! { "$inc": { "message_count": 1 }, "$max": { "updated_at": to_bson(draft.created_at) } };
        // Owned copies: the closure may run more than once, and borrowed
        // captures trip the compiler's Send inference (rust-lang/rust#96865).
        let (session, draft) = (*session, draft.clone());
        let result = txn
            .start_transaction()
            .and_run2(async move |s| {
                let bumped = sessions
                    .find_one_and_update(filter.clone(), update.clone())
                    .return_document(ReturnDocument::After)
                    .session(&mut *s)
                    .await?;
                let Some(bumped) = bumped else {
                    return Ok(None);
                };
                let message = draft
                    .clone()
                    .into_message(session, u64::try_from(bumped.message_count).unwrap_or(0));
                messages
                    .insert_one(MessageDoc::from_domain(&message))
                    .session(&mut *s)
                    .await?;
                Ok(Some(message))
            })
            .await
            .store()?;
        result.ok_or(StoreError::NotFound("chat session"))
    }

    pub(super) async fn append_message(
        &self,
        session: &SessionId,
        draft: MessageDraft,
    ) -> Result<Message, StoreError> {
        let appended = if self.transactions {
            self.append_in_transaction(session, &draft).await
        } else {
            self.append_plain(session, &draft).await
        };
        let message = match appended {
            Ok(message) => message,
            // A connection cut after the write landed: the driver's retry
            // (or the transaction's) then collides with our own message.
            // If it is there, the append succeeded (found by the
            // database-outage test under load).
            Err(e) => match self.stored_message(session, &draft.id).await {
                Ok(Some(stored)) => stored,
                _ => return Err(e),
            },
        };
        // A cascade may have tombstoned the session meanwhile: then undo.
        let still_live = merge(doc! { "_id": session.to_string() }, live());
        if self
            .sessions_coll()
            .find_one(still_live)
            .await
            .store()?
            .is_none()
        {
            self.messages_coll()
                .delete_one(doc! { "_id": message.id.to_string() })
                .await
                .store()?;
            return Err(StoreError::NotFound("chat session"));
        }
        Ok(message)
    }

    pub(super) async fn last_messages(
        &self,
        session: &SessionId,
        n: usize,
    ) -> Result<Vec<Message>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        // A bounded `seq` range, read upwards, rather than "sort descending,
        // limit n": the range is an index range on (session_id, seq) in every
        // engine, while some planners answer the descending sort by sorting
        // the whole session (measured: 22 ms at 10,000 messages, vs ~1 ms).
        let count = self
            .db
            .collection::<Document>("sessions")
            .find_one(doc! { "_id": session.to_string() })
            .projection(doc! { "message_count": 1 })
            .await
            .store()?
            .and_then(|d| match d.get("message_count") {
                Some(Bson::Int64(v)) => Some(*v),
                Some(Bson::Int32(v)) => Some(i64::from(*v)),
                _ => None,
            })
            .unwrap_or(0);
        let first = count.saturating_sub(i64::try_from(n).unwrap_or(i64::MAX));
        let docs: Vec<MessageDoc> = self
            .messages_coll()
            .find(doc! { "session_id": session.to_string(), "seq": { "$gt": first } })
            .sort(doc! { "seq": 1 })
            .limit(i64::try_from(n).unwrap_or(i64::MAX))
            .await
            .store()?
            .try_collect()
            .await
            .store()?;
        docs.into_iter().map(MessageDoc::into_domain).collect()
    }

    pub(super) async fn messages(
        &self,
        session: &SessionId,
        page: &PageRequest<MessageId>,
    ) -> Result<Page<Message>, StoreError> {
        let after = match &page.after {
            Some(id) => Some(self.seq_of(session, id).await?),
            None => None,
        };
        let before = match &page.before {
            Some(id) => Some(self.seq_of(session, id).await?),
            None => None,
        };
        let filter = doc! { "session_id": session.to_string() };
        find_page(
            self.messages_coll(),
            filter,
            "seq",
            after.map(Bson::Int64),
            before.map(Bson::Int64),
            page,
        )
        .await
    }

    pub(super) async fn insert_fork(
        &self,
        session: &ChatSession,
        from: &SessionId,
        up_to_seq: u64,
    ) -> Result<(), StoreError> {
        // Copies only from the fork owner's own session.
        if self
            .sessions_coll()
            .find_one(owned(&session.owner, from))
            .await
            .store()?
            .is_none()
        {
            return Err(StoreError::NotFound("chat session"));
        }
        let up_to = i64::try_from(up_to_seq).unwrap_or(i64::MAX);
        let copied = doc! { "session_id": from.to_string(), "seq": { "$lte": up_to } };
        if self
            .messages_coll()
            .count_documents(copied.clone())
            .await
            .store()?
            != up_to_seq
        {
            return Err(StoreError::NotFound("message"));
        }
        // Inserted as a tombstone, so no one sees it (and a cascade deletes
        // it) until every message is in; then brought to life.
        let mut doc = SessionDoc::from_domain(session);
        doc.message_count = up_to;
        doc.deleted = true;
        let parent = super::resources::session_parent(session);
        insert_under(
            self.agents_coll(),
            parent,
            "agent",
            self.sessions_coll(),
            &doc,
            &session.id,
        )
        .await?;
        let copy = async {
            let mut cursor = self
                .messages_coll()
                .find(copied)
                .sort(doc! { "seq": 1 })
                .await
                .store()?;
            let mut batch = Vec::with_capacity(FORK_BATCH);
            while let Some(original) = cursor.try_next().await.store()? {
                batch.push(MessageDoc {
                    id: MessageId::new().to_string(),
                    session_id: session.id.to_string(),
                    ..original
                });
                if batch.len() == FORK_BATCH {
                    self.messages_coll()
                        .insert_many(std::mem::take(&mut batch))
                        .await
                        .store()?;
                }
            }
            if !batch.is_empty() {
                self.messages_coll().insert_many(batch).await.store()?;
            }
            let live_again = self
                .sessions_coll()
                .update_one(
                    doc! { "_id": session.id.to_string(), "deleted": true },
                    doc! { "$set": { "deleted": false } },
                )
                .await
                .store()?;
            if live_again.matched_count == 1 {
                Ok(())
            } else {
                Err(StoreError::NotFound("agent"))
            }
        };
        let result: Result<(), StoreError> = copy.await;
        if result.is_err() {
            // Best effort: what was copied is invisible either way.
            let _ = self
                .delete_sessions(doc! { "_id": session.id.to_string() })
                .await;
        }
        result
    }

    pub(super) async fn idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        // The TTL monitor runs about once a minute: filter expired ones out too.
        let filter = doc! { "_id": IdempotencyDoc::key(session, key), "expires_at": { "$gt": to_bson(now()) } };
        self.idempotency_coll()
            .find_one(filter)
            .await
            .store()?
            .map(IdempotencyDoc::into_domain)
            .transpose()
    }

    pub(super) async fn save_idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let doc = IdempotencyDoc::from_domain(session, key, record);
        self.idempotency_coll()
            .replace_one(doc! { "_id": &doc.id }, &doc)
            .upsert(true)
            .await
            .store()?;
        Ok(())
    }
}
