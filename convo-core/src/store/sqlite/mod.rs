//! [`SqliteStore`]: one SQLite file, through rusqlite (feature `sqlite`).
//!
//! - **Connections.** One writer connection and a few readers (deadpool).
//!   Writes run on tokio's blocking threads, one trip there per call, and
//!   queue for the writer inside a process instead of spinning on SQLite's
//!   lock; WAL lets readers run beside it. Short reads (a row by its key,
//!   a page through an index) run in place on the caller's thread, reads
//!   that grow with the data on the blocking threads (see `reads`).
//! - **`seq` and the turn lock.** Every write is one `BEGIN IMMEDIATE`
//!   transaction: it takes the file's write lock first, so the `UPDATE …
//!   RETURNING message_count` that reserves seqs, and the conditional update
//!   that takes a lease, exclude each other across connections *and*
//!   processes. Another process's writer waits up to 5 s (`busy_timeout`),
//!   then the call answers [`StoreError::Unavailable`].
//! - **Durability.** `journal_mode = WAL`, `synchronous = FULL`: each commit
//!   is synced to the write-ahead log before the call returns. A power cut
//!   or OS crash loses no committed write (no message, no lock change); it
//!   can lose only a transaction still in flight, which SQLite rolls back on
//!   the next open, so a half-done append or fork is never seen. A killed
//!   process loses nothing committed either. (SQLite's documentation,
//!   <https://www.sqlite.org/pragma.html#pragma_synchronous>: with `NORMAL`
//!   instead, commits since the last checkpoint could roll back after a
//!   power loss.) Copying the file while a server runs is not a backup: use
//!   `sqlite3 convo.db ".backup copy.db"` or `VACUUM INTO`.
//! - **Schema.** Versioned migrations (`migrations/`), counted in `PRAGMA
//!   user_version`, applied at open; a file from a newer Convo is refused.
//! - **Failures.** Busy, locked, full disk, read-only file, I/O errors:
//!   [`StoreError::Unavailable`] (retryable); constraint violations:
//!   [`StoreError::Conflict`]; the rest [`StoreError::Internal`].
//! - **Deletes** cascade through foreign keys, in one transaction.
//! - **Kept answers.** Authentication answers (users, tokens, keys,
//!   agents) are kept in memory while no process has committed anything,
//!   which the WAL index's header tells without a query (`wal_index`).

mod accounts;
mod connect;
mod error;
mod external;
mod keys;
mod location;
mod lock;
mod messages;
mod migrate;
mod page;
mod pool;
mod reads;
mod resources;
mod rows;
mod usage;
mod wal_index;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use self::pool::Pool;
use async_trait::async_trait;

pub use self::location::{SqliteLocation, SqliteLocationError};
use super::{ChangeFeed, IdempotencyRecord, Store, StoreError};
use crate::domain::{
    Agent, AgentId, ApiKey, ChatSession, Email, EndUser, KeyId, Message, MessageDraft, MessageId,
    Page, PageRequest, Project, ProjectId, SessionId, Timestamp, ToolCall, UsageGroup,
    UsageGroupBy, UsageRecord, User, UserId,
};

/// A [`Store`] in one SQLite file. Cheap to clone (the pools are shared);
/// several processes may open the same file.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Pool,
    readers: Pool,
    location: SqliteLocation,
    /// Answers kept while nothing is committed (see `wal_index`); `None`
    /// when the WAL index cannot be mapped.
    feed: Option<Arc<ChangeFeed>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

// Each operation lives with its kind (accounts, resources, messages, lock,
// keys, usage); the trait impl only routes to them.
#[async_trait]
impl Store for SqliteStore {
    fn changes(&self) -> Option<&ChangeFeed> {
        self.feed.as_deref()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        SqliteStore::ping(self).await
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        SqliteStore::insert_user(self, user).await
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        SqliteStore::user(self, id).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        SqliteStore::user_by_email(self, email).await
    }

    async fn find_or_insert_external_user(&self, candidate: &User) -> Result<User, StoreError> {
        SqliteStore::find_or_insert_external_user(self, candidate).await
    }

    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        SqliteStore::revoke_token(self, jti, expires_at).await
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        SqliteStore::is_token_revoked(self, jti).await
    }

    async fn authenticate(&self, user: &UserId, jti: &str) -> Result<Option<User>, StoreError> {
        SqliteStore::authenticate(self, user, jti).await
    }

    async fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        SqliteStore::insert_project(self, project).await
    }

    async fn project(&self, owner: &UserId, id: &ProjectId) -> Result<Option<Project>, StoreError> {
        SqliteStore::project(self, owner, id).await
    }

    async fn projects(
        &self,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
    ) -> Result<Page<Project>, StoreError> {
        SqliteStore::projects(self, owner, page).await
    }

    async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        SqliteStore::update_project(self, project).await
    }

    async fn delete_project(&self, owner: &UserId, id: &ProjectId) -> Result<bool, StoreError> {
        SqliteStore::delete_project(self, owner, id).await
    }

    async fn insert_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        SqliteStore::insert_agent(self, agent).await
    }

    async fn agent(&self, owner: &UserId, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        SqliteStore::agent(self, owner, id).await
    }

    async fn agents(
        &self,
        owner: &UserId,
        project: &ProjectId,
        page: &PageRequest<AgentId>,
    ) -> Result<Page<Agent>, StoreError> {
        SqliteStore::agents(self, owner, project, page).await
    }

    async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        SqliteStore::update_agent(self, agent).await
    }

    async fn delete_agent(&self, owner: &UserId, id: &AgentId) -> Result<bool, StoreError> {
        SqliteStore::delete_agent(self, owner, id).await
    }

    async fn insert_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        SqliteStore::insert_session(self, session).await
    }

    async fn insert_fork(
        &self,
        session: &ChatSession,
        from: &SessionId,
        up_to_seq: u64,
    ) -> Result<(), StoreError> {
        SqliteStore::insert_fork(self, session, from, up_to_seq).await
    }

    async fn session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        SqliteStore::session(self, owner, id).await
    }

    async fn sessions(
        &self,
        owner: &UserId,
        agent: &AgentId,
        end_user: Option<&EndUser>,
        page: &PageRequest<SessionId>,
    ) -> Result<Page<ChatSession>, StoreError> {
        SqliteStore::sessions(self, owner, agent, end_user, page).await
    }

    async fn update_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        SqliteStore::update_session(self, session).await
    }

    async fn set_pending_tool_calls(
        &self,
        session: &SessionId,
        calls: &[ToolCall],
    ) -> Result<(), StoreError> {
        SqliteStore::set_pending_tool_calls(self, session, calls).await
    }

    async fn delete_session(&self, owner: &UserId, id: &SessionId) -> Result<bool, StoreError> {
        SqliteStore::delete_session(self, owner, id).await
    }

    async fn append_message(
        &self,
        session: &SessionId,
        draft: MessageDraft,
    ) -> Result<Message, StoreError> {
        SqliteStore::append_message(self, session, draft).await
    }

    async fn append_messages(
        &self,
        session: &SessionId,
        drafts: Vec<MessageDraft>,
    ) -> Result<Vec<Message>, StoreError> {
        SqliteStore::append_messages(self, session, drafts).await
    }

    async fn last_messages(
        &self,
        session: &SessionId,
        n: usize,
    ) -> Result<Vec<Message>, StoreError> {
        SqliteStore::last_messages(self, session, n).await
    }

    async fn messages(
        &self,
        owner: &UserId,
        session: &SessionId,
        page: &PageRequest<MessageId>,
    ) -> Result<Page<Message>, StoreError> {
        SqliteStore::messages(self, owner, session, page).await
    }

    async fn try_lock_turn(
        &self,
        owner: &UserId,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<ChatSession>, StoreError> {
        SqliteStore::try_lock_turn(self, owner, session, holder, lease).await
    }

    async fn unlock_turn(
        &self,
        session: &SessionId,
        holder: &str,
        usage: Option<&UsageRecord>,
    ) -> Result<(), StoreError> {
        // Release first: a failed ledger write retried with the release
        // then finds the lock gone and records the call once.
        SqliteStore::unlock_turn(self, session, holder).await?;
        match usage {
            Some(record) => SqliteStore::record_usage(self, record).await,
            None => Ok(()),
        }
    }

    async fn cancel_turn(&self, session: &SessionId) -> Result<bool, StoreError> {
        SqliteStore::cancel_turn(self, session).await
    }

    async fn turn_cancel_requested(
        &self,
        session: &SessionId,
        holder: &str,
    ) -> Result<bool, StoreError> {
        SqliteStore::turn_cancel_requested(self, session, holder).await
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        SqliteStore::insert_api_key(self, key).await
    }

    async fn api_keys(
        &self,
        owner: &UserId,
        project: &ProjectId,
    ) -> Result<Vec<ApiKey>, StoreError> {
        SqliteStore::api_keys(self, owner, project).await
    }

    async fn delete_api_key(
        &self,
        owner: &UserId,
        project: &ProjectId,
        id: &KeyId,
    ) -> Result<bool, StoreError> {
        SqliteStore::delete_api_key(self, owner, project, id).await
    }

    async fn api_key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        SqliteStore::api_key_by_hash(self, secret_hash).await
    }

    async fn touch_api_key(&self, id: &KeyId, at: Timestamp) -> Result<(), StoreError> {
        SqliteStore::touch_api_key(self, id, at).await
    }

    async fn count_key_request(&self, key: &KeyId, window: Timestamp) -> Result<u64, StoreError> {
        SqliteStore::count_key_request(self, key, window).await
    }

    async fn end_user_tokens(
        &self,
        owner: &UserId,
        project: &ProjectId,
        end_user: &EndUser,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64, StoreError> {
        SqliteStore::end_user_tokens(self, owner, project, end_user, from, to).await
    }

    async fn record_usage(&self, record: &UsageRecord) -> Result<(), StoreError> {
        SqliteStore::record_usage(self, record).await
    }

    async fn usage(
        &self,
        owner: &UserId,
        from: Timestamp,
        to: Timestamp,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        SqliteStore::usage(self, owner, from, to, group_by).await
    }

    async fn idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        SqliteStore::idempotency_record(self, session, key).await
    }

    async fn save_idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        SqliteStore::save_idempotency_record(self, session, key, record).await
    }
}
