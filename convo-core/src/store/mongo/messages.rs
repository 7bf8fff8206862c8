//! Messages: `seq` allocation and the append (in a transaction where the
//! deployment has them), reads, forks, and idempotency records.

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{InsertOneModel, ReturnDocument, UpdateOneModel, WriteModel};

use super::docs::{to_bson, IdempotencyDoc, MessageDoc, OwnedMessageDoc, SessionDoc};
use super::error::{duplicate_at, MapErr};
use super::query::*;
use super::window::{self, Bounds};
use super::*;
use crate::domain::UsageRecord;
use crate::domain::{
    now, ChatSession, Message, MessageDraft, MessageId, Page, PageRequest, SessionId, UserId,
};
use crate::store::{IdempotencyRecord, StoreError};

/// A release to go with an append (see [`MongoStore::append_and_unlock`]).
struct Release<'a> {
    holder: &'a str,
    usage: Option<&'a UsageRecord>,
}

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
            .insert_one(MessageDoc::owned_by(&message, &bumped.owner))
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
                    .insert_one(MessageDoc::owned_by(&message, &bumped.owner))
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
        let held = self.held().get(session).cloned();
        if let Some(held) = held.filter(|_| self.bulk_write) {
            if let Some((message, _)) = self.append_held(session, &held, &draft, None).await? {
                return Ok(message);
            }
            // The count was stale: put it right from the messages, then
            // append as anyone would.
            self.repair_count(session).await?;
        }
        let message = self.append_counted(session, draft).await?;
        self.note_count(session, message.seq);
        Ok(message)
    }

    /// The turn's last append and its release: while this handle holds the
    /// lock, one `bulkWrite` of the insert, the count, the release and the
    /// usage entry; otherwise (or when the count was stale) the append and
    /// then the release.
    pub(super) async fn append_and_unlock(
        &self,
        session: &SessionId,
        holder: &str,
        draft: MessageDraft,
        usage: Option<&UsageRecord>,
    ) -> Result<(Message, bool), StoreError> {
        let held = self.held().get(session).cloned();
        if let Some(held) = held.filter(|h| self.bulk_write && h.holder == holder) {
            let release = Release { holder, usage };
            match self
                .append_held(session, &held, &draft, Some(release))
                .await?
            {
                Some((message, true)) => {
                    self.forget_held(session, holder);
                    return Ok((message, true));
                }
                // Stored, but whether the rest landed is unknown: release again.
                Some((message, false)) => {
                    let released = self.unlock_turn(session, holder, usage).await.is_ok();
                    return Ok((message, released));
                }
                None => self.repair_count(session).await?,
            }
        }
        crate::store::append_then_unlock(self, session, holder, draft, usage).await
    }

    /// The append while this handle holds the session's lock: the next seq
    /// is known, so the insert and the count's `$max` go in one `bulkWrite`
    /// (ordered: nothing after an insert that failed). The count's filter
    /// is also the check that the session is still live. With `release`,
    /// the same update of the session clears the lock where this handle
    /// still holds it, and the usage entry follows: one write to the
    /// session, not two. Should that update match nothing (the lock was
    /// lost, or the session deleted), the count is written on its own,
    /// which tells the two apart. `None` when the seq was taken (the count
    /// was stale: the lease ran out and someone else appended, or a crash
    /// left a message uncounted); otherwise the message and whether every
    /// write of the `bulkWrite` is known to have landed (not after a lost
    /// answer).
    async fn append_held(
        &self,
        session: &SessionId,
        held: &Held,
        draft: &MessageDraft,
        release: Option<Release<'_>>,
    ) -> Result<Option<(Message, bool)>, StoreError> {
        let seq = held.count + 1;
        let message = draft
            .clone()
            .into_message(*session, u64::try_from(seq).unwrap_or(0));
        let live_session = merge(doc! { "_id": session.to_string() }, live());
        let count = doc! { "$max": {
            "message_count": seq,
            "updated_at": to_bson(draft.created_at),
        }};
        let (filter, update) = match &release {
            Some(release) => {
                let (holding, clear) = Self::release_update(session, release.holder);
                (
                    merge(live_session.clone(), holding),
                    merge(count.clone(), clear),
                )
            }
            None => (live_session.clone(), count.clone()),
        };
        let mut models = vec![
            WriteModel::InsertOne(
                InsertOneModel::builder()
                    .namespace(self.messages_coll().namespace())
                    .document(
                        mongodb::bson::to_document(&MessageDoc::owned_by(&message, &held.owner))
                            .map_err(|e| StoreError::Internal(e.to_string()))?,
                    )
                    .build(),
            ),
            WriteModel::UpdateOne(
                UpdateOneModel::builder()
                    .namespace(self.sessions_coll().namespace())
                    .filter(filter)
                    .update(update)
                    .build(),
            ),
        ];
        if let Some(release) = &release {
            models.extend(self.release_entry_model(session, release.holder, release.usage));
        }
        let matched = match self.client.bulk_write(models).verbose_results().await {
            Ok(result) => result
                .update_results
                .get(&1)
                .is_some_and(|u| u.matched_count == 1),
            Err(e) => match self.stored_message(session, &draft.id).await {
                // Our own insert landed before the answer was lost (or the
                // driver's retry met it); the count went with it.
                Ok(Some(stored)) => {
                    self.note_appended(session, &stored);
                    return Ok(Some((stored, false)));
                }
                Ok(None) if duplicate_at(&e) == Some(0) => return Ok(None),
                _ => return Err(error::map(e)),
            },
        };
        // A release that matched nothing: the lock was lost (the session is
        // live, and its count still ours to raise) or the session is gone.
        let live = if matched || release.is_none() {
            matched
        } else {
            match self.sessions_coll().update_one(live_session, count).await {
                Ok(counted) => counted.matched_count == 1,
                // The message is stored, the rest unknown: as after a lost
                // answer (the caller releases again; a later append repairs
                // the count).
                Err(_) => {
                    self.note_appended(session, &message);
                    return Ok(Some((message, false)));
                }
            }
        };
        if !live {
            // A cascade tombstoned the session meanwhile: undo.
            self.messages_coll()
                .delete_one(doc! { "_id": message.id.to_string() })
                .await
                .store()?;
            return Err(StoreError::NotFound("chat session"));
        }
        self.note_appended(session, &message);
        Ok(Some((message, true)))
    }

    /// Raises the session's `message_count` to its highest stored seq.
    async fn repair_count(&self, session: &SessionId) -> Result<(), StoreError> {
        let last = self
            .messages_coll()
            .find_one(doc! { "session_id": session.to_string() })
            .sort(doc! { "seq": -1 })
            .await
            .store()?;
        if let Some(last) = last {
            self.sessions_coll()
                .update_one(
                    doc! { "_id": session.to_string() },
                    doc! { "$max": { "message_count": last.seq } },
                )
                .await
                .store()?;
            self.note_count(session, u64::try_from(last.seq).unwrap_or(0));
        }
        Ok(())
    }

    /// Records a message this handle stored under the lock: its seq, and
    /// the run of the session's newest messages.
    fn note_appended(&self, session: &SessionId, message: &Message) {
        self.note_count(session, message.seq);
        self.recent.appended(session, message);
    }

    /// Records a seq this handle stored (or saw): the page hint, and the
    /// count of a session whose lock it holds.
    pub(super) fn note_count(&self, session: &SessionId, seq: u64) {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.lengths.note(session, seq);
        if let Some(held) = self.held().get_mut(session) {
            held.count = held.count.max(seq);
        }
    }

    /// The append through `$inc`: for anyone, lock or not.
    async fn append_counted(
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
        // Holding the lock, this handle knows the count.
        let held = self.held().get(session).map(|h| h.count);
        // This handle's own run of the session's newest messages, if it
        // ends at the count (see `recent`): no query.
        if let Some(window) = held.and_then(|count| self.recent.window(session, count, n)) {
            return Ok(window);
        }
        let count = match held {
            Some(count) => count,
            None => self.message_count(session).await?,
        };
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
        let window = docs
            .into_iter()
            .map(MessageDoc::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(count) = held {
            self.recent.read(session, count, &window);
        }
        Ok(window)
    }

    /// A session's `message_count` (0 when it is missing).
    async fn message_count(&self, session: &SessionId) -> Result<i64, StoreError> {
        Ok(self
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
            .unwrap_or(0))
    }

    pub(super) async fn messages(
        &self,
        owner: &UserId,
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
        // The session's messages, whoever owns them: the owner is checked
        // here, not by the database (a filter on it cost secantusd-rs ~25%
        // more CPU per page, measured 2026-12-02). Every message of a
        // session carries the session's owner, or none if stored before
        // messages carried one.
        let owner = owner.to_string();
        let filter = doc! { "session_id": session.to_string() };
        let (lo, hi) = page.order.ascending_bounds(after, before);
        let asked = Bounds { lo, hi };
        let known = self.lengths.get(session);
        let mut found = None;
        if let Some(tight) = window::tighten(asked, page.walks_ascending(), page.limit, known) {
            // Kept only when full: then no message outside could come first.
            let read = self.page_between(filter.clone(), tight, page).await?;
            if read.has_more {
                found = Some(read);
            }
        }
        let found = match found {
            Some(found) => found,
            None => self.page_between(filter, asked, page).await?,
        };
        if let Some(newest) = found.data.iter().map(|(_, m)| m.seq).max() {
            self.lengths
                .note(session, i64::try_from(newest).unwrap_or(i64::MAX));
        }
        // A message carrying another owner proves the session is not
        // theirs, one carrying theirs that it is (a session never changes
        // owner); an empty page, or one of older messages, asks the session.
        if found
            .data
            .iter()
            .any(|(o, _)| o.as_deref().is_some_and(|o| o != owner))
        {
            return Err(StoreError::NotFound("chat session"));
        }
        let proven = !found.data.is_empty()
            && found
                .data
                .iter()
                .all(|(o, _)| o.as_deref() == Some(owner.as_str()));
        if !proven {
            let filter = merge(doc! { "_id": session.to_string(), "owner": &owner }, live());
            let exists = self
                .sessions_coll()
                .clone_with_type::<Document>()
                .find_one(filter)
                .projection(doc! { "_id": 1 })
                .await
                .store()?;
            if exists.is_none() {
                return Err(StoreError::NotFound("chat session"));
            }
        }
        Ok(Page {
            data: found.data.into_iter().map(|(_, m)| m).collect(),
            has_more: found.has_more,
        })
    }

    /// A page of a session's messages with `seq` strictly inside `bounds`
    /// (ascending terms), collected as `page` says.
    async fn page_between(
        &self,
        filter: Document,
        bounds: Bounds,
        page: &PageRequest<MessageId>,
    ) -> Result<Page<(Option<String>, Message)>, StoreError> {
        find_page(
            self.messages_coll().clone_with_type::<OwnedMessageDoc>(),
            filter,
            "seq",
            bounds.lo.map(Bson::Int64),
            bounds.hi.map(Bson::Int64),
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
