//! [`Convo`]: the engine. The only place where ownership and turn rules live.

mod accounts;
mod agent_tools;
mod complete;
pub mod context;
mod keys;
mod reach;
mod resources;
mod settings;
pub mod tools;
pub mod transfer;
mod turn;
mod usage;
mod validate;

use std::sync::Arc;

use tokio::sync::{OnceCell, Semaphore};

use crate::domain::{Cursor, IntoId, Order, PageRequest};
use crate::error::ConvoError;
use crate::llm::LlmProvider;
use crate::store::Store;

pub use complete::{CompletionMessage, CompletionOverrides, CompletionRole};
pub use keys::{looks_like_key, secret_hash, KeyRefusal, KEY_PREFIX, MAX_RATE_LIMIT_PER_MINUTE};
pub use settings::{InvalidSetting, InvalidSettings, Settings, DEFAULT_MODEL, MIN_TURN_LEASE};
pub use transfer::{
    parse_lines, ExportRecord, ExportStream, ImportError, EXPORT_FORMAT, EXPORT_VERSION,
};
pub use turn::{
    ContextMessage, ContextPreview, SendMessage, SeqRange, ToolOutput, Turn, TurnEvent, TurnStream,
};
pub use usage::{month_of, UsageReport};

/// The multi-tenant chat engine.
///
/// Cheap to clone (one `Arc`), `Send + Sync`. Every operation takes the acting
/// user; objects of other users, and ids that do not parse, are
/// [`ConvoError::NotFound`]. Operations take the ids of the objects they name
/// as typed ids or as text ([`IntoId`]).
#[derive(Clone)]
pub struct Convo {
    shared: Arc<Shared>,
}

struct Shared {
    store: Arc<dyn Store>,
    llm: Arc<dyn LlmProvider>,
    settings: Settings,
    hash_permits: Semaphore,
    dummy_hash: OnceCell<String>,
    /// The turns this engine is running, by session: how a cancel request
    /// made here reaches them without waiting for the store poll.
    running: std::sync::Mutex<
        std::collections::HashMap<crate::domain::SessionId, Arc<tokio::sync::Notify>>,
    >,
    /// The metrics handles of turns, made on first use.
    turn_metrics: std::sync::OnceLock<turn::TurnMetrics>,
    /// Turns running per user, for [`Settings::max_concurrent_turns`].
    turns_per_user: std::sync::Mutex<std::collections::HashMap<crate::domain::UserId, usize>>,
    /// When this engine last wrote each key's `last_used_at`.
    key_touches:
        std::sync::Mutex<std::collections::HashMap<crate::domain::KeyId, std::time::Instant>>,
    /// The embedder's Rust tools, by name.
    tools: tools::ToolRegistry,
    /// The client for webhook tools, built on first use (once per engine:
    /// it holds the connection pool). `Err`: why it could not be built.
    #[cfg(feature = "webhooks")]
    webhooks: std::sync::OnceLock<Result<crate::webhook::WebhookCaller, String>>,
}

impl std::fmt::Debug for Convo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Convo")
            .field("llm", &self.shared.llm.name())
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl Convo {
    /// An engine over this store and model provider.
    ///
    /// # Panics
    /// When `settings` fail [`Settings::validate`] (a program's own mistake,
    /// like an out-of-range constant). Settings that come from outside the
    /// program, such as a configuration file, go through [`Convo::try_new`].
    pub fn new(store: Arc<dyn Store>, llm: Arc<dyn LlmProvider>, settings: Settings) -> Self {
        match Self::try_new(store, llm, settings) {
            Ok(convo) => convo,
            Err(err) => panic!("{err}"),
        }
    }

    /// An engine over this store and model provider, or every setting that
    /// cannot work.
    pub fn try_new(
        store: Arc<dyn Store>,
        llm: Arc<dyn LlmProvider>,
        settings: Settings,
    ) -> Result<Self, InvalidSettings> {
        settings.validate()?;
        let permits = settings.max_concurrent_password_hashes;
        Ok(Self {
            shared: Arc::new(Shared {
                store,
                llm,
                settings,
                hash_permits: Semaphore::new(permits),
                dummy_hash: OnceCell::new(),
                running: std::sync::Mutex::default(),
                turns_per_user: std::sync::Mutex::default(),
                turn_metrics: std::sync::OnceLock::new(),
                key_touches: std::sync::Mutex::default(),
                tools: tools::ToolRegistry::default(),
                #[cfg(feature = "webhooks")]
                webhooks: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The store. Crate-private: every front end reaches the store through
    /// the engine's operations, where ownership and the turn rules live.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// The model provider (crate-private, like the store).
    pub(crate) fn llm(&self) -> &Arc<dyn LlmProvider> {
        &self.shared.llm
    }

    /// Whether the store answers (for readiness probes).
    pub async fn ping_store(&self) -> Result<(), ConvoError> {
        Ok(self.store().ping().await?)
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }
}

/// Pagination parameters of a list of items identified by `K` (see
/// [`PageRequest`] for what the cursors mean).
///
/// The cursors are typed, or text as a client sent it (see [`Cursor`]):
///
/// ```
/// # use convo_core::{Convo, ListParams, Message, SessionId, UserId};
/// # async fn f(convo: Convo, user: UserId, session: SessionId) -> Result<Vec<Message>, convo_core::ConvoError> {
/// let mut params = ListParams { limit: Some(100), ..ListParams::default() };
/// let mut all = Vec::new();
/// loop {
///     let page = convo.list_messages(&user, session, &params).await?;
///     params.after = page.next_after().map(Into::into);
///     all.extend(page.data);
///     if params.after.is_none() {
///         return Ok(all);
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams<K> {
    /// 1–100; 20 when `None`.
    pub limit: Option<u32>,
    /// The list's default order when `None`.
    pub order: Option<Order>,
    /// Id of the item to start after.
    pub after: Option<Cursor<K>>,
    /// Id of the item to stop before.
    pub before: Option<Cursor<K>>,
}

// By hand: the derive would ask `K: Default`, and no id has a meaningful one.
impl<K> Default for ListParams<K> {
    fn default() -> Self {
        Self {
            limit: None,
            order: None,
            after: None,
            before: None,
        }
    }
}

impl<K: Copy> ListParams<K> {
    /// Validates into a typed [`PageRequest`], with `default_order` when none is given.
    pub(crate) fn parse(
        &self,
        default_order: Order,
        parse_id: impl Fn(&str) -> Result<K, crate::domain::IdParseError>,
    ) -> Result<PageRequest<K>, ConvoError> {
        let limit = match self.limit {
            None => PageRequest::<K>::DEFAULT_LIMIT,
            Some(n) if (1..=PageRequest::<K>::MAX_LIMIT as u32).contains(&n) => n as usize,
            Some(_) => return Err(ConvoError::invalid("limit", "must be between 1 and 100")),
        };
        let cursor = |field: &'static str, value: &Option<Cursor<K>>| {
            value
                .as_ref()
                .and_then(|c| c.resolve(&parse_id))
                .transpose()
                .map_err(|_| ConvoError::invalid(field, "is not an id from this list"))
        };
        Ok(PageRequest {
            limit,
            order: self.order.unwrap_or(default_order),
            after: cursor("after", &self.after)?,
            before: cursor("before", &self.before)?,
        })
    }
}

/// An id from a caller, of the kind the operation names; text that is no
/// id is [`ConvoError::NotFound`] with `what`, as an id that names nothing.
pub(crate) fn parse_id<T>(id: impl IntoId<T>, what: &'static str) -> Result<T, ConvoError> {
    id.into_id().map_err(|_| ConvoError::NotFound(what))
}
