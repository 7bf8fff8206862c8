//! Language models: the [`LlmProvider`] trait, its request and reply types,
//! [`MockProvider`], (feature `gemini`) [`gemini::GeminiProvider`] and
//! (feature `openai`) [`openai::OpenAiCompatProvider`]. The HTTP providers
//! share their client, retries, timeouts, SSE reader and TLS set-up.

#[cfg(feature = "gemini")]
pub mod gemini;
#[cfg(any(feature = "gemini", feature = "openai", feature = "webhooks"))]
mod http;
mod mock;
pub mod models;
#[cfg(feature = "openai")]
pub mod openai;
mod router;

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::domain::{FinishReason, ProviderState, ReasoningEffort, Role, Usage};

#[cfg(any(feature = "gemini", feature = "openai"))]
pub use http::RetryPolicy;
// The webhook client shares the providers' TLS set-up.
#[cfg(any(feature = "gemini", feature = "openai", feature = "webhooks"))]
pub use http::tls_client_config;
pub use mock::{MockProvider, MockReply};
pub use models::ReasoningSupport;
pub use router::RouterProvider;

/// What can go wrong when asking a model, in the API contract's classes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// The provider failed or answered something unusable (`llm_error`).
    #[error("model provider error: {0}")]
    Provider(String),
    /// The provider refused the prompt, e.g. for safety (`llm_blocked`).
    #[error("the model provider refused the prompt: {0}")]
    Blocked(String),
    /// Overloaded, rate-limited or unreachable; try again (`llm_unavailable`).
    #[error("model provider unavailable: {message}")]
    Unavailable {
        /// What the provider said.
        message: String,
        /// How long the provider asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// No answer in time (`llm_timeout`).
    #[error("model provider timed out")]
    Timeout,
}

impl LlmError {
    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, LlmError::Unavailable { .. } | LlmError::Timeout)
    }
}

/// One message of the context sent to a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Author.
    pub role: Role,
    /// Text (never empty: providers reject empty parts).
    pub content: String,
    /// What the provider returned with this message and needs back (a
    /// thought signature); each provider sends back only its own, for the
    /// same model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_state: Option<ProviderState>,
}

impl ChatMessage {
    /// A message with no provider state.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            provider_state: None,
        }
    }
}

/// Everything a provider needs for one reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmRequest {
    /// Model id, e.g. `gemini-3.8-flash`.
    pub model: String,
    /// The agent's instructions; empty means none.
    pub system_prompt: String,
    /// The context window, oldest first, starting with a user message and
    /// ending with the one to answer.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Cap on generated tokens.
    pub max_output_tokens: Option<u32>,
    /// How hard to think; `None` leaves it to the model's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
}

/// A whole reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmReply {
    /// The answer text (thoughts left out).
    pub text: String,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// Token counts, when the provider reported them.
    pub usage: Option<Usage>,
    /// The model that answered, when the provider names it.
    pub model: Option<String>,
    /// What the provider needs back when this reply is part of a later
    /// request (see [`ProviderState`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_state: Option<ProviderState>,
}

/// One item of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmChunk {
    /// New text, to append to what came before.
    Text(String),
    /// The end of the reply. A stream that ends without one was cut short.
    Finish {
        /// Why generation stopped.
        finish_reason: FinishReason,
        /// Token counts, when reported.
        usage: Option<Usage>,
        /// The model that answered, when named.
        model: Option<String>,
        /// What the provider needs back with this reply later.
        provider_state: Option<ProviderState>,
    },
}

/// A streamed reply: items are chunks, or the error that broke the stream.
pub type ChunkStream = BoxStream<'static, Result<LlmChunk, LlmError>>;

/// A language model behind some API.
#[async_trait]
pub trait LlmProvider: Send + Sync + 'static {
    /// A short name for logs and metrics, e.g. `gemini`.
    fn name(&self) -> &str;

    /// Whether this provider can answer requests for `model`. The engine
    /// refuses agents whose model no provider serves (`422 model`), so a
    /// typo fails at agent creation rather than at the first turn. The
    /// default accepts every model (the provider's API decides).
    fn supports_model(&self, model: &str) -> bool {
        let _ = model;
        true
    }

    /// Which reasoning efforts `model` takes. The engine refuses an agent
    /// whose effort its model does not take (`422 reasoning_effort`), so
    /// the mistake shows at agent creation, not as a failed turn. The
    /// default says [`ReasoningSupport::Unknown`]: any level is passed on.
    fn reasoning_efforts(&self, model: &str) -> ReasoningSupport {
        let _ = model;
        ReasoningSupport::Unknown
    }

    /// Asks the provider whether it serves `model`, e.g. once at startup so
    /// that a retired or misspelt default model is reported before the
    /// first user meets it. `Ok(())` when it does or when the provider has
    /// no way to tell; the error otherwise (a retired model is an
    /// [`LlmError::Provider`] naming it).
    async fn check_model(&self, model: &str) -> Result<(), LlmError> {
        let _ = model;
        Ok(())
    }

    /// Generates a whole reply.
    async fn generate(&self, request: LlmRequest) -> Result<LlmReply, LlmError>;

    /// Streams a reply. The outer `Err` means the request never started; an
    /// item `Err` means the stream broke after it had started. Dropping the
    /// stream stops generation.
    async fn stream(&self, request: LlmRequest) -> Result<ChunkStream, LlmError>;
}
