//! Language models: the [`LlmProvider`] trait, its request and reply types,
//! [`MockProvider`], (feature `gemini`) [`gemini::GeminiProvider`] and
//! (feature `openai`) [`openai::OpenAiCompatProvider`]. The HTTP providers
//! share their client, retries, timeouts, SSE reader and TLS set-up.
//!
//! Tool calling: a request declares [`ToolSpec`]s and a [`ToolChoice`];
//! a reply (or a stream's [`LlmChunk::ToolCall`] items) carries the
//! [`ToolCall`]s the model made, and the next request sends them back on
//! an assistant [`ChatMessage`] followed by one [`Role::Tool`] message per
//! result. Each provider maps these onto its own wire shapes.

#[cfg(feature = "gemini")]
pub mod gemini;
#[cfg(any(feature = "gemini", feature = "openai", feature = "webhooks"))]
mod http;
mod mock;
pub mod models;
#[cfg(feature = "openai")]
pub mod openai;
mod router;
mod tools;

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::domain::{FinishReason, ProviderState, ReasoningEffort, Role, ToolCall, Usage};

#[cfg(any(feature = "gemini", feature = "openai"))]
pub use http::RetryPolicy;
// The webhook client shares the providers' TLS set-up.
#[cfg(any(feature = "gemini", feature = "openai", feature = "webhooks"))]
pub use http::tls_client_config;
pub use mock::{MockProvider, MockReply};
pub use models::ReasoningSupport;
pub use router::RouterProvider;
#[cfg(any(feature = "gemini", feature = "openai"))]
use tools::finish_with_calls;
pub use tools::{
    arguments_from_text, arguments_to_text, new_call_id, ResponseFormat, ToolChoice, ToolSpec,
};

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
    /// Text. Providers leave out a message with no text, unless it carries
    /// tool calls or is a tool result (whose empty output is still an answer).
    pub content: String,
    /// What the provider returned with this message and needs back (a
    /// thought signature); each provider sends back only its own, for the
    /// same model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_state: Option<ProviderState>,
    /// The calls the model made in this (assistant) message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call this (tool) message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The name of the tool this (tool) message is the result of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Whether this (tool) message reports a failure rather than a result.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl ChatMessage {
    /// A message with no provider state and nothing about tools.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            provider_state: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
        }
    }

    /// An assistant message asking for `calls` (its text may be empty).
    pub fn assistant_tool_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self {
            tool_calls: calls,
            ..Self::new(Role::Assistant, content)
        }
    }

    /// The result of the call `call_id` of the tool `name`: its output, or
    /// the failure to tell the model about when `is_error`.
    pub fn tool_result(
        call_id: impl Into<String>,
        name: impl Into<String>,
        content: impl Into<String>,
        is_error: bool,
    ) -> Self {
        Self {
            tool_call_id: Some(call_id.into()),
            tool_name: Some(name.into()),
            is_error,
            ..Self::new(Role::Tool, content)
        }
    }

    /// Whether a provider must send this message although its text is
    /// empty: it asks for calls, or it is a tool result.
    pub fn carries_tools(&self) -> bool {
        !self.tool_calls.is_empty() || self.role == Role::Tool
    }
}

/// Everything a provider needs for one reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// The tools the model may call; none means a plain text answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// Whether the model must call them (ignored without tools).
    #[serde(default, skip_serializing_if = "is_auto")]
    pub tool_choice: ToolChoice,
    /// `Some(false)`: at most one call per answer, where the provider has
    /// the setting (OpenAI's `parallel_tool_calls`; Gemini has none, and
    /// the engine keeps only the first call); `None` leaves it to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// A JSON answer, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
}

fn is_auto(choice: &ToolChoice) -> bool {
    *choice == ToolChoice::Auto
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
    /// The calls the model asked for, in its order (finish reason
    /// [`FinishReason::ToolCalls`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl Default for LlmReply {
    /// An empty reply that ended normally, to build others from.
    fn default() -> Self {
        Self {
            text: String::new(),
            finish_reason: FinishReason::Stop,
            usage: None,
            model: None,
            provider_state: None,
            tool_calls: Vec::new(),
        }
    }
}

/// One item of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmChunk {
    /// New text, to append to what came before.
    Text(String),
    /// A call the model made, whole (a provider that streams a call in
    /// pieces assembles it first); every call comes before the `Finish`.
    ToolCall(ToolCall),
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
