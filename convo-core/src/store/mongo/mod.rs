//! [`MongoStore`]: MongoDB through the official driver (feature `mongodb`).
//!
//! - `seq` comes from `$inc` on the session document, then the message is
//!   inserted (unique on `(session_id, seq)`); where the deployment supports
//!   transactions (a replica set or sharded cluster) both happen in one, so a
//!   crash between them cannot leave a gap.
//! - The turn lock is a lease on the session document, taken by one
//!   conditional `findAndModify` (free, expired, or already ours → ours
//!   until now + lease) that also checks the owner and returns the session.
//! - While this handle holds a session's lock (`held`), nobody else
//!   appends, so it knows the next `seq`: an append is then one round trip,
//!   a client-level `bulkWrite` (MongoDB 8.0 and later) of the insert and a
//!   `$max` of the session's `message_count`, instead of a transaction of
//!   `$inc` and insert plus a check. The unique `(session_id, seq)` index
//!   still decides: a count that went stale (the lease ran out and another
//!   process appended) is a duplicate key, and the append falls back to
//!   `$inc` after repairing the count from the messages themselves.
//! - The turn's last ledger entry goes with the lock's release, one
//!   `bulkWrite` too, under an `_id` made of session and holder, so a retried
//!   release never records it twice; the turn's final reply goes in the same
//!   `bulkWrite` (`append_and_unlock`).
//! - While it holds the lock, the handle remembers the session's newest
//!   messages from its own appends and reads (`recent`), so a turn that
//!   follows its own previous turn needs no query for its window.
//! - A page of messages reads a tight `seq` range when the session is known
//!   to hold it (`window`): some Mongo-wire servers read every match before
//!   applying a limit.
//! - Message documents carry their session's `owner`, so a page of
//!   messages proves its own ownership; documents stored before that field
//!   (no `owner`) fall back to reading the session.
//! - Cascades set a tombstone (`deleted: true`) on the parent first, then
//!   delete children, then the parent; inserts re-check their parent after
//!   writing and undo themselves if it was tombstoned meanwhile, so nothing
//!   new stays attached to a deleted parent.
//! - Revocations, idempotency records and keys' request windows expire
//!   through TTL indexes.
//!
//! Read/write concerns and retryable writes come from the connection URI.

mod accounts;
mod bulk;
mod changes;
mod connect;
mod docs;
mod error;
mod external;
mod keys;
mod lock;
mod messages;
mod query;
mod recent;
mod resources;
mod tools;
mod usage;
mod window;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::Document;
use mongodb::{Client, Collection, Database};

use self::docs::{AgentDoc, IdempotencyDoc, MessageDoc, ProjectDoc, SessionDoc, UserDoc};
use super::{Change, ChangeFeed, IdempotencyRecord, Store, StoreError};
use crate::domain::{
    Agent, AgentId, ApiKey, ChatSession, Email, EndUser, KeyId, Message, MessageDraft, MessageId,
    Page, PageRequest, Project, ProjectId, SessionId, Timestamp, ToolCall, UsageGroup,
    UsageGroupBy, UsageRecord, User, UserId,
};

/// A [`Store`] on MongoDB.
#[derive(Debug, Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
    transactions: bool,
    /// The server takes client-level `bulkWrite` (wire version 25, MongoDB 8.0).
    bulk_write: bool,
    /// The sessions whose turn lock this handle holds (see the module docs).
    held: Arc<Mutex<HashMap<SessionId, Held>>>,
    /// The highest `seq` seen per session: a hint for tight page reads.
    lengths: Arc<window::Lengths>,
    /// The newest messages of sessions this handle runs turns in.
    recent: Arc<recent::Recent>,
    /// The change feed, started on first use (its streams need a runtime).
    feed: Arc<std::sync::OnceLock<Arc<ChangeFeed>>>,
}

/// A turn lock this handle holds, and what it knows while holding it.
#[derive(Debug, Clone)]
struct Held {
    holder: String,
    /// The session's owner, written into each message for ownership-checked reads.
    owner: String,
    /// The session's `message_count` as this handle last wrote or read it.
    count: i64,
}

/// Ids of children deleted per `$in` batch in a cascade.
const CASCADE_BATCH: usize = 500;
/// Messages copied per `insert_many` when forking a session.
const FORK_BATCH: usize = 1000;

impl MongoStore {
    fn users_coll(&self) -> Collection<UserDoc> {
        self.db.collection("users")
    }

    fn projects_coll(&self) -> Collection<ProjectDoc> {
        self.db.collection("projects")
    }

    fn agents_coll(&self) -> Collection<AgentDoc> {
        self.db.collection("agents")
    }

    fn sessions_coll(&self) -> Collection<SessionDoc> {
        self.db.collection("sessions")
    }

    fn messages_coll(&self) -> Collection<MessageDoc> {
        self.db.collection("messages")
    }

    fn idempotency_coll(&self) -> Collection<IdempotencyDoc> {
        self.db.collection("idempotency")
    }

    fn revoked_coll(&self) -> Collection<Document> {
        self.db.collection("revoked_tokens")
    }

    /// Applies a write of this handle to its feed before the write returns,
    /// so this process never answers from what it just changed.
    fn applied(&self, change: Change) {
        if let Some(feed) = self.feed.get() {
            feed.apply(change);
        }
    }

    fn held(&self) -> MutexGuard<'_, HashMap<SessionId, Held>> {
        // Plain inserts and removals: a panic elsewhere cannot leave it torn.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// Each operation lives with its kind (accounts, resources, messages, lock,
// keys, usage); the trait impl only routes to them.
#[async_trait]
impl Store for MongoStore {
    fn changes(&self) -> Option<&ChangeFeed> {
        if let Some(feed) = self.feed.get() {
            return Some(feed);
        }
        let started = changes::start(&self.db)?;
        // A racing first call may have won: its feed is used, and this
        // one's streams stop as soon as it is dropped here.
        Some(self.feed.get_or_init(|| started))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        MongoStore::ping(self).await
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        MongoStore::insert_user(self, user).await
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        MongoStore::user(self, id).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        MongoStore::user_by_email(self, email).await
    }

    async fn find_or_insert_external_user(&self, candidate: &User) -> Result<User, StoreError> {
        MongoStore::find_or_insert_external_user(self, candidate).await
    }

    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        let revoked = MongoStore::revoke_token(self, jti, expires_at).await;
        self.applied(Change::Token(jti.to_owned()));
        revoked
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        MongoStore::is_token_revoked(self, jti).await
    }

    async fn authenticate(&self, user: &UserId, jti: &str) -> Result<Option<User>, StoreError> {
        MongoStore::authenticate(self, user, jti).await
    }

    async fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        let written = MongoStore::insert_project(self, project).await;
        // Kept pages of projects may be wrong now (even after an error: a
        // write whose answer was lost may have landed).
        self.applied(Change::Projects);
        written
    }

    async fn project(&self, owner: &UserId, id: &ProjectId) -> Result<Option<Project>, StoreError> {
        MongoStore::project(self, owner, id).await
    }

    async fn projects(
        &self,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
    ) -> Result<Page<Project>, StoreError> {
        MongoStore::projects(self, owner, page).await
    }

    async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        let written = MongoStore::update_project(self, project).await;
        self.applied(Change::Projects);
        written
    }

    async fn delete_project(&self, owner: &UserId, id: &ProjectId) -> Result<bool, StoreError> {
        let deleted = MongoStore::delete_project(self, owner, id).await;
        // Its agents and keys go with it.
        self.applied(Change::Everything);
        deleted
    }

    async fn insert_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        MongoStore::insert_agent(self, agent).await
    }

    async fn agent(&self, owner: &UserId, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        MongoStore::agent(self, owner, id).await
    }

    async fn agents(
        &self,
        owner: &UserId,
        project: &ProjectId,
        page: &PageRequest<AgentId>,
    ) -> Result<Page<Agent>, StoreError> {
        MongoStore::agents(self, owner, project, page).await
    }

    async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let updated = MongoStore::update_agent(self, agent).await;
        self.applied(Change::Agent(agent.id));
        updated
    }

    async fn delete_agent(&self, owner: &UserId, id: &AgentId) -> Result<bool, StoreError> {
        let deleted = MongoStore::delete_agent(self, owner, id).await;
        self.applied(Change::Agent(*id));
        // Its sessions go with it.
        self.applied(Change::Sessions);
        deleted
    }

    async fn insert_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        MongoStore::insert_session(self, session).await
    }

    async fn insert_fork(
        &self,
        session: &ChatSession,
        from: &SessionId,
        up_to_seq: u64,
    ) -> Result<(), StoreError> {
        MongoStore::insert_fork(self, session, from, up_to_seq).await
    }

    async fn session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        MongoStore::session(self, owner, id).await
    }

    async fn sessions(
        &self,
        owner: &UserId,
        agent: &AgentId,
        end_user: Option<&EndUser>,
        page: &PageRequest<SessionId>,
    ) -> Result<Page<ChatSession>, StoreError> {
        MongoStore::sessions(self, owner, agent, end_user, page).await
    }

    async fn update_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        MongoStore::update_session(self, session).await
    }

    async fn set_pending_tool_calls(
        &self,
        session: &SessionId,
        calls: &[ToolCall],
    ) -> Result<(), StoreError> {
        MongoStore::set_pending_tool_calls(self, session, calls).await
    }

    async fn delete_session(&self, owner: &UserId, id: &SessionId) -> Result<bool, StoreError> {
        self.recent.forget(id);
        let deleted = MongoStore::delete_session(self, owner, id).await;
        // Even after an error: part of the cascade may have landed.
        self.applied(Change::Sessions);
        deleted
    }

    async fn append_message(
        &self,
        session: &SessionId,
        draft: MessageDraft,
    ) -> Result<Message, StoreError> {
        MongoStore::append_message(self, session, draft).await
    }

    async fn append_messages(
        &self,
        session: &SessionId,
        drafts: Vec<MessageDraft>,
    ) -> Result<Vec<Message>, StoreError> {
        MongoStore::append_messages(self, session, drafts).await
    }

    async fn last_messages(
        &self,
        session: &SessionId,
        n: usize,
    ) -> Result<Vec<Message>, StoreError> {
        MongoStore::last_messages(self, session, n).await
    }

    async fn messages(
        &self,
        owner: &UserId,
        session: &SessionId,
        page: &PageRequest<MessageId>,
    ) -> Result<Page<Message>, StoreError> {
        MongoStore::messages(self, owner, session, page).await
    }

    async fn try_lock_turn(
        &self,
        owner: &UserId,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<ChatSession>, StoreError> {
        MongoStore::try_lock_turn(self, owner, session, holder, lease).await
    }

    async fn unlock_turn(
        &self,
        session: &SessionId,
        holder: &str,
        usage: Option<&UsageRecord>,
    ) -> Result<(), StoreError> {
        MongoStore::unlock_turn(self, session, holder, usage).await
    }

    async fn append_and_unlock(
        &self,
        session: &SessionId,
        holder: &str,
        draft: MessageDraft,
        usage: Option<&UsageRecord>,
    ) -> Result<(Message, bool), StoreError> {
        MongoStore::append_and_unlock(self, session, holder, draft, usage).await
    }

    async fn cancel_turn(&self, session: &SessionId) -> Result<bool, StoreError> {
        MongoStore::cancel_turn(self, session).await
    }

    async fn turn_cancel_requested(
        &self,
        session: &SessionId,
        holder: &str,
    ) -> Result<bool, StoreError> {
        MongoStore::turn_cancel_requested(self, session, holder).await
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        MongoStore::insert_api_key(self, key).await
    }

    async fn api_keys(
        &self,
        owner: &UserId,
        project: &ProjectId,
    ) -> Result<Vec<ApiKey>, StoreError> {
        MongoStore::api_keys(self, owner, project).await
    }

    async fn delete_api_key(
        &self,
        owner: &UserId,
        project: &ProjectId,
        id: &KeyId,
    ) -> Result<bool, StoreError> {
        let deleted = MongoStore::delete_api_key(self, owner, project, id).await;
        self.applied(Change::ApiKey(*id));
        deleted
    }

    async fn api_key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        MongoStore::api_key_by_hash(self, secret_hash).await
    }

    async fn touch_api_key(&self, id: &KeyId, at: Timestamp) -> Result<(), StoreError> {
        let touched = MongoStore::touch_api_key(self, id, at).await;
        self.applied(Change::ApiKey(*id));
        touched
    }

    async fn count_key_request(&self, key: &KeyId, window: Timestamp) -> Result<u64, StoreError> {
        MongoStore::count_key_request(self, key, window).await
    }

    async fn end_user_tokens(
        &self,
        owner: &UserId,
        project: &ProjectId,
        end_user: &EndUser,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64, StoreError> {
        MongoStore::end_user_tokens(self, owner, project, end_user, from, to).await
    }

    async fn record_usage(&self, record: &UsageRecord) -> Result<(), StoreError> {
        MongoStore::record_usage(self, record).await
    }

    async fn usage(
        &self,
        owner: &UserId,
        from: Timestamp,
        to: Timestamp,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        MongoStore::usage(self, owner, from, to, group_by).await
    }

    async fn idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        MongoStore::idempotency_record(self, session, key).await
    }

    async fn save_idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        MongoStore::save_idempotency_record(self, session, key, record).await
    }
}
