//! # convo-core
//!
//! The Convo engine: multi-tenant chat agents that any Rust program can embed.
//!
//! A user owns projects; a project holds agents (a system prompt plus model
//! settings); an agent has chat sessions; a session holds the persistent
//! message history. [`Convo`] is the only place where ownership and the turn
//! rules live. It works over two traits, so the same logic runs in a test, in
//! a desktop app or behind the bundled REST server:
//!
//! - [`Store`] persists everything. [`MemoryStore`] is always compiled;
//!   `MongoStore` sits behind the `mongodb` feature, `SqliteStore` behind
//!   `sqlite`.
//! - [`LlmProvider`] writes the replies. [`MockProvider`] (deterministic,
//!   scriptable, recording) is always compiled; `GeminiProvider` sits behind
//!   the `gemini` feature.
//!
//! ## Crate map
//! The crate root is the embedder's view: [`Convo`], its [`Settings`], the
//! objects it hands out ([`User`], [`Project`], [`Agent`], [`ChatSession`],
//! [`Message`], their typed ids (which every operation takes, or their
//! text: [`IntoId`]), [`Page`] with its typed [`Cursor`]s) and the parts to
//! choose from.
//! Each name is exported once. The modules hold the rest:
//! - [`engine`]: the engine's operation types, and [`engine::transfer`]
//!   (the export format and its line reader).
//! - [`store`]: the [`Store`] trait with what only a store implementer needs
//!   ([`store::MessageDraft`], [`store::PageRequest`],
//!   [`store::UsageRecord`], [`store::IdempotencyRecord`]), [`MemoryStore`],
//!   `MongoStore` (feature `mongodb`), `SqliteStore` (feature `sqlite`) and
//!   [`store::InstrumentedStore`].
//! - [`llm`]: the [`LlmProvider`] trait with its request and reply types,
//!   [`MockProvider`], [`RouterProvider`] (providers chosen by model prefix,
//!   e.g. `openai:<model>`), and the providers behind features.
//! - `testkit` (feature `testkit`): the conformance suite every store must pass.
//!
//! ## Example
//! ```
//! use std::sync::Arc;
//! use convo_core::{Convo, MemoryStore, MockProvider, NewAgent, NewProject, SendMessage, Settings};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), convo_core::ConvoError> {
//! let convo = Convo::new(Arc::new(MemoryStore::new()), Arc::new(MockProvider::new()), Settings::default());
//! let user = convo.register("ada@example.com", "correct horse battery", Some("Ada")).await?;
//! let project = convo.create_project(&user.id, NewProject { name: "Demo".into(), ..Default::default() }).await?;
//! let agent = convo
//!     .create_agent(&user.id, project.id, NewAgent {
//!         name: "Helper".into(),
//!         system_prompt: "You are terse.".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! let session = convo.start_session(&user.id, agent.id, None).await?;
//! let turn = convo.send_message(&user.id, session.id, SendMessage::new("Hello")).await?;
//! assert_eq!(turn.assistant_message.content, "echo: Hello");
//! assert_eq!(turn.assistant_message.seq, 2);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
// On docs.rs (`--cfg docsrs`), each item shows the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod domain;
pub mod engine;
mod error;
pub mod llm;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
#[cfg(feature = "webhooks")]
pub mod webhook;

// The embedder's view, each name once: the engine and its operations' types.
pub use engine::tools::{tool_fn, Tool, ToolError, ToolInvocation};
pub use engine::{
    context, looks_like_key, month_of, secret_hash, CompletionMessage, CompletionOverrides,
    CompletionRole, ContextMessage, ContextPreview, Convo, ExportRecord, ExportStream, ImportError,
    InvalidSettings, KeyRefusal, ListParams, SendMessage, SeqRange, Settings, ToolOutput, Turn,
    TurnEvent, TurnStream, UsageReport, DEFAULT_MODEL, KEY_PREFIX, MAX_RATE_LIMIT_PER_MINUTE,
};
pub use error::ConvoError;

// The objects the engine hands out, and the values they carry.
pub use domain::{
    now, Agent, AgentId, AgentPatch, ApiKey, Caller, ChatSession, ContextRef, Cursor, Email,
    EmailError, EndUser, EndUserError, ExternalIdentity, ExternalIdentityError, FinishReason,
    ForkOrigin, IdParseError, Identified, IntoId, IssuedApiKey, KeyCaller, KeyId, KeyScope,
    Message, MessageId, MissingEndUser, NewAgent, NewApiKey, NewProject, Order, Page,
    ParseNameError, Project, ProjectId, ProjectPatch, ProviderState, ReasoningEffort,
    ReasoningEffortError, Role, SessionId, Timestamp, ToolCall, ToolDefinition, ToolExecution,
    Usage, UsageGroup, UsageGroupBy, UsageTotals, User, UserId, WebhookTarget,
};

// What an embedder chooses the engine's parts from. Writing a store or a
// provider takes more: those items live in `store` and `llm`.
pub use llm::{LlmError, LlmProvider, MockProvider, ReasoningSupport, RouterProvider};
#[cfg(feature = "mongodb")]
pub use store::MongoStore;
pub use store::{MemoryStore, Store, StoreError};
#[cfg(feature = "sqlite")]
pub use store::{SqliteLocation, SqliteStore};

// Crates whose types the public API names (timestamps, ids, streams, tool
// schemas, the traits' `#[async_trait]`), re-exported so an embedder names
// them at the versions Convo uses without adding dependencies of its own.
pub use async_trait;
pub use chrono;
pub use futures;
pub use serde_json;
pub use uuid;

/// The crate's README (its crates.io page), whose examples run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
