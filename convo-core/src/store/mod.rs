//! Persistence: the [`Store`] trait and its implementations.
//!
//! A store persists and answers precise questions; the engine decides ids,
//! timestamps, ownership and the turn rules. Every read of a user's object is
//! scoped by its owner, every list is paginated, and nothing loads a whole
//! history: the engine's cost per turn is O(window), whatever the backend.

mod feed;
mod instrumented;
mod memory;
#[cfg(feature = "mongodb")]
mod mongo;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{
    Agent, AgentId, ApiKey, ChatSession, Email, EndUser, KeyId, Message, MessageId, Page, Project,
    ProjectId, SessionId, Timestamp, ToolCall, UsageGroup, UsageGroupBy, User, UserId,
};

// What a store implementer needs beyond the embedder's view.
pub use crate::domain::{day_of, MessageDraft, PageRequest, UsageRecord};
pub use feed::{Change, ChangeFeed, ChangeProbe, Probed};
pub use instrumented::InstrumentedStore;
pub use memory::MemoryStore;
#[cfg(feature = "mongodb")]
pub use mongo::MongoStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteLocation, SqliteLocationError, SqliteStore};

/// What can go wrong in a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// An object the operation needs (e.g. the parent of a new child, or a
    /// pagination cursor) does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was broken (e.g. the e-mail address is taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend cannot be reached or timed out; the same call may succeed later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (corrupt data, a driver bug). Not retryable.
    #[error("store failure: {0}")]
    Internal(String),
}

/// [`Store::append_and_unlock`] as two calls: the append, then the release
/// (its failure reported as `false`, not as an error: the message is stored).
pub(crate) async fn append_then_unlock<S: Store + ?Sized>(
    store: &S,
    session: &SessionId,
    holder: &str,
    draft: MessageDraft,
    usage: Option<&UsageRecord>,
) -> Result<(Message, bool), StoreError> {
    let message = store.append_message(session, draft).await?;
    let released = store.unlock_turn(session, holder, usage).await.is_ok();
    Ok((message, released))
}

/// The error a store answers `find_or_insert_external_user` with for a
/// candidate that has no external identity (a caller's bug).
pub(crate) fn missing_external_identity() -> StoreError {
    StoreError::Internal(
        "find_or_insert_external_user needs a user with an external identity".into(),
    )
}

/// The stored result of a turn sent with an idempotency key (serde: a
/// store may keep it as one JSON document).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdempotencyRecord {
    /// The user message the turn stored.
    pub user_message: Message,
    /// The reply, once there is one. `None` means the model call failed after
    /// the user message was stored: a retry with the same key answers it
    /// instead of storing the user message again.
    pub assistant_message: Option<Message>,
    /// Everything the turn stored after the user message (tool-call
    /// messages, tool messages, the reply), so a resend returns the whole
    /// turn. Empty in records written before tools: the reply alone.
    #[serde(default)]
    pub messages: Vec<Message>,
    /// When the store may forget the record.
    pub expires_at: Timestamp,
}

/// Persistence for users, projects, agents, sessions and messages.
///
/// Implementations must be safe to share between tasks and processes: the
/// per-session `seq` and the turn lock are the store's responsibility, so two
/// engine instances on one store behave as one. Run
/// [`testkit`](crate::testkit) (feature `testkit`) against any implementation,
/// with its two-handle mode when the backend can be opened twice.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks the backend answers (for readiness probes).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The feed of changes made through every handle on the backend, if
    /// the store can hear them: the engine then keeps authentication
    /// answers, agents and pages of projects in process while the feed is
    /// healthy (see [`ChangeFeed`]). A store that returns one must
    /// [`apply`](ChangeFeed::apply) its own writes to users, revoked
    /// tokens, API keys, agents and projects before they return, and other
    /// handles' as they arrive. `None` (this
    /// default): every request asks the store.
    fn changes(&self) -> Option<&ChangeFeed> {
        None
    }

    /// Stores a new user; [`StoreError::Conflict`] when the e-mail is taken.
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    /// A user by id.
    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError>;
    /// A user by (normalised) e-mail.
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;

    /// The user created for `candidate.external`, or else `candidate`
    /// stored and returned, atomically: concurrent first calls for one
    /// identity, through any handles on one backend, all answer the same
    /// single user. When the identity has no user yet and
    /// `candidate.email` is taken, [`StoreError::Conflict`] and nothing is
    /// stored. A `candidate` without an external identity is
    /// [`StoreError::Internal`].
    async fn find_or_insert_external_user(&self, candidate: &User) -> Result<User, StoreError>;

    /// Records that a token id (`jti`) is revoked until `expires_at`, after which
    /// the token is invalid anyway and the record may be dropped (but no
    /// record before its own `expires_at`, whatever is revoked later).
    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<(), StoreError>;
    /// Whether a token id was revoked: `true` at least until the
    /// revocation's `expires_at`; after it, either answer (the record may be
    /// gone), so a caller checks the token's own expiry first.
    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError>;
    /// The user a verified token stands for: `Some` if the user exists and
    /// the token's id (`jti`) is not revoked, `None` otherwise. The question
    /// every authenticated request asks, so a store answers it in one round
    /// trip where it can (every store in this crate does); this default asks
    /// [`is_token_revoked`](Store::is_token_revoked) then
    /// [`user`](Store::user). The store never caches it: a revocation
    /// through any handle on the same backend holds on the next call.
    async fn authenticate(&self, user: &UserId, jti: &str) -> Result<Option<User>, StoreError> {
        if self.is_token_revoked(jti).await? {
            return Ok(None);
        }
        self.user(user).await
    }

    /// Stores a new project.
    async fn insert_project(&self, project: &Project) -> Result<(), StoreError>;
    /// The owner's project with this id.
    async fn project(&self, owner: &UserId, id: &ProjectId) -> Result<Option<Project>, StoreError>;
    /// A page of the owner's projects, ordered by id. Cursors are positions in
    /// id order (ids are time-ordered): one naming a deleted or never-stored
    /// project is accepted and pages from where that id sorts. The same holds
    /// for [`agents`](Store::agents) and [`sessions`](Store::sessions).
    async fn projects(
        &self,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
    ) -> Result<Page<Project>, StoreError>;
    /// Writes `name`, `description` and `updated_at`; [`StoreError::NotFound`] if it is gone.
    async fn update_project(&self, project: &Project) -> Result<(), StoreError>;
    /// Deletes the project with its agents, sessions, messages and API keys;
    /// `false` if there was none.
    async fn delete_project(&self, owner: &UserId, id: &ProjectId) -> Result<bool, StoreError>;

    /// Stores a new agent; [`StoreError::NotFound`] if its project is gone or
    /// is not `agent.owner`'s (a child is only stored under its owner's parent).
    async fn insert_agent(&self, agent: &Agent) -> Result<(), StoreError>;
    /// The owner's agent with this id.
    async fn agent(&self, owner: &UserId, id: &AgentId) -> Result<Option<Agent>, StoreError>;
    /// A page of a project's agents, ordered by id.
    async fn agents(
        &self,
        owner: &UserId,
        project: &ProjectId,
        page: &PageRequest<AgentId>,
    ) -> Result<Page<Agent>, StoreError>;
    /// Writes every settable field (its tools, `max_tool_rounds` and
    /// `webhook_secret` included) and `updated_at`; [`StoreError::NotFound`] if it is gone.
    async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError>;
    /// Deletes the agent with its sessions and messages; `false` if there was none.
    async fn delete_agent(&self, owner: &UserId, id: &AgentId) -> Result<bool, StoreError>;

    /// Stores a new session; [`StoreError::NotFound`] if its agent is gone, is
    /// not `session.owner`'s, or is not in `session.project_id`.
    async fn insert_session(&self, session: &ChatSession) -> Result<(), StoreError>;
    /// Stores a new session holding copies of messages 1..=`up_to_seq` of
    /// `from` (same seqs, roles, contents, metadata and `created_at`: a copy
    /// says when its original was written; new ids), with `message_count` =
    /// `up_to_seq`. Nobody sees the new session before all its messages are
    /// in. [`StoreError::NotFound`], leaving nothing behind, if the agent is
    /// refused as by [`insert_session`](Store::insert_session), `from` is
    /// missing or not `session.owner`'s, or `from` has fewer messages.
    async fn insert_fork(
        &self,
        session: &ChatSession,
        from: &SessionId,
        up_to_seq: u64,
    ) -> Result<(), StoreError>;
    /// The owner's session with this id.
    async fn session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError>;
    /// A page of an agent's sessions, ordered by id; with `end_user`, only
    /// the sessions whose [`end_user`](ChatSession::end_user) is that one.
    async fn sessions(
        &self,
        owner: &UserId,
        agent: &AgentId,
        end_user: Option<&EndUser>,
        page: &PageRequest<SessionId>,
    ) -> Result<Page<ChatSession>, StoreError>;
    /// Writes `title` and `updated_at` only (`message_count` belongs to
    /// [`append_message`](Store::append_message)); [`StoreError::NotFound`] if it is gone.
    async fn update_session(&self, session: &ChatSession) -> Result<(), StoreError>;
    /// Replaces the session's `pending_tool_calls`: the client-tool calls a
    /// paused turn waits for (an empty slice clears them). The engine calls
    /// it while holding the session's turn lock, so it needs no condition
    /// of its own; [`session`](Store::session) and
    /// [`sessions`](Store::sessions) show the calls. Leaves `updated_at`
    /// as it is. [`StoreError::NotFound`] if the session is gone.
    async fn set_pending_tool_calls(
        &self,
        session: &SessionId,
        calls: &[ToolCall],
    ) -> Result<(), StoreError>;
    /// Deletes the session with its messages, lock and idempotency records; `false` if there was none.
    async fn delete_session(&self, owner: &UserId, id: &SessionId) -> Result<bool, StoreError>;

    /// Appends a message with the session's next `seq` (1, 2, 3…: no gaps, no
    /// repeats, also under concurrency), bumps `message_count` and `updated_at`,
    /// and returns the stored message. [`StoreError::NotFound`] if the session is gone.
    async fn append_message(
        &self,
        session: &SessionId,
        draft: MessageDraft,
    ) -> Result<Message, StoreError>;
    /// Appends `drafts` in order with the session's next seqs, in one
    /// transaction: the seqs are consecutive (no other append lands between
    /// them), and either every draft is stored or, on any error, none is.
    /// Bumps `message_count` and `updated_at` as
    /// [`append_message`](Store::append_message) does and returns the stored
    /// messages. An empty `drafts` stores nothing. [`StoreError::NotFound`] if
    /// the session is gone; a draft id repeated in `drafts`, or already a
    /// message of the session, fails the whole batch.
    ///
    /// Import appends through it: one round trip per batch instead of one per
    /// message. This default appends one at a time, which is neither
    /// all-or-nothing nor contiguous under concurrency; every store in this
    /// crate overrides it, and the conformance kit checks both properties.
    async fn append_messages(
        &self,
        session: &SessionId,
        drafts: Vec<MessageDraft>,
    ) -> Result<Vec<Message>, StoreError> {
        let mut stored = Vec::with_capacity(drafts.len());
        for draft in drafts {
            stored.push(self.append_message(session, draft).await?);
        }
        Ok(stored)
    }
    /// The last `n` messages of a session in ascending `seq`: O(n), not
    /// O(history). Empty for a missing session, as for a deleted one (the
    /// engine checks the session and its owner first).
    async fn last_messages(
        &self,
        session: &SessionId,
        n: usize,
    ) -> Result<Vec<Message>, StoreError>;
    /// A page of the owner's session's messages ordered by `seq`: the
    /// ownership check is part of the read (one round trip where the
    /// backend allows), so a caller need not read the session first.
    /// [`StoreError::NotFound`]`("chat session")` if the session is missing
    /// or not `owner`'s; a cursor that is not a message of this session is
    /// [`StoreError::NotFound`]`("message")`.
    async fn messages(
        &self,
        owner: &UserId,
        session: &SessionId,
        page: &PageRequest<MessageId>,
    ) -> Result<Page<Message>, StoreError>;

    /// Takes the owner's session's turn lock for `holder` until now +
    /// `lease` if it is free, expired, or already `holder`'s (which extends
    /// it), and returns the session as it stands under the lock (its
    /// `message_count` and `pending_tool_calls` stay current while the lock
    /// is held, since only the holder appends): the turn's ownership check
    /// and its session read in the same round trip as the lock. `None` if
    /// someone else holds it. [`StoreError::NotFound`] if the session is
    /// missing or not `owner`'s (whose lock is then left alone).
    async fn try_lock_turn(
        &self,
        owner: &UserId,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<ChatSession>, StoreError>;
    /// Releases the lock if `holder` still holds it; otherwise does nothing
    /// (also on a missing session). Releasing ends the lock, not just its
    /// lease: a cancel request goes with it, and `holder` locking again
    /// starts a new lock without one.
    ///
    /// With `usage`, also adds the turn's last model call to the ledger as
    /// [`record_usage`](Store::record_usage) does, whether or not the lock
    /// was still held (the call happened), in the same round trip where the
    /// backend allows; a retry of a call whose answer was lost does not
    /// record it twice.
    async fn unlock_turn(
        &self,
        session: &SessionId,
        holder: &str,
        usage: Option<&UsageRecord>,
    ) -> Result<(), StoreError>;
    /// A turn's last append and its release together: appends `draft` as
    /// [`append_message`](Store::append_message) does, then releases the
    /// lock `holder` holds with `usage` as [`unlock_turn`](Store::unlock_turn)
    /// does, in one round trip where the backend allows.
    ///
    /// `Ok((message, true))`: stored and released. `Ok((message, false))`:
    /// stored, but the release failed (the caller releases again; a release
    /// is idempotent and never records `usage` twice). `Err`: as
    /// `append_message`'s errors, and the lock may still be held.
    async fn append_and_unlock(
        &self,
        session: &SessionId,
        holder: &str,
        draft: MessageDraft,
        usage: Option<&UsageRecord>,
    ) -> Result<(Message, bool), StoreError> {
        append_then_unlock(self, session, holder, draft, usage).await
    }
    /// Asks the turn holding the session's lock to stop: marks the lock, and
    /// the holder sees it through [`Store::turn_cancel_requested`]. `true` if
    /// an unexpired lock was held, `false` if no turn was running,
    /// [`StoreError::NotFound`] if the session is missing. A new holder starts
    /// with no request, also when it takes over a lease that ran out with one.
    async fn cancel_turn(&self, session: &SessionId) -> Result<bool, StoreError>;
    /// Whether the lock `holder` holds on the session has been asked to stop
    /// (`false` when `holder` no longer holds it, or the session is missing).
    async fn turn_cancel_requested(
        &self,
        session: &SessionId,
        holder: &str,
    ) -> Result<bool, StoreError>;

    /// Stores a new project API key; [`StoreError::NotFound`] if its project
    /// is gone or is not `key.owner`'s. [`StoreError::Conflict`] if another
    /// key has the same `secret_hash`.
    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    /// The keys of the owner's project, oldest first (empty for a missing project).
    async fn api_keys(
        &self,
        owner: &UserId,
        project: &ProjectId,
    ) -> Result<Vec<ApiKey>, StoreError>;
    /// Deletes a key of the owner's project; `false` if there was none.
    /// Every later [`api_key_by_hash`](Store::api_key_by_hash), through any
    /// handle on the same backend, misses it.
    async fn delete_api_key(
        &self,
        owner: &UserId,
        project: &ProjectId,
        id: &KeyId,
    ) -> Result<bool, StoreError>;
    /// The key whose secret hashes to `secret_hash` (expired ones included:
    /// the engine checks the expiry). The store never caches it: a deletion
    /// through any handle holds on the next call.
    async fn api_key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Sets the key's `last_used_at` to `at`, unless it is already later;
    /// nothing if the key is gone.
    async fn touch_api_key(&self, id: &KeyId, at: Timestamp) -> Result<(), StoreError>;
    /// Counts one request of the key in the fixed one-minute window that
    /// starts at `window`, and returns the window's count so far, this one
    /// included: atomic across every handle on the backend, so processes
    /// sharing it share the limit. Counts of earlier windows may be dropped.
    async fn count_key_request(&self, key: &KeyId, window: Timestamp) -> Result<u64, StoreError>;
    /// The total tokens of the owner's ledger entries for `end_user` in
    /// `project` with `from <= at < to` (for the end users' monthly budget).
    async fn end_user_tokens(
        &self,
        owner: &UserId,
        project: &ProjectId,
        end_user: &EndUser,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64, StoreError>;

    /// Adds a turn to the usage ledger.
    async fn record_usage(&self, record: &UsageRecord) -> Result<(), StoreError>;
    /// The owner's usage with `from <= at < to`, summed per group, groups in
    /// ascending key order.
    async fn usage(
        &self,
        owner: &UserId,
        from: Timestamp,
        to: Timestamp,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>, StoreError>;

    /// The unexpired record stored for `key` in this session.
    async fn idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Stores (or replaces) the record for `key` in this session.
    async fn save_idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError>;
}
