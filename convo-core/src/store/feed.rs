//! [`ChangeFeed`]: what a store hears of changes made by any process, and
//! the answers this process may keep because of it (the users and token
//! ids that authenticate, API keys by secret hash, agents by id, pages of
//! an owner's projects, settled pages of a session's messages).
//!
//! The rule that keeps a revocation honoured by every server: a kept answer
//! is used only while every source of the feed is connected and has been
//! heard from recently. Connecting, losing a source, and every change bump
//! an epoch; an answer read from the store is kept only if the epoch did
//! not move while it was read, so a change whose event arrived during the
//! read can never be overwritten by the stale answer (a project's change
//! and a session's deletion each move an epoch of their own, which only
//! pages of projects, or of messages, are checked against). When a source goes
//! down the kept answers are dropped and every request asks the store again
//! until it is back.
//!
//! A backend that cannot deliver changes but can tell cheaply whether
//! anything at all was committed (SQLite's shared-memory WAL index) gives
//! a [`ChangeProbe`] instead: the feed asks it before every use of a kept
//! answer and drops them all when anything changed, so a revocation made by
//! any process holds on every handle's very next request.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::domain::{
    Agent, AgentId, ApiKey, KeyId, Message, MessageId, Order, Page, PageRequest, Project,
    ProjectId, SessionId, User, UserId,
};

/// The most answers of one kind kept; past it they are all dropped, so
/// memory stays bounded whatever the traffic.
const MAX_KEPT: usize = 10_000;
/// The most projects kept across all kept pages (a page holds up to 100).
const MAX_KEPT_PROJECTS: usize = 20_000;
/// The most bytes of messages (as JSON) kept across all kept pages of
/// messages: a page holds up to 100 messages of any length.
const MAX_KEPT_MESSAGE_BYTES: usize = 32 << 20;

/// A change that may make a kept answer wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A user was changed or deleted.
    User(UserId),
    /// A token id (`jti`) was revoked.
    Token(String),
    /// A project API key was changed or deleted.
    ApiKey(KeyId),
    /// An agent was changed or deleted.
    Agent(AgentId),
    /// A project was created, changed or deleted: every kept page of
    /// projects goes (project writes are rare next to list reads, and a
    /// deletion's change names no owner).
    Projects,
    /// A chat session was deleted (by itself, or with its agent): every
    /// kept page of messages goes (deletions are rare next to page reads,
    /// and a cascade's changes name sessions one by one).
    Sessions,
    /// Anything the store cannot attribute (a dropped collection, a deleted
    /// project's children): every kept answer goes.
    Everything,
}

/// What a [`ChangeProbe`] saw since it was last asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probed {
    /// Nothing was committed.
    Same,
    /// Something was committed, by this process or another.
    Changed,
    /// It cannot tell now (e.g. a write under way): kept answers must not be used.
    Unknown,
}

/// A cheap, exact check of whether a backend changed since the last call,
/// asked before every use of a kept answer (so it must cost nanoseconds,
/// not a query).
pub trait ChangeProbe: Send + Sync + std::fmt::Debug {
    /// Whether anything was committed since the previous call. `Changed`
    /// may be answered when nothing relevant changed (the feed then only
    /// forgets more than it had to); `Same` only when nothing did.
    fn probe(&self) -> Probed;
}

/// A store's feed of changes, and the answers kept while it is healthy.
///
/// A store that hears every change made through any handle on its backend
/// (its own process's writes synchronously, other processes' through the
/// database, e.g. MongoDB change streams) hands one out from
/// [`Store::changes`](super::Store::changes) and calls
/// [`apply`](Self::apply) for each change, [`connected`](Self::connected)
/// / [`disconnected`](Self::disconnected) as each of its sources comes and
/// goes, and [`heard`](Self::heard) whenever a source answers, even with
/// nothing.
#[derive(Debug)]
pub struct ChangeFeed {
    state: Mutex<State>,
    /// How long a source may be silent before the kept answers stop being
    /// used; `None` for a feed that cannot lag (one process's own writes).
    max_silence: Option<Duration>,
    /// Asked before each use of a kept answer, for a store that can only
    /// detect changes.
    probe: Option<Box<dyn ChangeProbe>>,
}

#[derive(Debug)]
struct State {
    /// Per source: `Some(when last heard)` while connected.
    sources: Vec<Option<Instant>>,
    epoch: u64,
    users: HashMap<UserId, User>,
    /// Token ids known not revoked, with the user each was used for.
    tokens: HashMap<String, UserId>,
    keys: HashMap<String, ApiKey>,
    key_hashes: HashMap<KeyId, String>,
    agents: HashMap<AgentId, Agent>,
    /// Pages of an owner's projects, weighed by their projects.
    project_pages: KeptPages<(), ProjectId, Project>,
    /// Settled pages of a session's messages, weighed by their bytes as JSON.
    message_pages: KeptPages<SessionId, MessageId, Message>,
}

/// Which page of which list, read by whom: the owner, the list's parent
/// (`()` for an owner's projects, the session for its messages) and the
/// page request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PageKey<P, K> {
    owner: UserId,
    parent: P,
    limit: usize,
    order: Order,
    after: Option<K>,
    before: Option<K>,
}

impl<P, K: Copy> PageKey<P, K> {
    fn new(owner: &UserId, parent: P, page: &PageRequest<K>) -> Self {
        Self {
            owner: *owner,
            parent,
            limit: page.limit,
            order: page.order,
            after: page.after,
            before: page.before,
        }
    }
}

/// The kept pages of one kind of list, bounded by [`MAX_KEPT`] pages and by
/// their total weight (past either, they are all dropped), with the epoch
/// that the changes of that kind move, so that such a change spoils only
/// reads of these pages.
#[derive(Debug)]
struct KeptPages<P, K, T> {
    pages: HashMap<PageKey<P, K>, (Page<T>, usize)>,
    /// The weights of `pages`, summed.
    weight: usize,
    max_weight: usize,
    /// Moved by changes of this kind (and by everything that moves the
    /// feed's epoch for all kinds).
    epoch: u64,
}

impl<P: Eq + std::hash::Hash, K: Eq + std::hash::Hash, T: Clone> KeptPages<P, K, T> {
    fn new(max_weight: usize) -> Self {
        Self {
            pages: HashMap::new(),
            weight: 0,
            max_weight,
            epoch: 0,
        }
    }

    fn get(&self, key: &PageKey<P, K>) -> Option<Page<T>> {
        self.pages.get(key).map(|(page, _)| page.clone())
    }

    /// Keeps `page` of `weight`, read when this kind's epoch was `read_at`;
    /// not if a change of this kind came since, nor if it alone is over
    /// the bound.
    fn keep(&mut self, read_at: u64, key: PageKey<P, K>, page: &Page<T>, weight: usize) {
        if self.epoch != read_at || weight > self.max_weight {
            return;
        }
        if self.pages.len() >= MAX_KEPT || self.weight + weight > self.max_weight {
            self.forget();
        }
        let replaced = self.pages.insert(key, (page.clone(), weight));
        self.weight += weight;
        self.weight -= replaced.map_or(0, |(_, w)| w);
    }

    /// A change of this kind: every page goes, and reads under way are
    /// not kept.
    fn changed(&mut self) {
        self.epoch += 1;
        self.forget();
    }

    fn forget(&mut self) {
        self.pages.clear();
        self.weight = 0;
    }
}

/// Whether a page of messages can never change while its session lives:
/// messages are never edited and a new one always takes a `seq` above
/// every stored one, so a page bounded above by a cursor (a message that
/// exists), or read upwards and followed by more messages, holds the same
/// messages for good. The newest messages (read downwards from the top,
/// or a last page read upwards) change with the next append.
pub(crate) fn settled_page(page: &PageRequest<MessageId>, found: &Page<Message>) -> bool {
    let (_, upper) = page.order.ascending_bounds(page.after, page.before);
    upper.is_some() || (page.walks_ascending() && found.has_more)
}

/// Proof that the feed was usable when a store read began: the answer may
/// be kept only if nothing happened since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    epoch: u64,
    project_epoch: u64,
    session_epoch: u64,
}

impl ChangeFeed {
    /// A feed with `sources` sources, all down until [`connected`](Self::connected);
    /// a source silent for longer than `max_silence` makes the feed unusable.
    pub fn new(sources: usize, max_silence: Duration) -> Self {
        Self::with(vec![None; sources], Some(max_silence), None)
    }

    /// A feed that is always healthy: for a store whose every change is
    /// made in this process and applied before the write returns.
    pub fn in_process() -> Self {
        Self::with(vec![Some(Instant::now())], None, None)
    }

    /// A feed that hears no changes but asks `probe` before every use of a
    /// kept answer, forgetting them all when anything was committed: for a
    /// store that other processes write but that can detect their commits
    /// cheaply. It has one source, connected.
    pub fn probed(probe: Box<dyn ChangeProbe>) -> Self {
        Self::with(vec![Some(Instant::now())], None, Some(probe))
    }

    fn with(
        sources: Vec<Option<Instant>>,
        max_silence: Option<Duration>,
        probe: Option<Box<dyn ChangeProbe>>,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                sources,
                epoch: 0,
                users: HashMap::new(),
                tokens: HashMap::new(),
                keys: HashMap::new(),
                key_hashes: HashMap::new(),
                agents: HashMap::new(),
                project_pages: KeptPages::new(MAX_KEPT_PROJECTS),
                message_pages: KeptPages::new(MAX_KEPT_MESSAGE_BYTES),
            }),
            max_silence,
            probe,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement: a panic elsewhere
        // leaves nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets what `change` may have made wrong.
    pub fn apply(&self, change: Change) {
        let mut s = self.lock();
        // Pages move their own epochs.
        if !matches!(change, Change::Projects | Change::Sessions) {
            s.epoch += 1;
        }
        match change {
            Change::User(id) => {
                s.users.remove(&id);
            }
            Change::Token(jti) => {
                s.tokens.remove(&jti);
            }
            Change::ApiKey(id) => {
                if let Some(hash) = s.key_hashes.remove(&id) {
                    s.keys.remove(&hash);
                }
            }
            Change::Agent(id) => {
                s.agents.remove(&id);
            }
            Change::Projects => s.project_pages.changed(),
            Change::Sessions => s.message_pages.changed(),
            Change::Everything => s.clear(),
        }
    }

    /// Source `source` is (again) delivering every change from now on:
    /// what was kept is dropped, since changes may have been missed.
    pub fn connected(&self, source: usize) {
        let mut s = self.lock();
        s.clear();
        if let Some(slot) = s.sources.get_mut(source) {
            *slot = Some(Instant::now());
        }
    }

    /// Source `source` stopped delivering: nothing kept is used until it
    /// is connected again.
    pub fn disconnected(&self, source: usize) {
        let mut s = self.lock();
        s.clear();
        if let Some(slot) = s.sources.get_mut(source) {
            *slot = None;
        }
    }

    /// Source `source` answered (with or without changes), so it is not
    /// lagging.
    pub fn heard(&self, source: usize) {
        let mut s = self.lock();
        if let Some(Some(at)) = s.sources.get_mut(source) {
            *at = Instant::now();
        }
    }

    /// Whether kept answers may be used now.
    pub fn is_healthy(&self) -> bool {
        self.usable(&mut self.lock())
    }

    /// Whether kept answers may be used now: every source heard from
    /// recently, and, for a probed feed, nothing committed since the last
    /// look (if something was, everything kept goes first).
    fn usable(&self, s: &mut State) -> bool {
        if let Some(probe) = &self.probe {
            match probe.probe() {
                Probed::Same => {}
                Probed::Changed => s.clear(),
                Probed::Unknown => {
                    s.clear();
                    return false;
                }
            }
        }
        s.sources
            .iter()
            .all(|source| match (source, self.max_silence) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(at), Some(max)) => at.elapsed() <= max,
            })
    }

    /// A ticket for a store read, if the feed is usable now.
    pub(crate) fn ticket(&self) -> Option<Ticket> {
        let mut s = self.lock();
        self.usable(&mut s).then_some(Ticket {
            epoch: s.epoch,
            project_epoch: s.project_pages.epoch,
            session_epoch: s.message_pages.epoch,
        })
    }

    /// Runs `keep` if the feed stayed usable and nothing changed since `ticket`.
    fn keep(&self, ticket: Ticket, keep: impl FnOnce(&mut State)) {
        let mut s = self.lock();
        // Probed first: a commit during the read moves the epoch.
        if self.usable(&mut s) && s.epoch == ticket.epoch {
            keep(&mut s);
        }
    }

    /// The user a token id was kept for, if the feed is usable.
    pub(crate) fn user(&self, id: &UserId, jti: &str) -> Option<User> {
        let mut s = self.lock();
        if !self.usable(&mut s) || s.tokens.get(jti) != Some(id) {
            return None;
        }
        s.users.get(id).cloned()
    }

    /// Keeps that `jti` authenticates `user`, read under `ticket`.
    pub(crate) fn keep_user(&self, ticket: Ticket, jti: &str, user: &User) {
        self.keep(ticket, |s| {
            bounded(&mut s.users);
            bounded(&mut s.tokens);
            s.users.insert(user.id, user.clone());
            s.tokens.insert(jti.to_owned(), user.id);
        });
    }

    /// The key kept for this secret hash, if the feed is usable.
    pub(crate) fn api_key(&self, secret_hash: &str) -> Option<ApiKey> {
        let mut s = self.lock();
        self.usable(&mut s)
            .then(|| s.keys.get(secret_hash).cloned())
            .flatten()
    }

    /// Keeps a key found by its secret hash, read under `ticket`.
    pub(crate) fn keep_api_key(&self, ticket: Ticket, key: &ApiKey) {
        self.keep(ticket, |s| {
            if s.keys.len() >= MAX_KEPT {
                s.keys.clear();
                s.key_hashes.clear();
            }
            s.keys.insert(key.secret_hash.clone(), key.clone());
            s.key_hashes.insert(key.id, key.secret_hash.clone());
        });
    }

    /// The owner's agent kept under this id, if the feed is usable.
    pub(crate) fn agent(&self, owner: &UserId, id: &AgentId) -> Option<Agent> {
        let mut s = self.lock();
        if !self.usable(&mut s) {
            return None;
        }
        s.agents.get(id).filter(|a| a.owner == *owner).cloned()
    }

    /// Keeps an agent, read under `ticket`.
    pub(crate) fn keep_agent(&self, ticket: Ticket, agent: &Agent) {
        self.keep(ticket, |s| {
            bounded(&mut s.agents);
            s.agents.insert(agent.id, agent.clone());
        });
    }
}

impl ChangeFeed {
    /// The page of the owner's projects kept for this request, if the
    /// feed is usable.
    pub(crate) fn project_page(
        &self,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
    ) -> Option<Page<Project>> {
        let mut s = self.lock();
        if !self.usable(&mut s) {
            return None;
        }
        s.project_pages.get(&PageKey::new(owner, (), page))
    }

    /// Keeps a page of the owner's projects, read under `ticket`.
    pub(crate) fn keep_project_page(
        &self,
        ticket: Ticket,
        owner: &UserId,
        page: &PageRequest<ProjectId>,
        found: &Page<Project>,
    ) {
        let key = PageKey::new(owner, (), page);
        self.keep(ticket, |s| {
            s.project_pages
                .keep(ticket.project_epoch, key, found, found.data.len());
        });
    }
}

impl ChangeFeed {
    /// The page of a session's messages kept for this owner and request,
    /// if the feed is usable.
    pub(crate) fn message_page(
        &self,
        owner: &UserId,
        session: &SessionId,
        page: &PageRequest<MessageId>,
    ) -> Option<Page<Message>> {
        let mut s = self.lock();
        if !self.usable(&mut s) {
            return None;
        }
        s.message_pages.get(&PageKey::new(owner, *session, page))
    }

    /// Keeps a [settled](settled_page) page of a session's messages, read
    /// for `owner` under `ticket`; a page that may still change is not kept.
    pub(crate) fn keep_message_page(
        &self,
        ticket: Ticket,
        owner: &UserId,
        session: &SessionId,
        page: &PageRequest<MessageId>,
        found: &Page<Message>,
    ) {
        if !settled_page(page, found) {
            return;
        }
        // Weighed outside the lock: the page as JSON, about what it holds.
        let weight = serde_json::to_vec(&found.data).map_or(usize::MAX, |json| json.len());
        let key = PageKey::new(owner, *session, page);
        self.keep(ticket, |s| {
            s.message_pages
                .keep(ticket.session_epoch, key, found, weight);
        });
    }
}

impl State {
    fn clear(&mut self) {
        self.epoch += 1;
        self.users.clear();
        self.tokens.clear();
        self.keys.clear();
        self.key_hashes.clear();
        self.agents.clear();
        self.project_pages.changed();
        self.message_pages.changed();
    }
}

/// Makes room for one more entry by dropping them all when full.
fn bounded<K, V>(map: &mut HashMap<K, V>) {
    if map.len() >= MAX_KEPT {
        map.clear();
    }
}

// The kit's fixtures make the users, agents and keys.
#[cfg(all(test, feature = "testkit"))]
mod tests;
