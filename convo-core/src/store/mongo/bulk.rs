//! Bulk append: many messages to one session in one `$inc` and one
//! `insert_many`, in a transaction where the deployment has them.

use std::collections::HashSet;

use mongodb::bson::{doc, Document};
use mongodb::options::ReturnDocument;

use super::docs::{to_bson, MessageDoc};
use super::error::MapErr;
use super::query::*;
use super::*;
use crate::domain::{now, Message, MessageDraft, SessionId};
use crate::store::StoreError;

/// The stored messages for `drafts`, given the session's count after the `$inc`.
fn allocate(session: SessionId, drafts: &[MessageDraft], count_after: i64) -> Vec<Message> {
    let first = u64::try_from(count_after - drafts.len() as i64 + 1).unwrap_or(1);
    drafts
        .iter()
        .cloned()
        .zip(first..)
        .map(|(draft, seq)| draft.into_message(session, seq))
        .collect()
}

impl MongoStore {
    pub(super) async fn append_messages(
        &self,
        session: &SessionId,
        drafts: Vec<MessageDraft>,
    ) -> Result<Vec<Message>, StoreError> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        // Refused before any write, so even without transactions a repeated
        // id stores nothing.
        let mut ids = HashSet::with_capacity(drafts.len());
        if !drafts.iter().all(|d| ids.insert(d.id)) {
            return Err(StoreError::Conflict(
                "message id repeated in a batch".into(),
            ));
        }
        let n = i64::try_from(drafts.len()).unwrap_or(i64::MAX);
        let newest = drafts
            .iter()
            .map(|d| d.created_at)
            .max()
            .unwrap_or_else(now);
        let filter = merge(doc! { "_id": session.to_string() }, live());
        let update =
            doc! { "$inc": { "message_count": n }, "$max": { "updated_at": to_bson(newest) } };
        let stored = if self.transactions {
            self.bulk_in_transaction(*session, drafts, filter, update)
                .await?
        } else {
            self.bulk_plain(*session, &drafts, filter, update).await?
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
            self.delete_batch(session, &stored).await?;
            return Err(StoreError::NotFound("chat session"));
        }
        if let Some(last) = stored.last() {
            self.note_count(session, last.seq);
        }
        Ok(stored)
    }

    async fn bulk_in_transaction(
        &self,
        session: SessionId,
        drafts: Vec<MessageDraft>,
        filter: Document,
        update: Document,
    ) -> Result<Vec<Message>, StoreError> {
        let mut txn = self.client.start_session().await.store()?;
        let (sessions, messages) = (self.sessions_coll(), self.messages_coll());
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
                let stored = allocate(session, &drafts, bumped.message_count);
                messages
                    .insert_many(
                        stored
                            .iter()
                            .map(|m| MessageDoc::owned_by(m, &bumped.owner)),
                    )
                    .session(&mut *s)
                    .await?;
                Ok(Some(stored))
            })
            .await
            .store()?;
        result.ok_or(StoreError::NotFound("chat session"))
    }

    /// Without transactions: reserve the seqs, insert; on failure delete what
    /// landed and give the seqs back if no append came after ours (else the
    /// gap stays, as a crash between `$inc` and insert leaves one).
    async fn bulk_plain(
        &self,
        session: SessionId,
        drafts: &[MessageDraft],
        filter: Document,
        update: Document,
    ) -> Result<Vec<Message>, StoreError> {
        let bumped = self
            .sessions_coll()
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After)
            .await
            .store()?
            .ok_or(StoreError::NotFound("chat session"))?;
        let stored = allocate(session, drafts, bumped.message_count);
        let inserted = self
            .messages_coll()
            .insert_many(
                stored
                    .iter()
                    .map(|m| MessageDoc::owned_by(m, &bumped.owner)),
            )
            .await
            .store();
        if let Err(e) = inserted {
            let _ = self.delete_batch(&session, &stored).await;
            let n = stored.len() as i64;
            let _ = self
                .sessions_coll()
                .update_one(
                    doc! { "_id": session.to_string(), "message_count": bumped.message_count },
                    doc! { "$inc": { "message_count": -n } },
                )
                .await;
            return Err(e);
        }
        Ok(stored)
    }

    /// Deletes a batch's messages by their seqs (never another message that
    /// shares an id with one of them).
    async fn delete_batch(&self, session: &SessionId, batch: &[Message]) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(());
        };
        let seqs = doc! { "$gte": first.seq as i64, "$lte": last.seq as i64 };
        self.messages_coll()
            .delete_many(doc! { "session_id": session.to_string(), "seq": seqs })
            .await
            .store()?;
        Ok(())
    }
}
