//! Agents, and the reasoning effort they ask of their model.

use chrono::{DateTime, Utc};
use convo_core as core;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object};

use super::Tool;
use crate::http::pattern::{Matching, ModelRule, NameRule};
use crate::http::text::Text;

/// A chat agent: a system prompt plus model settings.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct Agent {
    /// Unique id.
    pub id: String,
    /// The project it belongs to.
    pub project_id: String,
    /// Name (1–200 characters).
    pub name: String,
    /// Instructions sent to the model before every conversation.
    pub system_prompt: String,
    /// Model id.
    pub model: String,
    /// Sampling temperature (0–2); null leaves it to the model.
    #[oai(nullable)]
    pub temperature: Option<f64>,
    /// Cap on generated tokens; null leaves it to the model.
    #[oai(nullable)]
    pub max_output_tokens: Option<u32>,
    /// How many stored messages (the new one included) are sent to the model.
    pub context_messages: u32,
    /// Context window as a budget of estimated tokens (about 4 characters a token plus 4 a
    /// message): the newest messages that fit, the new one always. `null`: no budget.
    #[oai(nullable)]
    pub context_tokens: Option<u32>,
    /// How hard the model thinks before answering (`minimal`, `low`, `medium`, `high`);
    /// `null` leaves it to the model's own default.
    #[oai(nullable)]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// The tools its model may call (at most 32).
    pub tools: Vec<Tool>,
    /// Rounds of tool calls one turn may make (1–32); after that the model is asked once
    /// more with tools disabled.
    pub max_tool_rounds: u32,
    /// When it was created.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<core::Agent> for Agent {
    fn from(a: core::Agent) -> Self {
        Self {
            id: a.id.to_string(),
            project_id: a.project_id.to_string(),
            name: a.name,
            system_prompt: a.system_prompt,
            model: a.model,
            temperature: a.temperature,
            max_output_tokens: a.max_output_tokens,
            context_messages: a.context_messages,
            context_tokens: a.context_tokens,
            reasoning_effort: a.reasoning_effort.map(Into::into),
            tools: a.tools.into_iter().map(Into::into).collect(),
            max_tool_rounds: a.max_tool_rounds,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A new agent, with its webhook secret: the only answer that shows it.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct CreatedAgent {
    /// The agent.
    #[oai(flatten)]
    #[serde(flatten)]
    pub agent: Agent,
    /// The key its webhook tools' requests are signed with: `whsec_` + base64 of 32
    /// random bytes (Standard Webhooks). Shown this once; `POST
    /// /api/agents/{agent_id}/webhook_secret` replaces it.
    pub webhook_secret: String,
}

/// A new agent.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct CreateAgent {
    /// Name (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Matching<NameRule>,
    /// System prompt (at most 100,000 characters).
    #[oai(validator(max_length = 100000))]
    pub system_prompt: Text,
    /// Model id; the server's default Flash model when absent.
    #[oai(nullable)]
    pub model: Option<Matching<ModelRule>>,
    /// Sampling temperature, 0–2.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "0"), maximum(value = "2")))]
    pub temperature: Option<f64>,
    /// Cap on generated tokens (at least 1).
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub max_output_tokens: Option<u32>,
    /// Context window in messages (1–1000); the server's default when absent.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub context_messages: Option<u32>,
    /// Context window as a budget of estimated tokens (1–10,000,000), instead of or besides
    /// `context_messages` (which, when absent, is then the server's maximum).
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "10000000")))]
    pub context_tokens: Option<u32>,
    /// How hard the model thinks before answering. When absent: `low` if the model takes it
    /// (quick conversational replies), else the model's own default. A level the model does
    /// not take is a 422 (Gemini 3.8 Flash, the default model, takes `low`, `medium` and
    /// `high`, not `minimal`).
    #[oai(nullable)]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Tools its model may call (at most 32; none when absent). Each rule broken is a 422
    /// naming the field, e.g. `tools[2].name`.
    #[oai(nullable)]
    #[oai(validator(max_items = 32))]
    pub tools: Option<Vec<Tool>>,
    /// Rounds of tool calls one turn may make, 1–32 (8 when absent).
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "32")))]
    pub max_tool_rounds: Option<u32>,
}

/// Changes to an agent; absent fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct UpdateAgent {
    /// New name.
    #[oai(nullable)]
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<Matching<NameRule>>,
    /// New system prompt.
    #[oai(nullable)]
    #[oai(validator(max_length = 100000))]
    pub system_prompt: Option<Text>,
    /// New model id.
    #[oai(nullable)]
    pub model: Option<Matching<ModelRule>>,
    /// New temperature, 0–2.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "0"), maximum(value = "2")))]
    pub temperature: Option<f64>,
    /// New output cap.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub max_output_tokens: Option<u32>,
    /// New context window.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    pub context_messages: Option<u32>,
    /// New token budget; `null` removes it.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "10000000")))]
    pub context_tokens: MaybeUndefined<u32>,
    /// New reasoning effort; `null` leaves it to the model's default. Checked against the
    /// agent's (new) model: a level it does not take is a 422.
    #[oai(nullable)]
    pub reasoning_effort: MaybeUndefined<ReasoningEffort>,
    /// New tools, replacing the whole list (`[]` removes them all).
    #[oai(nullable)]
    #[oai(validator(max_items = 32))]
    pub tools: Option<Vec<Tool>>,
    /// New limit on rounds of tool calls per turn, 1–32.
    #[oai(nullable)]
    #[oai(validator(minimum(value = "1"), maximum(value = "32")))]
    pub max_tool_rounds: Option<u32>,
}

/// How hard the model thinks before it answers: sent to Gemini 3 as its
/// thinking level and to OpenAI-compatible models as `reasoning_effort`.
/// More effort: better answers to hard questions, more latency and thinking
/// tokens. Not every model takes every level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    /// As little thinking as the model allows (not every model has it).
    Minimal,
    /// Little thinking: quick conversational replies.
    Low,
    /// Balanced.
    Medium,
    /// Deep reasoning, slower.
    High,
}

impl From<core::ReasoningEffort> for ReasoningEffort {
    fn from(e: core::ReasoningEffort) -> Self {
        match e {
            core::ReasoningEffort::Minimal => Self::Minimal,
            core::ReasoningEffort::Low => Self::Low,
            core::ReasoningEffort::Medium => Self::Medium,
            core::ReasoningEffort::High => Self::High,
        }
    }
}

impl From<ReasoningEffort> for core::ReasoningEffort {
    fn from(e: ReasoningEffort) -> Self {
        match e {
            ReasoningEffort::Minimal => Self::Minimal,
            ReasoningEffort::Low => Self::Low,
            ReasoningEffort::Medium => Self::Medium,
            ReasoningEffort::High => Self::High,
        }
    }
}
