//! [`MemoryStore`]: the embedded default, for tests and single-process apps.
//!
//! One `RwLock` over plain maps. Every operation is a short critical section
//! with no `.await` inside, so the lock is never held across a suspension.
//! Per-owner and per-parent indexes are `BTreeSet`s of time-ordered ids, so
//! lists walk only the caller's objects; a session's messages are a `Vec`
//! indexed by `seq - 1`, so windows and pages are slices.
//!
//! Each child module adds the operations of one area to the private `Inner`
//! maps as plain synchronous methods (accounts, resources, sessions,
//! messages, lock, usage, idempotency; `paging` walks an id index); the
//! [`Store`] impl here only takes the lock and delegates.

mod accounts;
mod external;
mod idempotency;
mod keys;
mod lock;
mod messages;
mod paging;
mod resources;
mod sessions;
mod usage;

use std::collections::{BTreeSet, HashMap};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Change, ChangeFeed, IdempotencyRecord, Store, StoreError};
use crate::domain::{
    Agent, AgentId, ApiKey, ChatSession, Email, EndUser, ExternalIdentity, KeyId, Message,
    MessageDraft, MessageId, Page, PageRequest, Project, ProjectId, SessionId, Timestamp, ToolCall,
    UsageGroup, UsageGroupBy, UsageRecord, User, UserId,
};

/// An in-process [`Store`]: fast, safe under concurrency, gone on exit.
#[derive(Debug)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
    /// Every change is made here, so the feed hears each one before the
    /// write returns and is never down.
    feed: ChangeFeed,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            inner: RwLock::default(),
            feed: ChangeFeed::in_process(),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    users: HashMap<UserId, User>,
    users_by_email: HashMap<Email, UserId>,
    users_by_external: HashMap<ExternalIdentity, UserId>,
    revoked: HashMap<String, Timestamp>,
    projects: HashMap<ProjectId, Project>,
    projects_by_owner: HashMap<UserId, BTreeSet<ProjectId>>,
    agents: HashMap<AgentId, Agent>,
    agents_by_project: HashMap<ProjectId, BTreeSet<AgentId>>,
    sessions: HashMap<SessionId, SessionEntry>,
    sessions_by_agent: HashMap<AgentId, BTreeSet<SessionId>>,
    /// The usage ledger, per owner, in the order turns ended.
    usage: HashMap<UserId, Vec<UsageRecord>>,
    api_keys: HashMap<KeyId, ApiKey>,
    api_keys_by_hash: HashMap<String, KeyId>,
    api_keys_by_project: HashMap<ProjectId, BTreeSet<KeyId>>,
    /// Per key: the current one-minute window's start and its request count.
    key_windows: HashMap<KeyId, (Timestamp, u64)>,
}

#[derive(Debug)]
struct SessionEntry {
    session: ChatSession,
    /// `messages[i].seq == i + 1`.
    messages: Vec<Message>,
    seq_by_id: HashMap<MessageId, u64>,
    /// Holder, lease end, and whether the holder was asked to stop.
    lock: Option<(String, Instant, bool)>,
    idempotency: HashMap<String, IdempotencyRecord>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in
        // a way later readers would misread (each write is a few inserts), so
        // carry on rather than poison every later call.
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn owns_project(&self, owner: &UserId, id: &ProjectId) -> bool {
        self.projects.get(id).is_some_and(|p| p.owner == *owner)
    }

    fn owns_agent(&self, owner: &UserId, id: &AgentId) -> bool {
        self.agents.get(id).is_some_and(|a| a.owner == *owner)
    }

    fn owns_session(&self, owner: &UserId, id: &SessionId) -> bool {
        self.sessions
            .get(id)
            .is_some_and(|e| e.session.owner == *owner)
    }

    fn remove_session(&mut self, id: &SessionId) {
        if let Some(entry) = self.sessions.remove(id) {
            if let Some(set) = self.sessions_by_agent.get_mut(&entry.session.agent_id) {
                set.remove(id);
            }
        }
    }

    fn remove_agent(&mut self, id: &AgentId) {
        if let Some(agent) = self.agents.remove(id) {
            if let Some(set) = self.agents_by_project.get_mut(&agent.project_id) {
                set.remove(id);
            }
        }
        for session in self.sessions_by_agent.remove(id).unwrap_or_default() {
            self.sessions.remove(&session);
        }
    }

    fn session_entry(&self, id: &SessionId) -> Result<&SessionEntry, StoreError> {
        self.sessions
            .get(id)
            .ok_or(StoreError::NotFound("chat session"))
    }

    /// The owner's session; not found when missing or someone else's.
    fn owned_session(&self, owner: &UserId, id: &SessionId) -> Result<&ChatSession, StoreError> {
        self.sessions
            .get(id)
            .map(|e| &e.session)
            .filter(|s| s.owner == *owner)
            .ok_or(StoreError::NotFound("chat session"))
    }

    fn session_entry_mut(&mut self, id: &SessionId) -> Result<&mut SessionEntry, StoreError> {
        self.sessions
            .get_mut(id)
            .ok_or(StoreError::NotFound("chat session"))
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn changes(&self) -> Option<&ChangeFeed> {
        Some(&self.feed)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        self.write().insert_user(user)
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.read().user(id)
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.read().user_by_email(email)
    }

    async fn find_or_insert_external_user(&self, candidate: &User) -> Result<User, StoreError> {
        self.write().find_or_insert_external_user(candidate)
    }

    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        let revoked = self.write().revoke_token(jti, expires_at);
        self.feed.apply(Change::Token(jti.to_owned()));
        revoked
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.read().is_token_revoked(jti)
    }

    async fn authenticate(&self, user: &UserId, jti: &str) -> Result<Option<User>, StoreError> {
        self.read().authenticate(user, jti)
    }

    async fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        let written = self.write().insert_project(project);
        // Kept pages of projects may be wrong now (even after an error: a
        // write whose answer was lost may have landed).
        self.feed.apply(Change::Projects);
        written
    }

    async fn project(&self, owner: &UserId, id: &ProjectId) -> Result<Option<Project>, StoreError> {
        self.read().project(owner, id)
    }

    async fn projects(
        &self,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
    ) -> Result<Page<Project>, StoreError> {
        self.read().projects(owner, page)
    }

    async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        let written = self.write().update_project(project);
        self.feed.apply(Change::Projects);
        written
    }

    async fn delete_project(&self, owner: &UserId, id: &ProjectId) -> Result<bool, StoreError> {
        let deleted = self.write().delete_project(owner, id);
        // Its agents and keys go with it.
        self.feed.apply(Change::Everything);
        deleted
    }

    async fn insert_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        self.write().insert_agent(agent)
    }

    async fn agent(&self, owner: &UserId, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        self.read().agent(owner, id)
    }

    async fn agents(
        &self,
        owner: &UserId,
        project: &ProjectId,
        page: &PageRequest<AgentId>,
    ) -> Result<Page<Agent>, StoreError> {
        self.read().agents(owner, project, page)
    }

    async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let updated = self.write().update_agent(agent);
        self.feed.apply(Change::Agent(agent.id));
        updated
    }

    async fn delete_agent(&self, owner: &UserId, id: &AgentId) -> Result<bool, StoreError> {
        let deleted = self.write().delete_agent(owner, id);
        self.feed.apply(Change::Agent(*id));
        // Its sessions go with it.
        self.feed.apply(Change::Sessions);
        deleted
    }

    async fn insert_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        self.write().insert_session(session)
    }

    async fn insert_fork(
        &self,
        session: &ChatSession,
        from: &SessionId,
        up_to_seq: u64,
    ) -> Result<(), StoreError> {
        self.write().insert_fork(session, from, up_to_seq)
    }

    async fn session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        self.read().session(owner, id)
    }

    async fn sessions(
        &self,
        owner: &UserId,
        agent: &AgentId,
        end_user: Option<&EndUser>,
        page: &PageRequest<SessionId>,
    ) -> Result<Page<ChatSession>, StoreError> {
        self.read().sessions(owner, agent, end_user, page)
    }

    async fn update_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        self.write().update_session(session)
    }

    async fn set_pending_tool_calls(
        &self,
        session: &SessionId,
        calls: &[ToolCall],
    ) -> Result<(), StoreError> {
        self.write().set_pending_tool_calls(session, calls)
    }

    async fn delete_session(&self, owner: &UserId, id: &SessionId) -> Result<bool, StoreError> {
        let deleted = self.write().delete_session(owner, id);
        self.feed.apply(Change::Sessions);
        deleted
    }

    async fn append_message(
        &self,
        session: &SessionId,
        draft: MessageDraft,
    ) -> Result<Message, StoreError> {
        self.write().append_message(session, draft)
    }

    async fn append_messages(
        &self,
        session: &SessionId,
        drafts: Vec<MessageDraft>,
    ) -> Result<Vec<Message>, StoreError> {
        self.write().append_messages(session, drafts)
    }

    async fn last_messages(
        &self,
        session: &SessionId,
        n: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.read().last_messages(session, n)
    }

    async fn messages(
        &self,
        owner: &UserId,
        session: &SessionId,
        page: &PageRequest<MessageId>,
    ) -> Result<Page<Message>, StoreError> {
        let inner = self.read();
        inner.owned_session(owner, session)?;
        inner.messages(session, page)
    }

    async fn try_lock_turn(
        &self,
        owner: &UserId,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<ChatSession>, StoreError> {
        let mut inner = self.write();
        inner.owned_session(owner, session)?;
        if !inner.try_lock_turn(session, holder, lease)? {
            return Ok(None);
        }
        Ok(Some(inner.owned_session(owner, session)?.clone()))
    }

    async fn unlock_turn(
        &self,
        session: &SessionId,
        holder: &str,
        usage: Option<&UsageRecord>,
    ) -> Result<(), StoreError> {
        let mut inner = self.write();
        inner.unlock_turn(session, holder)?;
        match usage {
            Some(record) => inner.record_usage(record),
            None => Ok(()),
        }
    }

    async fn cancel_turn(&self, session: &SessionId) -> Result<bool, StoreError> {
        self.write().cancel_turn(session)
    }

    async fn turn_cancel_requested(
        &self,
        session: &SessionId,
        holder: &str,
    ) -> Result<bool, StoreError> {
        self.read().turn_cancel_requested(session, holder)
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        self.write().insert_api_key(key)
    }

    async fn api_keys(
        &self,
        owner: &UserId,
        project: &ProjectId,
    ) -> Result<Vec<ApiKey>, StoreError> {
        Ok(self.read().api_keys(owner, project))
    }

    async fn delete_api_key(
        &self,
        owner: &UserId,
        project: &ProjectId,
        id: &KeyId,
    ) -> Result<bool, StoreError> {
        let deleted = self.write().delete_api_key(owner, project, id);
        self.feed.apply(Change::ApiKey(*id));
        Ok(deleted)
    }

    async fn api_key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(self.read().api_key_by_hash(secret_hash))
    }

    async fn touch_api_key(&self, id: &KeyId, at: Timestamp) -> Result<(), StoreError> {
        self.write().touch_api_key(id, at);
        self.feed.apply(Change::ApiKey(*id));
        Ok(())
    }

    async fn count_key_request(&self, key: &KeyId, window: Timestamp) -> Result<u64, StoreError> {
        Ok(self.write().count_key_request(key, window))
    }

    async fn end_user_tokens(
        &self,
        owner: &UserId,
        project: &ProjectId,
        end_user: &EndUser,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64, StoreError> {
        Ok(self
            .read()
            .end_user_tokens(owner, project, end_user, from, to))
    }

    async fn record_usage(&self, record: &UsageRecord) -> Result<(), StoreError> {
        self.write().record_usage(record)
    }

    async fn usage(
        &self,
        owner: &UserId,
        from: Timestamp,
        to: Timestamp,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        self.read().usage(owner, from, to, group_by)
    }

    async fn idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.read().idempotency_record(session, key)
    }

    async fn save_idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        self.write().save_idempotency_record(session, key, record)
    }
}
