//! Agents: a system prompt plus model settings, inside a project.

use serde::{Deserialize, Serialize};

use super::{AgentId, ProjectId, ReasoningEffort, Timestamp, ToolDefinition, UserId};

/// How many rounds of tool calls a turn may make when the agent does not say.
pub(crate) const DEFAULT_MAX_TOOL_ROUNDS: u32 = 8;

fn default_max_tool_rounds() -> u32 {
    DEFAULT_MAX_TOOL_ROUNDS
}

/// A chat agent.
///
/// Its `Debug` output hides the webhook secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
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
    /// The tools the model may call (at most 32, names unique). Agents
    /// stored before tools existed read as having none.
    #[serde(default)]
    pub tools: Vec<ToolDefinition>,
    /// Rounds of tool calls one turn may make (1–32) before the model is
    /// asked once more with tools disabled.
    #[serde(default = "default_max_tool_rounds")]
    pub max_tool_rounds: u32,
    /// The key webhook tools' requests are signed with (`whsec_` + base64
    /// of 32 random bytes). Made when the agent is created and replaced by
    /// [`Convo::rotate_webhook_secret`](crate::Convo::rotate_webhook_secret);
    /// a store keeps it, but it is never serialised (so it never reaches
    /// an API answer or an export by accident) nor printed by `Debug`.
    #[serde(skip)]
    pub webhook_secret: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every field but the secret, whose presence alone is shown: agents
        // end up in logs and panics.
        f.debug_struct("Agent")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("owner", &self.owner)
            .field("name", &self.name)
            .field("system_prompt", &self.system_prompt)
            .field("model", &self.model)
            .field("temperature", &self.temperature)
            .field("max_output_tokens", &self.max_output_tokens)
            .field("context_messages", &self.context_messages)
            .field("context_tokens", &self.context_tokens)
            .field("reasoning_effort", &self.reasoning_effort)
            .field("tools", &self.tools)
            .field("max_tool_rounds", &self.max_tool_rounds)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
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
    /// Tools the model may call; none when `None`.
    pub tools: Option<Vec<ToolDefinition>>,
    /// Rounds of tool calls per turn (1–32); 8 when `None`.
    pub max_tool_rounds: Option<u32>,
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
    /// New tools, replacing the whole list (`Some(vec![])` removes them all).
    pub tools: Option<Vec<ToolDefinition>>,
    /// New limit on rounds of tool calls per turn.
    pub max_tool_rounds: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_serialised_before_tools_read_with_the_defaults_and_never_write_the_secret() {
        let old = serde_json::json!({
            "id": "0196f1c9-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "project_id": "0196f1c8-e0d2-7c3a-9b1e-2f3a4b5c6d7e",
            "owner": "0196f1c7-aaaa-7bbb-8ccc-dddddddddddd", "name": "A", "system_prompt": "S",
            "model": "m", "temperature": null, "max_output_tokens": null, "context_messages": 20,
            "context_tokens": null, "created_at": "2026-11-25T09:30:00Z", "updated_at": "2026-11-25T09:30:00Z"
        });
        let mut agent: Agent = serde_json::from_value(old).expect("an old agent reads");
        assert_eq!((agent.tools.len(), agent.max_tool_rounds), (0, 8));
        agent.webhook_secret = Some("whsec_c2VjcmV0".into());
        let json = serde_json::to_string(&agent).expect("serialises");
        assert!(!json.contains("whsec_"), "{json}");
        let debug = format!("{agent:?}");
        assert!(
            !debug.contains("whsec_") && debug.contains("<redacted>"),
            "{debug}"
        );
    }
}
