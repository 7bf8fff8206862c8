//! How strong is the conformance kit? Each [`Mutant`] is one plausible bug
//! planted in a store (a wrapper around [`MemoryStore`] that implements the
//! turn lock and a few bookkeeping rules itself, so it can get them wrong),
//! and the kit must catch every one: at least one behaviour must fail
//! against it. The unbroken wrapper must pass every behaviour, so a "catch"
//! is the planted bug's doing and nothing else's.
//!
//! A mutant the kit no longer catches means a rule has lost its test; a new
//! rule in the `Store` docs deserves a mutant here.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use convo_core::async_trait::async_trait;
use convo_core::chrono::TimeDelta;
use convo_core::store::{IdempotencyRecord, MessageDraft, PageRequest, UsageRecord};
use convo_core::testkit::{behaviours, twin_behaviours};
use convo_core::{
    now, Agent, AgentId, ApiKey, ChatSession, Email, EndUser, KeyId, MemoryStore, Message,
    MessageId, Page, Project, ProjectId, SessionId, Store, StoreError, Timestamp, ToolCall,
    UsageGroup, UsageGroupBy, User, UserId,
};

/// One planted bug each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutant {
    /// A new holder of an expired lease inherits the old holder's cancel request.
    InheritedCancel,
    /// `unlock_turn` only ends the lease: holder and cancel request stay.
    UnlockOnlyExpires,
    /// `unlock_turn` releases the lock whoever asks.
    UnlockByAnyone,
    /// `unlock_turn` frees the lock but leaves its cancel request for the next holder.
    UnlockKeepsCancel,
    /// An expired lease still refuses other holders.
    ExpiredLockNeverFrees,
    /// Renewing keeps the old expiry.
    RenewalKeepsOldLease,
    /// `cancel_turn` marks a lease that has run out.
    CancelIgnoresExpiry,
    /// Check-then-set: two racing lockers can both win.
    NonAtomicLock,
    /// `try_lock_turn` on a missing session takes a lock instead of `NotFound`.
    LockMissingSession,
    /// `append_message` answers a `seq` one too high.
    SeqOffByOne,
    /// `last_messages(n)` returns `n + 1` messages.
    LastMessagesOneTooMany,
    /// `messages` ignores its cursors.
    CursorIgnored,
    /// A page cursor naming a deleted project is `NotFound`.
    CursorMustNameAStoredItem,
    /// `messages` answers another owner's session.
    MessagesIgnoreOwner,
    /// `try_lock_turn` takes (and returns) another owner's session.
    LockIgnoresOwner,
    /// `unlock_turn` drops the usage record it is given.
    ReleaseForgetsUsage,
    /// `session` ignores the owner.
    SessionReadIgnoresOwner,
    /// An idempotency record is returned after its expiry.
    IdempotencyNeverExpires,
    /// `revoke_token` stores nothing.
    RevocationForgotten,
    /// Storing an expired revocation drops the unexpired ones (an inverted purge).
    RevocationsPurgedEarly,
    /// A fork copies messages up to `up_to_seq + 1`.
    ForkOneTooMany,
    /// `append_messages` appends one at a time: neither atomic nor contiguous.
    BulkAppendOneByOne,
    /// Each handle keeps its own turn lock (only two handles can tell).
    LockPerHandle,
    /// `authenticate` answers the user whether or not the token is revoked.
    AuthenticateIgnoresRevocation,
    /// Each handle caches `authenticate`'s answers, forgetting them only on
    /// its own revocations (only two handles can tell).
    AuthenticateCachedPerHandle,
    /// `find_or_insert_external_user` never finds: every call makes a new user.
    ExternalUserAlwaysNew,
    /// `sessions` ignores its end-user filter.
    EndUserFilterIgnored,
    /// `api_keys` lists the newest key first.
    KeysListedNewestFirst,
    /// `delete_api_key` checks the owner but not the key's project.
    DeleteKeyIgnoresProject,
    /// `touch_api_key` sets `last_used_at` even when it is later already.
    TouchMovesBack,
    /// Counting a key's request is read, then write: racing requests share a count.
    KeyCountNonAtomic,
    /// A key's count never restarts in a new window.
    KeyCountNeverRestarts,
    /// `end_user_tokens` ignores its window.
    EndUserTokensIgnoreWindow,
    /// `api_key_by_hash` finds a deleted project's keys (a lookup table
    /// cleaned only by `delete_api_key`).
    ProjectDeleteKeepsKeys,
    /// Each handle caches `api_key_by_hash`, forgetting only its own
    /// deletions (only two handles can tell).
    KeyLookupCachedPerHandle,
}

const MUTANTS: [Mutant; 35] = [
    Mutant::InheritedCancel,
    Mutant::UnlockOnlyExpires,
    Mutant::UnlockByAnyone,
    Mutant::UnlockKeepsCancel,
    Mutant::ExpiredLockNeverFrees,
    Mutant::RenewalKeepsOldLease,
    Mutant::CancelIgnoresExpiry,
    Mutant::NonAtomicLock,
    Mutant::LockMissingSession,
    Mutant::SeqOffByOne,
    Mutant::LastMessagesOneTooMany,
    Mutant::CursorIgnored,
    Mutant::CursorMustNameAStoredItem,
    Mutant::MessagesIgnoreOwner,
    Mutant::LockIgnoresOwner,
    Mutant::ReleaseForgetsUsage,
    Mutant::SessionReadIgnoresOwner,
    Mutant::IdempotencyNeverExpires,
    Mutant::RevocationForgotten,
    Mutant::RevocationsPurgedEarly,
    Mutant::ForkOneTooMany,
    Mutant::BulkAppendOneByOne,
    Mutant::LockPerHandle,
    Mutant::AuthenticateIgnoresRevocation,
    Mutant::AuthenticateCachedPerHandle,
    Mutant::ExternalUserAlwaysNew,
    Mutant::EndUserFilterIgnored,
    Mutant::KeysListedNewestFirst,
    Mutant::DeleteKeyIgnoresProject,
    Mutant::TouchMovesBack,
    Mutant::KeyCountNonAtomic,
    Mutant::KeyCountNeverRestarts,
    Mutant::EndUserTokensIgnoreWindow,
    Mutant::ProjectDeleteKeepsKeys,
    Mutant::KeyLookupCachedPerHandle,
];

/// A turn lock's lease.
#[derive(Debug)]
struct Lease {
    holder: String,
    until: Instant,
    cancel: bool,
}

/// What the wrapper keeps beside the memory store.
#[derive(Debug, Default)]
struct Books {
    /// Each stored session's owner.
    owners: HashMap<SessionId, UserId>,
    /// Idempotency records' real expiries (for `IdempotencyNeverExpires`).
    expiries: HashMap<(SessionId, String), Timestamp>,
    /// Every revoked `jti`, and those a purge wrongly dropped.
    revoked: HashSet<String>,
    forgotten: HashSet<String>,
    /// Each stored key by hash (for `ProjectDeleteKeepsKeys`) and its
    /// project (for `DeleteKeyIgnoresProject`).
    keys: HashMap<String, ApiKey>,
    key_projects: HashMap<KeyId, ProjectId>,
    /// `last_used_at` as `TouchMovesBack` keeps it.
    last_used: HashMap<KeyId, Timestamp>,
    /// Each key's window and count, as the counting mutants keep them.
    windows: HashMap<KeyId, (Timestamp, u64)>,
}

/// `authenticate`'s answers by user and `jti`.
type AuthCache = HashMap<(UserId, String), Option<User>>;

/// A [`MemoryStore`] with the turn lock (and some bookkeeping) done here,
/// right unless `mutant` says which rule to break.
#[derive(Debug, Clone)]
struct MutantStore {
    mutant: Option<Mutant>,
    inner: Arc<MemoryStore>,
    locks: Arc<Mutex<HashMap<SessionId, Lease>>>,
    books: Arc<Mutex<Books>>,
    /// `authenticate`'s answers, kept under `AuthenticateCachedPerHandle`.
    auth_cache: Arc<Mutex<AuthCache>>,
    /// `api_key_by_hash`'s answers, kept under `KeyLookupCachedPerHandle`.
    key_cache: Arc<Mutex<HashMap<String, Option<ApiKey>>>>,
}

fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MutantStore {
    fn new(mutant: Option<Mutant>) -> Self {
        Self {
            mutant,
            inner: Arc::new(MemoryStore::new()),
            locks: Arc::default(),
            books: Arc::default(),
            auth_cache: Arc::default(),
            key_cache: Arc::default(),
        }
    }

    /// Another handle on the same backend: under `LockPerHandle`, with a
    /// turn lock of its own.
    fn twin(&self) -> Self {
        let mut twin = self.clone();
        if self.is(Mutant::LockPerHandle) {
            twin.locks = Arc::default();
        }
        if self.is(Mutant::AuthenticateCachedPerHandle) {
            twin.auth_cache = Arc::default();
        }
        if self.is(Mutant::KeyLookupCachedPerHandle) {
            twin.key_cache = Arc::default();
        }
        twin
    }

    fn is(&self, mutant: Mutant) -> bool {
        self.mutant == Some(mutant)
    }

    /// A key as read, with `last_used_at` as `TouchMovesBack` keeps it.
    fn patched(&self, mut key: ApiKey) -> ApiKey {
        if self.is(Mutant::TouchMovesBack) {
            if let Some(at) = guard(&self.books).last_used.get(&key.id) {
                key.last_used_at = Some(*at);
            }
        }
        key
    }

    /// Counting done here, wrongly: `KeyCountNonAtomic` reads, yields and
    /// writes; `KeyCountNeverRestarts` ignores the window.
    async fn count_here(&self, key: &KeyId, window: Timestamp) -> u64 {
        let (start, count) = guard(&self.books)
            .windows
            .get(key)
            .copied()
            .unwrap_or((window, 0));
        let count = if window > start && !self.is(Mutant::KeyCountNeverRestarts) {
            1
        } else {
            count + 1
        };
        if self.is(Mutant::KeyCountNonAtomic) {
            // The bug: another request may count in between the read and the write.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        guard(&self.books)
            .windows
            .insert(*key, (start.max(window), count));
        count
    }

    /// `NotFound` unless the session is stored (the inner lock is never
    /// taken, so its `cancel_turn` only answers that).
    async fn check_session(&self, session: &SessionId) -> Result<(), StoreError> {
        self.inner.cancel_turn(session).await.map(|_| ())
    }

    /// Takes the lock if free, expired or `holder`'s, in one critical section.
    fn take(&self, session: &SessionId, holder: &str, lease: Duration) -> bool {
        let mut locks = guard(&self.locks);
        let now = Instant::now();
        match locks.get_mut(session) {
            Some(l) if l.holder == holder => {
                if !self.is(Mutant::RenewalKeepsOldLease) {
                    l.until = now + lease;
                }
                true
            }
            Some(l) if l.until > now || self.is(Mutant::ExpiredLockNeverFrees) => false,
            previous => {
                let inherited = previous.is_some_and(|l| l.cancel)
                    && (self.is(Mutant::InheritedCancel) || self.is(Mutant::UnlockKeepsCancel));
                locks.insert(
                    *session,
                    Lease {
                        holder: holder.to_owned(),
                        until: now + lease,
                        cancel: inherited,
                    },
                );
                true
            }
        }
    }

    /// Takes the lock (atomically, unless `NonAtomicLock`).
    async fn lock_taken(&self, session: &SessionId, holder: &str, lease: Duration) -> bool {
        if self.is(Mutant::NonAtomicLock) {
            let free = {
                let locks = guard(&self.locks);
                locks
                    .get(session)
                    .is_none_or(|l| l.holder == holder || l.until <= Instant::now())
            };
            // The bug: another locker may get in between the check and the set.
            tokio::time::sleep(Duration::from_millis(5)).await;
            if !free {
                return false;
            }
            guard(&self.locks).insert(
                *session,
                Lease {
                    holder: holder.to_owned(),
                    until: Instant::now() + lease,
                    cancel: false,
                },
            );
            return true;
        }
        self.take(session, holder, lease)
    }

    /// Releases `holder`'s lock (or, under the lock mutants, gets it wrong).
    fn release(&self, session: &SessionId, holder: &str) {
        let mut locks = guard(&self.locks);
        let Some(lease) = locks.get_mut(session) else {
            return;
        };
        if lease.holder != holder && !self.is(Mutant::UnlockByAnyone) {
            return;
        }
        if self.is(Mutant::UnlockOnlyExpires) {
            lease.until = Instant::now();
        } else if self.is(Mutant::UnlockKeepsCancel) {
            lease.holder.clear();
            lease.until = Instant::now();
        } else {
            locks.remove(session);
        }
    }
}

#[async_trait]
impl Store for MutantStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        self.inner.insert_user(user).await
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.inner.user(id).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.inner.user_by_email(email).await
    }

    async fn find_or_insert_external_user(&self, candidate: &User) -> Result<User, StoreError> {
        if self.is(Mutant::ExternalUserAlwaysNew) {
            // Stored without its identity, so the next call finds nothing.
            let forgetful = User {
                external: None,
                ..candidate.clone()
            };
            self.inner.insert_user(&forgetful).await?;
            return Ok(candidate.clone());
        }
        self.inner.find_or_insert_external_user(candidate).await
    }

    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        if self.is(Mutant::RevocationForgotten) {
            return Ok(());
        }
        {
            let mut books = guard(&self.books);
            if self.is(Mutant::RevocationsPurgedEarly) && expires_at <= now() {
                let all: Vec<String> = books.revoked.iter().cloned().collect();
                books.forgotten.extend(all);
            }
            books.revoked.insert(jti.to_owned());
        }
        guard(&self.auth_cache).clear();
        self.inner.revoke_token(jti, expires_at).await
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let forgotten = guard(&self.books).forgotten.contains(jti);
        Ok(!forgotten && self.inner.is_token_revoked(jti).await?)
    }

    async fn authenticate(&self, user: &UserId, jti: &str) -> Result<Option<User>, StoreError> {
        if self.is(Mutant::AuthenticateIgnoresRevocation) {
            return self.inner.user(user).await;
        }
        let key = (*user, jti.to_owned());
        let cached = self.is(Mutant::AuthenticateCachedPerHandle);
        if cached {
            if let Some(answer) = guard(&self.auth_cache).get(&key) {
                return Ok(answer.clone());
            }
        }
        // Through this wrapper's own revocation books (the mutants above).
        let answer = if self.is_token_revoked(jti).await? {
            None
        } else {
            self.inner.user(user).await?
        };
        if cached {
            guard(&self.auth_cache).insert(key, answer.clone());
        }
        Ok(answer)
    }

    async fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        self.inner.insert_project(project).await
    }

    async fn project(&self, owner: &UserId, id: &ProjectId) -> Result<Option<Project>, StoreError> {
        self.inner.project(owner, id).await
    }

    async fn projects(
        &self,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
    ) -> Result<Page<Project>, StoreError> {
        if self.is(Mutant::CursorMustNameAStoredItem) {
            for cursor in [page.after, page.before].into_iter().flatten() {
                if self.inner.project(owner, &cursor).await?.is_none() {
                    return Err(StoreError::NotFound("project"));
                }
            }
        }
        self.inner.projects(owner, page).await
    }

    async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        self.inner.update_project(project).await
    }

    async fn delete_project(&self, owner: &UserId, id: &ProjectId) -> Result<bool, StoreError> {
        self.inner.delete_project(owner, id).await
    }

    async fn insert_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        self.inner.insert_agent(agent).await
    }

    async fn agent(&self, owner: &UserId, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        self.inner.agent(owner, id).await
    }

    async fn agents(
        &self,
        owner: &UserId,
        project: &ProjectId,
        page: &PageRequest<AgentId>,
    ) -> Result<Page<Agent>, StoreError> {
        self.inner.agents(owner, project, page).await
    }

    async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        self.inner.update_agent(agent).await
    }

    async fn delete_agent(&self, owner: &UserId, id: &AgentId) -> Result<bool, StoreError> {
        self.inner.delete_agent(owner, id).await
    }

    async fn insert_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        self.inner.insert_session(session).await?;
        guard(&self.books).owners.insert(session.id, session.owner);
        Ok(())
    }

    async fn insert_fork(
        &self,
        session: &ChatSession,
        from: &SessionId,
        up_to_seq: u64,
    ) -> Result<(), StoreError> {
        let up_to_seq = if self.is(Mutant::ForkOneTooMany) {
            up_to_seq + 1
        } else {
            up_to_seq
        };
        self.inner.insert_fork(session, from, up_to_seq).await?;
        guard(&self.books).owners.insert(session.id, session.owner);
        Ok(())
    }

    async fn session(
        &self,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<Option<ChatSession>, StoreError> {
        let owner = match guard(&self.books).owners.get(id) {
            Some(real) if self.is(Mutant::SessionReadIgnoresOwner) => *real,
            _ => *owner,
        };
        self.inner.session(&owner, id).await
    }

    async fn sessions(
        &self,
        owner: &UserId,
        agent: &AgentId,
        end_user: Option<&EndUser>,
        page: &PageRequest<SessionId>,
    ) -> Result<Page<ChatSession>, StoreError> {
        let end_user = end_user.filter(|_| !self.is(Mutant::EndUserFilterIgnored));
        self.inner.sessions(owner, agent, end_user, page).await
    }

    async fn update_session(&self, session: &ChatSession) -> Result<(), StoreError> {
        self.inner.update_session(session).await
    }

    async fn set_pending_tool_calls(
        &self,
        session: &SessionId,
        calls: &[ToolCall],
    ) -> Result<(), StoreError> {
        self.inner.set_pending_tool_calls(session, calls).await
    }

    async fn delete_session(&self, owner: &UserId, id: &SessionId) -> Result<bool, StoreError> {
        let deleted = self.inner.delete_session(owner, id).await?;
        if deleted {
            guard(&self.locks).remove(id);
        }
        Ok(deleted)
    }

    async fn append_message(
        &self,
        session: &SessionId,
        draft: MessageDraft,
    ) -> Result<Message, StoreError> {
        let mut message = self.inner.append_message(session, draft).await?;
        if self.is(Mutant::SeqOffByOne) {
            message.seq += 1;
        }
        Ok(message)
    }

    async fn append_messages(
        &self,
        session: &SessionId,
        drafts: Vec<MessageDraft>,
    ) -> Result<Vec<Message>, StoreError> {
        if !self.is(Mutant::BulkAppendOneByOne) {
            return self.inner.append_messages(session, drafts).await;
        }
        let mut stored = Vec::with_capacity(drafts.len());
        for draft in drafts {
            stored.push(self.inner.append_message(session, draft).await?);
            tokio::task::yield_now().await;
        }
        Ok(stored)
    }

    async fn last_messages(
        &self,
        session: &SessionId,
        n: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let n = if self.is(Mutant::LastMessagesOneTooMany) {
            n + 1
        } else {
            n
        };
        self.inner.last_messages(session, n).await
    }

    async fn messages(
        &self,
        owner: &UserId,
        session: &SessionId,
        page: &PageRequest<MessageId>,
    ) -> Result<Page<Message>, StoreError> {
        let owner = if self.is(Mutant::MessagesIgnoreOwner) {
            // The bug: read as the session's real owner, whoever asks.
            guard(&self.books)
                .owners
                .get(session)
                .copied()
                .unwrap_or(*owner)
        } else {
            *owner
        };
        if self.is(Mutant::CursorIgnored) {
            let uncursored = PageRequest {
                after: None,
                before: None,
                ..page.clone()
            };
            return self.inner.messages(&owner, session, &uncursored).await;
        }
        self.inner.messages(&owner, session, page).await
    }

    async fn try_lock_turn(
        &self,
        owner: &UserId,
        session: &SessionId,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<ChatSession>, StoreError> {
        if !self.is(Mutant::LockMissingSession) {
            self.check_session(session).await?;
        }
        let real = guard(&self.books).owners.get(session).copied();
        if real.is_some_and(|real| real != *owner) && !self.is(Mutant::LockIgnoresOwner) {
            return Err(StoreError::NotFound("chat session"));
        }
        if !self.lock_taken(session, holder, lease).await {
            return Ok(None);
        }
        self.inner.session(&real.unwrap_or(*owner), session).await
    }

    async fn unlock_turn(
        &self,
        session: &SessionId,
        holder: &str,
        usage: Option<&UsageRecord>,
    ) -> Result<(), StoreError> {
        if let Some(record) = usage.filter(|_| !self.is(Mutant::ReleaseForgetsUsage)) {
            self.inner.record_usage(record).await?;
        }
        self.release(session, holder);
        Ok(())
    }

    async fn cancel_turn(&self, session: &SessionId) -> Result<bool, StoreError> {
        self.check_session(session).await?;
        let mut locks = guard(&self.locks);
        match locks.get_mut(session) {
            Some(l)
                if !l.holder.is_empty()
                    && (l.until > Instant::now() || self.is(Mutant::CancelIgnoresExpiry)) =>
            {
                l.cancel = true;
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
        Ok(guard(&self.locks)
            .get(session)
            .is_some_and(|l| l.holder == holder && l.cancel))
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        self.inner.insert_api_key(key).await?;
        let mut books = guard(&self.books);
        books.keys.insert(key.secret_hash.clone(), key.clone());
        books.key_projects.insert(key.id, key.project_id);
        Ok(())
    }

    async fn api_keys(
        &self,
        owner: &UserId,
        project: &ProjectId,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let mut keys = self.inner.api_keys(owner, project).await?;
        if self.is(Mutant::KeysListedNewestFirst) {
            keys.reverse();
        }
        Ok(keys.into_iter().map(|k| self.patched(k)).collect())
    }

    async fn delete_api_key(
        &self,
        owner: &UserId,
        project: &ProjectId,
        id: &KeyId,
    ) -> Result<bool, StoreError> {
        let project = match guard(&self.books).key_projects.get(id) {
            Some(real) if self.is(Mutant::DeleteKeyIgnoresProject) => *real,
            _ => *project,
        };
        let deleted = self.inner.delete_api_key(owner, &project, id).await?;
        if deleted {
            guard(&self.books).keys.retain(|_, k| k.id != *id);
            guard(&self.key_cache).retain(|_, k| k.as_ref().is_none_or(|k| k.id != *id));
        }
        Ok(deleted)
    }

    async fn api_key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let cached = self.is(Mutant::KeyLookupCachedPerHandle);
        if cached {
            if let Some(answer) = guard(&self.key_cache).get(secret_hash) {
                return Ok(answer.clone());
            }
        }
        let mut found = self.inner.api_key_by_hash(secret_hash).await?;
        if found.is_none() && self.is(Mutant::ProjectDeleteKeepsKeys) {
            found = guard(&self.books).keys.get(secret_hash).cloned();
        }
        if cached {
            guard(&self.key_cache).insert(secret_hash.to_owned(), found.clone());
        }
        Ok(found.map(|k| self.patched(k)))
    }

    async fn touch_api_key(&self, id: &KeyId, at: Timestamp) -> Result<(), StoreError> {
        if self.is(Mutant::TouchMovesBack) {
            guard(&self.books).last_used.insert(*id, at);
        }
        self.inner.touch_api_key(id, at).await
    }

    async fn count_key_request(&self, key: &KeyId, window: Timestamp) -> Result<u64, StoreError> {
        if self.is(Mutant::KeyCountNonAtomic) || self.is(Mutant::KeyCountNeverRestarts) {
            return Ok(self.count_here(key, window).await);
        }
        self.inner.count_key_request(key, window).await
    }

    async fn end_user_tokens(
        &self,
        owner: &UserId,
        project: &ProjectId,
        end_user: &EndUser,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64, StoreError> {
        let (from, to) = if self.is(Mutant::EndUserTokensIgnoreWindow) {
            (from - TimeDelta::days(3650), to + TimeDelta::days(3650))
        } else {
            (from, to)
        };
        self.inner
            .end_user_tokens(owner, project, end_user, from, to)
            .await
    }

    async fn record_usage(&self, record: &UsageRecord) -> Result<(), StoreError> {
        self.inner.record_usage(record).await
    }

    async fn usage(
        &self,
        owner: &UserId,
        from: Timestamp,
        to: Timestamp,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>, StoreError> {
        self.inner.usage(owner, from, to, group_by).await
    }

    async fn idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let mut record = self.inner.idempotency_record(session, key).await?;
        if let Some(record) = record.as_mut() {
            if let Some(real) = guard(&self.books).expiries.get(&(*session, key.to_owned())) {
                record.expires_at = *real;
            }
        }
        Ok(record)
    }

    async fn save_idempotency_record(
        &self,
        session: &SessionId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        if !self.is(Mutant::IdempotencyNeverExpires) {
            return self
                .inner
                .save_idempotency_record(session, key, record)
                .await;
        }
        // The bug: the record is kept as if it never expired.
        guard(&self.books)
            .expiries
            .insert((*session, key.to_owned()), record.expires_at);
        let forever = IdempotencyRecord {
            expires_at: now() + TimeDelta::days(365),
            ..record.clone()
        };
        self.inner
            .save_idempotency_record(session, key, &forever)
            .await
    }
}

/// The behaviours (one- and two-handle) that failed against `mutant`, with
/// their panic messages; all of them run at once on one store.
async fn failures(mutant: Option<Mutant>) -> Vec<(&'static str, String)> {
    let store = MutantStore::new(mutant);
    let mut tasks = Vec::new();
    for (name, behaviour) in behaviours() {
        let handle: Arc<dyn Store> = Arc::new(store.clone());
        tasks.push((name, tokio::spawn(behaviour(handle))));
    }
    for (name, behaviour) in twin_behaviours() {
        let a: Arc<dyn Store> = Arc::new(store.clone());
        let b: Arc<dyn Store> = Arc::new(store.twin());
        tasks.push((name, tokio::spawn(behaviour(a, b))));
    }
    let mut failed = Vec::new();
    for (name, task) in tasks {
        if let Err(e) = task.await {
            let message = match e.try_into_panic() {
                Ok(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            failed.push((name, message));
        }
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_unbroken_wrapper_passes_every_behaviour() {
    let failed = failures(None).await;

    assert!(
        failed.is_empty(),
        "the wrapper without a planted bug must pass the whole kit, failed: {failed:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kit_catches_every_planted_bug() {
    let runs = MUTANTS.map(|mutant| tokio::spawn(failures(Some(mutant))));
    let mut survivors = Vec::new();
    for (mutant, run) in MUTANTS.iter().zip(runs) {
        let failed = run
            .await
            .expect("a mutant's run must not panic outside its behaviours");
        // The catch table, for `--no-capture` runs.
        let names: Vec<&str> = failed.iter().map(|(name, _)| *name).collect();
        eprintln!("{mutant:?}: caught by {} ({names:?})", failed.len());
        if failed.is_empty() {
            survivors.push(*mutant);
        }
    }

    assert!(
        survivors.is_empty(),
        "no behaviour of the kit failed against these planted bugs: {survivors:?}"
    );
}
