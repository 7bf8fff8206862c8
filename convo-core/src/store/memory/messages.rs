//! A session's history: appends with contiguous `seq`, windows and pages.

use std::collections::HashSet;

use super::Inner;
use crate::domain::{Message, MessageDraft, MessageId, Page, PageRequest, SessionId};
use crate::store::StoreError;

impl Inner {
    pub(super) fn append_message(
        &mut self,
        session: &SessionId,
        draft: MessageDraft,
    ) -> Result<Message, StoreError> {
        let entry = self.session_entry_mut(session)?;
        let seq = entry.messages.len() as u64 + 1;
        let message = draft.into_message(*session, seq);
        entry.seq_by_id.insert(message.id, seq);
        entry.messages.push(message.clone());
        entry.session.message_count = seq;
        entry.session.updated_at = entry.session.updated_at.max(message.created_at);
        Ok(message)
    }

    /// All of `drafts` or none: checked before the first is stored.
    pub(super) fn append_messages(
        &mut self,
        session: &SessionId,
        drafts: Vec<MessageDraft>,
    ) -> Result<Vec<Message>, StoreError> {
        let entry = self.session_entry_mut(session)?;
        let mut ids = HashSet::with_capacity(drafts.len());
        if drafts
            .iter()
            .any(|d| entry.seq_by_id.contains_key(&d.id) || !ids.insert(d.id))
        {
            return Err(StoreError::Conflict("message id already stored".into()));
        }
        let first = entry.messages.len() as u64 + 1;
        let mut stored = Vec::with_capacity(drafts.len());
        for (draft, seq) in drafts.into_iter().zip(first..) {
            let message = draft.into_message(*session, seq);
            entry.seq_by_id.insert(message.id, seq);
            entry.session.updated_at = entry.session.updated_at.max(message.created_at);
            entry.messages.push(message.clone());
            stored.push(message);
        }
        entry.session.message_count = entry.messages.len() as u64;
        Ok(stored)
    }

    pub(super) fn last_messages(
        &self,
        session: &SessionId,
        n: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let Some(entry) = self.sessions.get(session) else {
            return Ok(Vec::new());
        };
        let start = entry.messages.len().saturating_sub(n);
        Ok(entry.messages[start..].to_vec())
    }

    pub(super) fn messages(
        &self,
        session: &SessionId,
        page: &PageRequest<MessageId>,
    ) -> Result<Page<Message>, StoreError> {
        let Ok(entry) = self.session_entry(session) else {
            return Ok(Page {
                data: Vec::new(),
                has_more: false,
            });
        };
        let seq_of = |id: &MessageId| {
            entry
                .seq_by_id
                .get(id)
                .copied()
                .ok_or(StoreError::NotFound("message"))
        };
        let after = page.after.as_ref().map(seq_of).transpose()?;
        let before = page.before.as_ref().map(seq_of).transpose()?;
        let all = &entry.messages;
        // Index range of `all` (index = seq - 1) strictly between the cursors,
        // with the bounds in ascending order as in `page_ids`.
        let (lo, hi) = page.order.ascending_bounds(after, before);
        let (lo, hi) = (
            lo.map_or(0, |s| s as usize),
            hi.map_or(all.len(), |s| s as usize - 1),
        );
        if lo >= hi {
            return Ok(Page {
                data: Vec::new(),
                has_more: false,
            });
        }
        let range = all[lo..hi].iter();
        let take = page.limit + 1;
        let items: Vec<Message> = if page.walks_ascending() {
            range.take(take).cloned().collect()
        } else {
            range.rev().take(take).cloned().collect()
        };
        let (data, has_more) = page.finish(items);
        Ok(Page { data, has_more })
    }
}
