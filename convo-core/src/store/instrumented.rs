//! [`InstrumentedStore`]: any [`Store`], with each operation's latency and
//! failures recorded through the `metrics` facade
//! (`convo_store_operation_duration_seconds{op}`,
//! `convo_store_errors_total{op}`). Without an installed recorder the
//! records cost an atomic load.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{IdempotencyRecord, Store, StoreError};
use crate::domain::{
    Agent, AgentId, ApiKey, ChatSession, Email, EndUser, KeyId, Message, MessageDraft, MessageId,
    Page, PageRequest, Project, ProjectId, SessionId, Timestamp, ToolCall, UsageGroup,
    UsageGroupBy, UsageRecord, User, UserId,
};

/// A [`Store`] that measures every operation of the store it wraps.
#[derive(Clone)]
pub struct InstrumentedStore {
    inner: Arc<dyn Store>,
}

impl std::fmt::Debug for InstrumentedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentedStore").finish_non_exhaustive()
    }
}

impl InstrumentedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner }
    }
}

async fn timed<T>(
    op: &'static str,
    work: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let started = Instant::now();
    let result = work.await;
    record(op, started.elapsed(), result.is_err());
    result
}

/// Records one operation. Each operation's handles are kept per thread, so
/// no labelled key is built and looked up on every call.
fn record(op: &'static str, took: Duration, failed: bool) {
    thread_local! {
        static HANDLES: std::cell::RefCell<
            std::collections::HashMap<&'static str, (metrics::Histogram, metrics::Counter)>,
        > = std::cell::RefCell::default();
    }
    HANDLES.with(|cache| {
        let mut cache = cache.borrow_mut();
        let (latency, errors) = cache.entry(op).or_insert_with(|| {
            (
                metrics::histogram!("convo_store_operation_duration_seconds", "op" => op),
                metrics::counter!("convo_store_errors_total", "op" => op),
            )
        });
        latency.record(took.as_secs_f64());
        if failed {
            errors.increment(1);
        }
    });
}

#[async_trait]
impl Store for InstrumentedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        timed("ping", self.inner.ping()).await
    }

    fn changes(&self) -> Option<&super::ChangeFeed> {
        self.inner.changes()
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        timed("insert_user", self.inner.insert_user(user)).await
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        timed("user", self.inner.user(id)).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        timed("user_by_email", self.inner.user_by_email(email)).await
    }

    async fn find_or_insert_external_user(&self, candidate: &User) -> Result<User, StoreError> {
        timed(
            "find_or_insert_external_user",
            self.inner.find_or_insert_external_user(candidate),
        )
        .await
    }

    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        timed("revoke_token", self.inner.revoke_token(jti, expires_at)).await
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        timed("is_token_revoked", self.inner.is_token_revoked(jti)).await
    }

    async fn authenticate(&self, user: &UserId, jti: &str) -> Result<Option<User>, StoreError> {
        timed("authenticate", self.inner.authenticate(user, jti)).await
    }

    async fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        timed("insert_project", self.inner.insert_project(project)).await
    }

    async fn project(&self, owner: &UserId, id: &ProjectId) -> Result<Option<Project>, StoreError> {
        timed("project", self.inner.project(owner, id)).await
    }

    async fn projects(
        &self,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
    ) -> Result<Page<Project>, StoreError> {
        timed("projects", self.inner.projects(owner, page)).await
    }

    async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        timed("update_project", self.inner.update_project(project)).await
    }

    async fn delete_project(&self, owner: &UserId, id: &ProjectId) -> Result<bool, StoreError> {
        timed("delete_project", self.inner.delete_project(owner, id)).await
    }

    async fn insert_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        timed("insert_agent", self.inner.insert_agent(agent)).await
    }

    async fn agent(&self, owner: &UserId, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        timed("agent", self.inner.agent(owner, id)).await
    }

    async fn agents(
        &self,
        owner: &UserId,
        project: &ProjectId,
        page: &PageRequest<AgentId>,
    ) -> Result<Page<Agent>, StoreError> {
        timed("agents", self.inner.agents(owner, project, page)).await
    }

    async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        timed("update_agent", self.inner.update_agent(agent)).await
    }

    async fn delete_agent(&self, owner: &UserId, id: &AgentId) -> Result<bool, StoreError> {
        timed("delete_agent", self.inner.delete_agent(owner, id)).await
    }

    async fn insert_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        timed("insert_session", self.inner.insert_session(session)).await
    }

    async fn insert_fork(
        &self,
        session: &ChatSession,
        from: &SessionId,
        up_to_seq: u64,
    ) -> Result<(), StoreError> {
        timed(
            "insert_fork",
            self.inner.insert_fork(session, from, up_to_seq),
        )
        .await
    }

    async fn session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        timed("session", self.inner.session(owner, id)).await
    }

    async fn sessions(
        &self,
        owner: &UserId,
        agent: &AgentId,
        end_user: Option<&EndUser>,
        page: &PageRequest<SessionId>,
    ) -> Result<Page<ChatSession>, StoreError> {
        timed(
            "sessions",
            self.inner.sessions(owner, agent, end_user, page),
        )
        .await
    }

    async fn update_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        timed("update_session", self.inner.update_session(session)).await
    }

    async fn set_pending_tool_calls(
        &self,
        session: &SessionId,
        calls: &[ToolCall],
    ) -> Result<(), StoreError> {
        timed(
            "set_pending_tool_calls",
            self.inner.set_pending_tool_calls(session, calls),
        )
        .await
    }

    async fn delete_session(&self, owner: &UserId, id: &SessionId) -> Result<bool, StoreError> {
        timed("delete_session", self.inner.delete_session(owner, id)).await
    }

    async fn append_message(
        &self,
        session: &SessionId,
        draft: MessageDraft,
    ) -> Result<Message, StoreError> {
        timed("append_message", self.inner.append_message(session, draft)).await
    }

    async fn append_messages(
        &self,
        session: &SessionId,
        drafts: Vec<MessageDraft>,
    ) -> Result<Vec<Message>, StoreError> {
        timed(
            "append_messages",
            self.inner.append_messages(session, drafts),
        )
        .await
    }

    async fn last_messages(
        &self,
        session: &SessionId,
        n: usize,
    ) -> Result<Vec<Message>, StoreError> {
        timed("last_messages", self.inner.last_messages(session, n)).await
    }

    async fn messages(
        &self,
        owner: &UserId,
        session: &SessionId,
        page: &PageRequest<MessageId>,
    ) -> Result<Page<Message>, StoreError> {
        timed("messages", self.inner.messages(owner, session, page)).await
    }

    async fn try_lock_turn(
        &self,
        owner: &UserId,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<ChatSession>, StoreError> {
        timed(
            "try_lock_turn",
            self.inner.try_lock_turn(owner, session, holder, lease),
        )
        .await
    }

    async fn unlock_turn(
        &self,
        session: &SessionId,
        holder: &str,
        usage: Option<&UsageRecord>,
    ) -> Result<(), StoreError> {
        timed(
            "unlock_turn",
            self.inner.unlock_turn(session, holder, usage),
        )
        .await
    }

    async fn append_and_unlock(
        &self,
        session: &SessionId,
        holder: &str,
        draft: MessageDraft,
        usage: Option<&UsageRecord>,
    ) -> Result<(Message, bool), StoreError> {
        timed(
            "append_and_unlock",
            self.inner.append_and_unlock(session, holder, draft, usage),
        )
        .await
    }

    async fn cancel_turn(&self, session: &SessionId) -> Result<bool, StoreError> {
        timed("cancel_turn", self.inner.cancel_turn(session)).await
    }

    async fn turn_cancel_requested(
        &self,
        session: &SessionId,
        holder: &str,
    ) -> Result<bool, StoreError> {
        timed(
            "turn_cancel_requested",
            self.inner.turn_cancel_requested(session, holder),
        )
        .await
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        timed("insert_api_key", self.inner.insert_api_key(key)).await
    }

    async fn api_keys(
        &self,
        owner: &UserId,
        project: &ProjectId,
    ) -> Result<Vec<ApiKey>, StoreError> {
        timed("api_keys", self.inner.api_keys(owner, project)).await
    }

    async fn delete_api_key(
        &self,
        owner: &UserId,
        project: &ProjectId,
        id: &KeyId,
    ) -> Result<bool, StoreError> {
        timed(
            "delete_api_key",
            self.inner.delete_api_key(owner, project, id),
        )
        .await
    }

    async fn api_key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        timed("api_key_by_hash", self.inner.api_key_by_hash(secret_hash)).await
    }

    async fn touch_api_key(&self, id: &KeyId, at: Timestamp) -> Result<(), StoreError> {
        timed("touch_api_key", self.inner.touch_api_key(id, at)).await
    }

    async fn count_key_request(&self, key: &KeyId, window: Timestamp) -> Result<u64, StoreError> {
        timed(
            "count_key_request",
            self.inner.count_key_request(key, window),
        )
        .await
    }

    async fn end_user_tokens(
        &self,
        owner: &UserId,
        project: &ProjectId,
        end_user: &EndUser,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64, StoreError> {
        timed(
            "end_user_tokens",
            self.inner
                .end_user_tokens(owner, project, end_user, from, to),
        )
        .await
    }

    async fn record_usage(&self, record: &UsageRecord) -> Result<(), StoreError> {
        timed("record_usage", self.inner.record_usage(record)).await
    }

    async fn usage(
        &self,
        owner: &UserId,
        from: Timestamp,
        to: Timestamp,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        timed("usage", self.inner.usage(owner, from, to, group_by)).await
    }

    async fn idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        timed(
            "idempotency_record",
            self.inner.idempotency_record(session, key),
        )
        .await
    }

    async fn save_idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        timed(
            "save_idempotency_record",
            self.inner.save_idempotency_record(session, key, record),
        )
        .await
    }
}
