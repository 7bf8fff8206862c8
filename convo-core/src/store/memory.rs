//! [`MemoryStore`]: the embedded default, for tests and single-process apps.
//!
//! One `RwLock` over plain maps. Every operation is a short critical section
//! with no `.await` inside, so the lock is never held across a suspension.
//! Per-owner and per-parent indexes are `BTreeSet`s of time-ordered ids, so
//! lists walk only the caller's objects; a session's messages are a `Vec`
//! indexed by `seq - 1`, so windows and pages are slices.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{IdempotencyRecord, Store, StoreError};
use crate::domain::{
    now, Agent, AgentId, ChatSession, Email, Message, MessageDraft, MessageId, Order, Page,
    PageRequest, Project, ProjectId, SessionId, Timestamp, UsageGroup, UsageGroupBy, UsageRecord,
    UsageTotals, User, UserId,
};

/// An in-process [`Store`]: fast, safe under concurrency, gone on exit.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    users: HashMap<UserId, User>,
    users_by_email: HashMap<Email, UserId>,
    revoked: HashMap<String, Timestamp>,
    projects: HashMap<ProjectId, Project>,
    projects_by_owner: HashMap<UserId, BTreeSet<ProjectId>>,
    agents: HashMap<AgentId, Agent>,
    agents_by_project: HashMap<ProjectId, BTreeSet<AgentId>>,
    sessions: HashMap<SessionId, SessionEntry>,
    sessions_by_agent: HashMap<AgentId, BTreeSet<SessionId>>,
    /// The usage ledger, per owner, in the order turns ended.
    usage: HashMap<UserId, Vec<UsageRecord>>,
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

/// Pages through an ordered id index (see [`PageRequest`] for the cursor rules).
fn page_ids<K: Ord + Copy>(ids: Option<&BTreeSet<K>>, page: &PageRequest<K>) -> (Vec<K>, bool) {
    let Some(ids) = ids else {
        return (Vec::new(), false);
    };
    // Bounds in ascending key order: in a descending list `after` is the upper one.
    let (lo, hi) = match page.order {
        Order::Asc => (page.after, page.before),
        Order::Desc => (page.before, page.after),
    };
    if matches!((lo, hi), (Some(l), Some(h)) if l >= h) {
        return (Vec::new(), false);
    }
    let range = ids.range((
        lo.map_or(Bound::Unbounded, Bound::Excluded),
        hi.map_or(Bound::Unbounded, Bound::Excluded),
    ));
    let take = page.limit + 1;
    let items: Vec<K> = if page.walks_ascending() {
        range.take(take).copied().collect()
    } else {
        range.rev().take(take).copied().collect()
    };
    page.finish(items)
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

    fn session_entry_mut(&mut self, id: &SessionId) -> Result<&mut SessionEntry, StoreError> {
        self.sessions
            .get_mut(id)
            .ok_or(StoreError::NotFound("chat session"))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let mut inner = self.write();
        if inner.users_by_email.contains_key(&user.email) {
            return Err(StoreError::Conflict("email already registered".into()));
        }
        inner.users_by_email.insert(user.email.clone(), user.id);
        inner.users.insert(user.id, user.clone());
        Ok(())
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        Ok(self.read().users.get(id).cloned())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let inner = self.read();
        Ok(inner
            .users_by_email
            .get(email)
            .and_then(|id| inner.users.get(id))
            .cloned())
    }

    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        let mut inner = self.write();
        let now = now();
        // Expired entries can go: their tokens fail the expiry check anyway.
        inner.revoked.retain(|_, exp| *exp > now);
        inner.revoked.insert(jti.to_owned(), expires_at);
        Ok(())
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.read().revoked.contains_key(jti))
    }

    async fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        let mut inner = self.write();
        inner
            .projects_by_owner
            .entry(project.owner)
            .or_default()
            .insert(project.id);
        inner.projects.insert(project.id, project.clone());
        Ok(())
    }

    async fn project(&self, owner: &UserId, id: &ProjectId) -> Result<Option<Project>, StoreError> {
        Ok(self
            .read()
            .projects
            .get(id)
            .filter(|p| p.owner == *owner)
            .cloned())
    }

    async fn projects(
        &self,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
    ) -> Result<Page<Project>, StoreError> {
        let inner = self.read();
        let (ids, has_more) = page_ids(inner.projects_by_owner.get(owner), page);
        let data = ids
            .iter()
            .filter_map(|id| inner.projects.get(id).cloned())
            .collect();
        Ok(Page { data, has_more })
    }

    async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        let mut inner = self.write();
        let stored = inner
            .projects
            .get_mut(&project.id)
            .filter(|p| p.owner == project.owner)
            .ok_or(StoreError::NotFound("project"))?;
        stored.name.clone_from(&project.name);
        stored.description.clone_from(&project.description);
        stored.updated_at = project.updated_at;
        Ok(())
    }

    async fn delete_project(&self, owner: &UserId, id: &ProjectId) -> Result<bool, StoreError> {
        let mut inner = self.write();
        if !inner.owns_project(owner, id) {
            return Ok(false);
        }
        inner.projects.remove(id);
        if let Some(set) = inner.projects_by_owner.get_mut(owner) {
            set.remove(id);
        }
        for agent in inner.agents_by_project.remove(id).unwrap_or_default() {
            inner.remove_agent(&agent);
        }
        Ok(true)
    }

    async fn insert_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let mut inner = self.write();
        if !inner.owns_project(&agent.owner, &agent.project_id) {
            return Err(StoreError::NotFound("project"));
        }
        inner
            .agents_by_project
            .entry(agent.project_id)
            .or_default()
            .insert(agent.id);
        inner.agents.insert(agent.id, agent.clone());
        Ok(())
    }

    async fn agent(&self, owner: &UserId, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        Ok(self
            .read()
            .agents
            .get(id)
            .filter(|a| a.owner == *owner)
            .cloned())
    }

    async fn agents(
        &self,
        owner: &UserId,
        project: &ProjectId,
        page: &PageRequest<AgentId>,
    ) -> Result<Page<Agent>, StoreError> {
        let inner = self.read();
        if !inner.owns_project(owner, project) {
            return Ok(Page {
                data: Vec::new(),
                has_more: false,
            });
        }
        let (ids, has_more) = page_ids(inner.agents_by_project.get(project), page);
        let data = ids
            .iter()
            .filter_map(|id| inner.agents.get(id).cloned())
            .collect();
        Ok(Page { data, has_more })
    }

    async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let mut inner = self.write();
        let stored = inner
            .agents
            .get_mut(&agent.id)
            .filter(|a| a.owner == agent.owner)
            .ok_or(StoreError::NotFound("agent"))?;
        let (id, project_id, owner, created_at) = (
            stored.id,
            stored.project_id,
            stored.owner,
            stored.created_at,
        );
        *stored = Agent {
            id,
            project_id,
            owner,
            created_at,
            ..agent.clone()
        };
        Ok(())
    }

    async fn delete_agent(&self, owner: &UserId, id: &AgentId) -> Result<bool, StoreError> {
        let mut inner = self.write();
        if !inner.owns_agent(owner, id) {
            return Ok(false);
        }
        inner.remove_agent(id);
        Ok(true)
    }

    async fn insert_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        let mut inner = self.write();
        if !inner.owns_agent(&session.owner, &session.agent_id) {
            return Err(StoreError::NotFound("agent"));
        }
        inner
            .sessions_by_agent
            .entry(session.agent_id)
            .or_default()
            .insert(session.id);
        inner.sessions.insert(
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

    async fn insert_fork(
        &self,
        session: &ChatSession,
        from: &SessionId,
        up_to_seq: u64,
    ) -> Result<(), StoreError> {
        let mut inner = self.write();
        if !inner.owns_agent(&session.owner, &session.agent_id) {
            return Err(StoreError::NotFound("agent"));
        }
        let source = inner.session_entry(from)?;
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
        inner
            .sessions_by_agent
            .entry(session.agent_id)
            .or_default()
            .insert(session.id);
        inner.sessions.insert(
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

    async fn session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        Ok(self
            .read()
            .sessions
            .get(id)
            .map(|e| &e.session)
            .filter(|s| s.owner == *owner)
            .cloned())
    }

    async fn sessions(
        &self,
        owner: &UserId,
        agent: &AgentId,
        page: &PageRequest<SessionId>,
    ) -> Result<Page<ChatSession>, StoreError> {
        let inner = self.read();
        if !inner.owns_agent(owner, agent) {
            return Ok(Page {
                data: Vec::new(),
                has_more: false,
            });
        }
        let (ids, has_more) = page_ids(inner.sessions_by_agent.get(agent), page);
        let data = ids
            .iter()
            .filter_map(|id| inner.sessions.get(id).map(|e| e.session.clone()))
            .collect();
        Ok(Page { data, has_more })
    }

    async fn update_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        let mut inner = self.write();
        let entry = inner
            .sessions
            .get_mut(&session.id)
            .filter(|e| e.session.owner == session.owner)
            .ok_or(StoreError::NotFound("chat session"))?;
        entry.session.title.clone_from(&session.title);
        entry.session.updated_at = session.updated_at;
        Ok(())
    }

    async fn delete_session(&self, owner: &UserId, id: &SessionId) -> Result<bool, StoreError> {
        let mut inner = self.write();
        if !inner.owns_session(owner, id) {
            return Ok(false);
        }
        inner.remove_session(id);
        Ok(true)
    }

    async fn append_message(
        &self,
        session: &SessionId,
        draft: MessageDraft,
    ) -> Result<Message, StoreError> {
        let mut inner = self.write();
        let entry = inner.session_entry_mut(session)?;
        let seq = entry.messages.len() as u64 + 1;
        let message = draft.into_message(*session, seq);
        entry.seq_by_id.insert(message.id, seq);
        entry.messages.push(message.clone());
        entry.session.message_count = seq;
        entry.session.updated_at = entry.session.updated_at.max(message.created_at);
        Ok(message)
    }

    async fn last_messages(
        &self,
        session: &SessionId,
        n: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let inner = self.read();
        let Some(entry) = inner.sessions.get(session) else {
            return Ok(Vec::new());
        };
        let start = entry.messages.len().saturating_sub(n);
        Ok(entry.messages[start..].to_vec())
    }

    async fn messages(
        &self,
        session: &SessionId,
        page: &PageRequest<MessageId>,
    ) -> Result<Page<Message>, StoreError> {
        let inner = self.read();
        let Ok(entry) = inner.session_entry(session) else {
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
        let (lo, hi) = match page.order {
            Order::Asc => (after, before),
            Order::Desc => (before, after),
        };
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

    async fn try_lock_turn(
        &self,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut inner = self.write();
        let entry = inner.session_entry_mut(session)?;
        let now = Instant::now();
        match &mut entry.lock {
            Some((current, until, _)) if current == holder => {
                *until = now + lease; // a renewal keeps a cancel request
                Ok(true)
            }
            Some((_, until, _)) if *until > now => Ok(false),
            _ => {
                entry.lock = Some((holder.to_owned(), now + lease, false));
                Ok(true)
            }
        }
    }

    async fn unlock_turn(&self, session: &SessionId, holder: &str) -> Result<(), StoreError> {
        let mut inner = self.write();
        if let Some(entry) = inner.sessions.get_mut(session) {
            if entry
                .lock
                .as_ref()
                .is_some_and(|(current, _, _)| current == holder)
            {
                entry.lock = None;
            }
        }
        Ok(())
    }

    async fn cancel_turn(&self, session: &SessionId) -> Result<bool, StoreError> {
        let mut inner = self.write();
        let entry = inner.session_entry_mut(session)?;
        let now = Instant::now();
        match &mut entry.lock {
            Some((_, until, cancel)) if *until > now => {
                *cancel = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn turn_cancel_requested(
        &self,
        session: &SessionId,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let inner = self.read();
        Ok(inner
            .sessions
            .get(session)
            .and_then(|e| e.lock.as_ref())
            .is_some_and(|(current, _, cancel)| current == holder && *cancel))
    }

    async fn record_usage(&self, record: &UsageRecord) -> Result<(), StoreError> {
        self.write()
            .usage
            .entry(record.owner)
            .or_default()
            .push(record.clone());
        Ok(())
    }

    async fn usage(
        &self,
        owner: &UserId,
        from: Timestamp,
        to: Timestamp,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        let inner = self.read();
        let mut groups: std::collections::BTreeMap<String, UsageTotals> = Default::default();
        for record in inner.usage.get(owner).into_iter().flatten() {
            if record.at >= from && record.at < to {
                groups.entry(group_by.key(record)).or_default().add(record);
            }
        }
        Ok(groups
            .into_iter()
            .map(|(key, totals)| UsageGroup { key, totals })
            .collect())
    }

    async fn idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let inner = self.read();
        let now = now();
        Ok(inner
            .sessions
            .get(session)
            .and_then(|e| e.idempotency.get(key))
            .filter(|r| r.expires_at > now)
            .cloned())
    }

    async fn save_idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let mut inner = self.write();
        let entry = inner.session_entry_mut(session)?;
        let now = now();
        entry.idempotency.retain(|_, r| r.expires_at > now);
        entry.idempotency.insert(key.to_owned(), record.clone());
        Ok(())
    }
}
