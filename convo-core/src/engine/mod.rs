//! [`Convo`]: the engine. The only place where ownership and turn rules live.

mod accounts;
mod complete;
pub mod context;
mod resources;
pub mod transfer;
mod turn;
mod usage;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OnceCell, Semaphore};

use crate::domain::{Order, PageRequest};
use crate::error::ConvoError;
use crate::llm::LlmProvider;
use crate::store::Store;

pub use complete::{CompletionMessage, CompletionOverrides, CompletionRole};
pub use transfer::{
    parse_lines, ExportRecord, ExportStream, ImportError, EXPORT_FORMAT, EXPORT_VERSION,
};
pub use turn::{
    ContextMessage, ContextPreview, SendMessage, SeqRange, Turn, TurnEvent, TurnStream,
};
pub use usage::{month_of, UsageReport};

/// The default model: Gemini's current stable Flash model.
///
/// Chosen from Google's "Gemini deprecations" page
/// (<https://ai.google.dev/gemini-api/docs/deprecations>) and its release
/// notes, read 2026-11-30: `gemini-3.8-flash` (GA 2026-09-02) is the newest
/// stable Flash model; `gemini-2.5-flash`, the previous default, is closed to
/// new API keys and shut down on 2026-12-01, and `gemini-3.7-flash` is
/// deprecated and routed to 3.8.
pub const DEFAULT_MODEL: &str = "gemini-3.8-flash";

/// Engine settings. `Settings::default()` suits tests and small servers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Model given to agents created without one.
    pub default_model: String,
    /// Reasoning effort given to agents created without one, when their
    /// model is known to take it (otherwise they keep the model's own
    /// default). `low` by default: Convo's agents answer people in a
    /// conversation, and Google's guidance for Gemini 3 Flash is to use
    /// lower thinking levels for latency-sensitive work and keep `medium`
    /// and `high` for complex, multi-step tasks ("Developer's guide to
    /// Gemini 3.8 Flash", read 2026-11-30). An agent that needs more sets it.
    pub default_reasoning_effort: Option<crate::domain::ReasoningEffort>,
    /// Context window (in messages, the new one included) of agents created without one.
    pub default_context_messages: u32,
    /// The largest context window an agent may ask for.
    pub max_context_messages: u32,
    /// How long a turn holds its session's lock before others may take it
    /// (the engine renews it while the turn runs; a crashed holder frees it
    /// when the lease ends).
    pub turn_lease: Duration,
    /// How long a turn sent with an idempotency key is remembered.
    pub idempotency_ttl: Duration,
    /// Password hashes computed at once (each takes ~19 MiB and a core for ~20 ms).
    pub max_concurrent_password_hashes: usize,
    /// The largest message content accepted, in bytes.
    pub max_message_bytes: usize,
    /// Events buffered between a streaming turn and its consumer.
    pub stream_buffer: usize,
    /// How often a running turn checks the store for a cancel request made
    /// through another engine (another server process). A request made
    /// through this engine stops the turn at once.
    pub cancel_poll: Duration,
    /// Tokens each user may spend per calendar month (UTC), counted from the
    /// usage ledger with the provider's reported totals; `None`: no budget.
    /// Checked before the model is called, so one turn may overrun it.
    pub monthly_token_budget: Option<u64>,
    /// Turns one user may have running at once in this engine; `None`: no
    /// limit.
    pub max_concurrent_turns: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_model: DEFAULT_MODEL.to_owned(),
            default_reasoning_effort: Some(crate::domain::ReasoningEffort::Low),
            default_context_messages: 20,
            max_context_messages: 1000,
            turn_lease: Duration::from_secs(120),
            idempotency_ttl: Duration::from_secs(24 * 60 * 60),
            max_concurrent_password_hashes: std::thread::available_parallelism()
                .map_or(2, |n| n.get()),
            max_message_bytes: 1024 * 1024,
            stream_buffer: 32,
            cancel_poll: Duration::from_millis(500),
            monthly_token_budget: None,
            max_concurrent_turns: None,
        }
    }
}

/// The multi-tenant chat engine.
///
/// Cheap to clone (one `Arc`), `Send + Sync`. Every operation takes the acting
/// user; objects of other users, and ids that do not parse, are
/// [`ConvoError::NotFound`].
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
    pub fn new(store: Arc<dyn Store>, llm: Arc<dyn LlmProvider>, settings: Settings) -> Self {
        let permits = settings.max_concurrent_password_hashes.max(1);
        Self {
            shared: Arc::new(Shared {
                store,
                llm,
                settings,
                hash_permits: Semaphore::new(permits),
                dummy_hash: OnceCell::new(),
                running: std::sync::Mutex::default(),
                turns_per_user: std::sync::Mutex::default(),
                turn_metrics: std::sync::OnceLock::new(),
            }),
        }
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

/// Pagination parameters as a client sends them (see [`PageRequest`] for
/// what the cursors mean).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// 1–100; 20 when `None`.
    pub limit: Option<u32>,
    /// The list's default order when `None`.
    pub order: Option<Order>,
    /// Id of the item to start after.
    pub after: Option<String>,
    /// Id of the item to stop before.
    pub before: Option<String>,
}

impl ListParams {
    /// Validates into a typed [`PageRequest`], with `default_order` when none is given.
    pub(crate) fn parse<K>(
        &self,
        default_order: Order,
        parse_id: impl Fn(&str) -> Result<K, crate::domain::IdParseError>,
    ) -> Result<PageRequest<K>, ConvoError> {
        let limit = match self.limit {
            None => PageRequest::<K>::DEFAULT_LIMIT,
            Some(n) if (1..=PageRequest::<K>::MAX_LIMIT as u32).contains(&n) => n as usize,
            Some(_) => return Err(ConvoError::invalid("limit", "must be between 1 and 100")),
        };
        let cursor = |field: &'static str, value: &Option<String>| {
            value
                .as_deref()
                // `after=` with nothing is no cursor, as in most list APIs.
                .filter(|v| !v.is_empty())
                .map(|v| {
                    parse_id(v)
                        .map_err(|_| ConvoError::invalid(field, "is not an id from this list"))
                })
                .transpose()
        };
        Ok(PageRequest {
            limit,
            order: self.order.unwrap_or(default_order),
            after: cursor("after", &self.after)?,
            before: cursor("before", &self.before)?,
        })
    }
}
