//! Tools (function calling): what an agent declares it can call, and the
//! calls a model makes.
//!
//! The shapes follow OpenAI's function calling (a name, a description, a
//! JSON Schema of the arguments; a call with an id, a name and arguments),
//! which Gemini's `functionDeclarations` / `functionCall` map onto.

use serde::{Deserialize, Serialize};

use super::ProviderState;

/// A tool an agent may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// Matches `^[A-Za-z][A-Za-z0-9_-]{0,63}$`, unique in the agent.
    pub name: String,
    /// What it does, for the model (may be empty).
    #[serde(default)]
    pub description: String,
    /// A JSON Schema object (`"type": "object"`) of the arguments.
    pub parameters: serde_json::Value,
    /// Who runs it.
    pub execution: ToolExecution,
}

/// Who runs a tool when the model calls it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolExecution {
    /// The API caller: the turn pauses until it posts the outputs.
    Client,
    /// The server calls this webhook and gives the model its answer.
    Webhook(WebhookTarget),
    /// A Rust tool the embedding program registered on the engine under the
    /// tool's name (library only).
    Server,
}

/// Where and how long a webhook tool is called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTarget {
    /// An `https` URL.
    pub url: String,
    /// How long one call may take, in milliseconds.
    pub timeout_ms: u32,
}

/// One call a model made to a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id: the provider's when it gives one, else made by Convo.
    /// A tool message answers it by this id.
    pub id: String,
    /// The tool's name, as the model wrote it (it may name no tool).
    pub name: String,
    /// The arguments as the model wrote them: a JSON object when well
    /// formed; anything else is kept as it came (a JSON string of the raw
    /// text when it was not JSON) so the model can be told what was wrong.
    pub arguments: serde_json::Value,
    /// What the provider needs back with this call in later requests
    /// (Gemini 3's thought signature on a `functionCall` part). Never shown
    /// through the API, not exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_state: Option<ProviderState>,
}
