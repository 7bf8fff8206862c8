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
//! - [`domain`]: ids, users, projects, agents, sessions, messages, pagination.
//! - [`engine`]: [`Convo`], its [`Settings`] and the turn algorithm.
//! - [`store`]: the [`Store`] trait and [`MemoryStore`].
//! - [`llm`]: the [`LlmProvider`] trait, [`MockProvider`], and [`RouterProvider`]
//!   (providers chosen by model prefix, e.g. `openai:<model>`).
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
//!     .create_agent(&user.id, &project.id.to_string(), NewAgent {
//!         name: "Helper".into(),
//!         system_prompt: "You are terse.".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! let session = convo.start_session(&user.id, &agent.id.to_string(), None).await?;
//! let turn = convo.send_message(&user.id, &session.id.to_string(), SendMessage::new("Hello")).await?;
//! assert_eq!(turn.assistant_message.content, "echo: Hello");
//! assert_eq!(turn.assistant_message.seq, 2);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod domain;
pub mod engine;
mod error;
pub mod llm;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use domain::*;
pub use engine::{
    context, CompletionMessage, CompletionOverrides, CompletionRole, ContextMessage,
    ContextPreview, Convo, ExportRecord, ExportStream, ImportError, ListParams, SendMessage,
    SeqRange, Settings, Turn, TurnEvent, TurnStream, DEFAULT_MODEL,
};
pub use engine::{month_of, UsageReport};
pub use error::ConvoError;
pub use llm::{
    LlmError, LlmProvider, LlmReply, LlmRequest, MockProvider, ReasoningSupport, RouterProvider,
};
#[cfg(feature = "mongodb")]
pub use store::MongoStore;
pub use store::{IdempotencyRecord, InstrumentedStore, MemoryStore, Store, StoreError};
#[cfg(feature = "sqlite")]
pub use store::{SqliteLocation, SqliteStore};
