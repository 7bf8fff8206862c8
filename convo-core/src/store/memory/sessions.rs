//! Chat sessions and forks.

use std::collections::HashMap;

use super::paging::page_ids_where;
use super::{Inner, SessionEntry};
use crate::domain::{
    AgentId, ChatSession, EndUser, Message, MessageId, Page, PageRequest, SessionId, ToolCall,
    UserId,
};
use crate::store::StoreError;

impl Inner {
    /// Whether `session`'s agent exists, is its owner's, and is in its project.
    fn may_hold(&self, session: &ChatSession) -> bool {
        self.agents
            .get(&session.agent_id)
            .is_some_and(|a| a.owner == session.owner && a.project_id == session.project_id)
    }

    pub(super) fn insert_session(&mut self, session: &ChatSession) -> Result<(), StoreError> {
        if !self.may_hold(session) {
            return Err(StoreError::NotFound("agent"));
        }
        self.sessions_by_agent
            .entry(session.agent_id)
            .or_default()
            .insert(session.id);
        self.sessions.insert(
            session.id,
            SessionEntry {
                session: session.clone(),
                messages: Vec::new(),
                seq_by_id: HashMap::new(),
                lock: None,
                idempotency: HashMap::new(),
            },
        );
        Ok(())
    }

    pub(super) fn insert_fork(
        &mut self,
        session: &ChatSession,
        from: &SessionId,
        up_to_seq: u64,
    ) -> Result<(), StoreError> {
        if !self.may_hold(session) {
            return Err(StoreError::NotFound("agent"));
        }
        if !self.owns_session(&session.owner, from) {
            return Err(StoreError::NotFound("chat session"));
        }
        let source = self.session_entry(from)?;
        let n = usize::try_from(up_to_seq).unwrap_or(usize::MAX);
        let Some(originals) = source.messages.get(..n) else {
            return Err(StoreError::NotFound("message"));
        };
        let messages: Vec<Message> = originals
            .iter()
            .map(|m| Message {
                id: MessageId::new(),
                session_id: session.id,
                ..m.clone()
            })
            .collect();
        let seq_by_id = messages.iter().map(|m| (m.id, m.seq)).collect();
        let mut session = session.clone();
        session.message_count = up_to_seq;
        self.sessions_by_agent
            .entry(session.agent_id)
            .or_default()
            .insert(session.id);
        self.sessions.insert(
            session.id,
            SessionEntry {
                session,
                messages,
                seq_by_id,
                lock: None,
                idempotency: HashMap::new(),
            },
        );
        Ok(())
    }

    pub(super) fn session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        Ok(self
            .sessions
            .get(id)
            .map(|e| &e.session)
            .filter(|s| s.owner == *owner)
            .cloned())
    }

    pub(super) fn sessions(
        &self,
        owner: &UserId,
        agent: &AgentId,
        end_user: Option<&EndUser>,
        page: &PageRequest<SessionId>,
    ) -> Result<Page<ChatSession>, StoreError> {
        if !self.owns_agent(owner, agent) {
            return Ok(Page {
                data: Vec::new(),
                has_more: false,
            });
        }
        let of_end_user = |id: &SessionId| match end_user {
            None => true,
            Some(u) => self
                .sessions
                .get(id)
                .is_some_and(|e| e.session.end_user.as_ref() == Some(u)),
        };
        let (ids, has_more) = page_ids_where(self.sessions_by_agent.get(agent), page, of_end_user);
        let data = ids
            .iter()
            .filter_map(|id| self.sessions.get(id).map(|e| e.session.clone()))
            .collect();
        Ok(Page { data, has_more })
    }

    pub(super) fn update_session(&mut self, session: &ChatSession) -> Result<(), StoreError> {
        let entry = self
            .sessions
            .get_mut(&session.id)
            .filter(|e| e.session.owner == session.owner)
            .ok_or(StoreError::NotFound("chat session"))?;
        entry.session.title.clone_from(&session.title);
        entry.session.updated_at = session.updated_at;
        Ok(())
    }

    pub(super) fn set_pending_tool_calls(
        &mut self,
        session: &SessionId,
        calls: &[ToolCall],
    ) -> Result<(), StoreError> {
        self.session_entry_mut(session)?.session.pending_tool_calls = calls.to_vec();
        Ok(())
    }

    pub(super) fn delete_session(
        &mut self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<bool, StoreError> {
        if !self.owns_session(owner, id) {
            return Ok(false);
        }
        self.remove_session(id);
        Ok(true)
    }
}
