//! Agents: a system prompt plus model settings, inside a project.

use serde::{Deserialize, Serialize};

use super::{AgentId, ProjectId, ReasoningEffort, Timestamp, UserId};

/// A chat agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Unique id.
    pub id: AgentId,
    /// The project it belongs to.
    pub project_id: ProjectId,
    /// The owning user (the project's owner).
    pub owner: UserId,
    /// Display name (1–200 characters).
    pub name: String,
    /// Instructions sent to the model before every conversation.
    pub system_prompt: String,
    /// Model id, e.g. `gemini-3.8-flash`.
    pub model: String,
    /// Sampling temperature (0–2); `None` leaves it to the provider.
    pub temperature: Option<f64>,
    /// Cap on generated tokens; `None` leaves it to the provider.
    pub max_output_tokens: Option<u32>,
    /// How many stored messages, the new user message included, are sent to the model.
    pub context_messages: u32,
    /// A budget of estimated tokens for those messages: the window keeps the
    /// newest messages that fit (the new one always). `None`: no budget.
    pub context_tokens: Option<u32>,
    /// How hard the model thinks before answering; `None` leaves it to the
    /// model's own default. Agents stored before this setting existed read
    /// as `None`.
    #[serde(default)]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// The fields a caller may set when creating an agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewAgent {
    /// Display name (1–200 characters).
    pub name: String,
    /// System prompt (at most 100,000 characters).
    pub system_prompt: String,
    /// Model id; the engine's default model when `None`.
    pub model: Option<String>,
    /// Sampling temperature (0–2).
    pub temperature: Option<f64>,
    /// Cap on generated tokens (at least 1).
    pub max_output_tokens: Option<u32>,
    /// Context window in messages; the engine's default when `None`, or
    /// the engine's maximum when `context_tokens` is given instead.
    pub context_messages: Option<u32>,
    /// Context window as a budget of estimated tokens.
    pub context_tokens: Option<u32>,
    /// Reasoning effort; the engine's default when `None` and the model
    /// takes it (see [`crate::Settings::default_reasoning_effort`]).
    pub reasoning_effort: Option<ReasoningEffort>,
}

/// A partial update of an agent: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentPatch {
    /// New name.
    pub name: Option<String>,
    /// New system prompt.
    pub system_prompt: Option<String>,
    /// New model id.
    pub model: Option<String>,
    /// New temperature.
    pub temperature: Option<f64>,
    /// New output cap.
    pub max_output_tokens: Option<u32>,
    /// New context window.
    pub context_messages: Option<u32>,
    /// New token budget: `Some(None)` removes it.
    pub context_tokens: Option<Option<u32>>,
    /// New reasoning effort: `Some(None)` leaves it to the model's default.
    pub reasoning_effort: Option<Option<ReasoningEffort>>,
}
