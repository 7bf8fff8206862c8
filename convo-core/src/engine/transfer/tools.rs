//! Tools in an export file: an agent's tool definitions and a message's
//! tool calls, in the shapes the REST API shows them, and the rules a
//! message's tool fields follow on import.

use serde::{Deserialize, Serialize};

use crate::domain::{Role, ToolCall, ToolDefinition, ToolExecution, WebhookTarget};
use crate::engine::validate;
use crate::error::ConvoError;

use super::format::ExportedMessage;

/// A tool of an agent in an export file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedTool {
    /// Its name, unique in the agent.
    pub name: String,
    /// What it does, for the model.
    #[serde(default)]
    pub description: String,
    /// The JSON Schema of its arguments.
    pub parameters: serde_json::Value,
    /// Who runs it.
    pub execution: ExportedExecution,
}

/// Who runs a tool: `"client"`, `"server"`, or
/// `{"type": "webhook", "url", "timeout_ms"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExportedExecution {
    /// `"client"` or `"server"`.
    Named(NamedExecution),
    /// A webhook.
    Webhook(ExportedWebhook),
}

/// An execution written as a bare string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamedExecution {
    /// The API caller runs it.
    Client,
    /// A Rust tool registered on the importing engine under the tool's name.
    Server,
}

/// A webhook execution: `{"type": "webhook", "url", "timeout_ms"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ExportedWebhook {
    /// The only kind of object execution.
    Webhook {
        /// The URL called.
        url: String,
        /// How long one call may take, in milliseconds.
        timeout_ms: u32,
    },
}

impl From<ToolDefinition> for ExportedTool {
    fn from(t: ToolDefinition) -> Self {
        let execution = match t.execution {
            ToolExecution::Client => ExportedExecution::Named(NamedExecution::Client),
            ToolExecution::Server => ExportedExecution::Named(NamedExecution::Server),
            ToolExecution::Webhook(w) => ExportedExecution::Webhook(ExportedWebhook::Webhook {
                url: w.url,
                timeout_ms: w.timeout_ms,
            }),
        };
        Self {
            name: t.name,
            description: t.description,
            parameters: t.parameters,
            execution,
        }
    }
}

impl From<ExportedTool> for ToolDefinition {
    fn from(t: ExportedTool) -> Self {
        let execution = match t.execution {
            ExportedExecution::Named(NamedExecution::Client) => ToolExecution::Client,
            ExportedExecution::Named(NamedExecution::Server) => ToolExecution::Server,
            ExportedExecution::Webhook(ExportedWebhook::Webhook { url, timeout_ms }) => {
                ToolExecution::Webhook(WebhookTarget { url, timeout_ms })
            }
        };
        Self {
            name: t.name,
            description: t.description,
            parameters: t.parameters,
            execution,
        }
    }
}

/// A call a model made, in an export file (without provider state, which
/// is only valid for the deployment that received it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedToolCall {
    /// The call's id, which the tool message answering it names.
    pub id: String,
    /// The tool called.
    pub name: String,
    /// The arguments as the model wrote them.
    pub arguments: serde_json::Value,
}

impl From<ToolCall> for ExportedToolCall {
    fn from(c: ToolCall) -> Self {
        Self {
            id: c.id,
            name: c.name,
            arguments: c.arguments,
        }
    }
}

impl From<ExportedToolCall> for ToolCall {
    fn from(c: ExportedToolCall) -> Self {
        Self {
            id: c.id,
            name: c.name,
            arguments: c.arguments,
            provider_state: None,
        }
    }
}

/// The tool fields of a message line: `tool_calls` only on assistant
/// messages; `tool_call_id` and `name` required on tool messages and
/// absent elsewhere, as is `is_error`.
pub(super) fn message_tool_fields(m: &ExportedMessage) -> Result<(), ConvoError> {
    let refuse = |field: &'static str, reason: &str| Err(ConvoError::invalid(field, reason));
    if !m.tool_calls.is_empty() {
        if m.role != Role::Assistant {
            return refuse("tool_calls", "only assistant messages have tool calls");
        }
        for call in &m.tool_calls {
            validate::tool_call_id("tool_calls", &call.id)?;
            validate::tool_name("tool_calls", &call.name)?;
        }
    }
    if m.role == Role::Tool {
        match (&m.tool_call_id, &m.name) {
            (Some(id), Some(name)) => {
                validate::tool_call_id("tool_call_id", id)?;
                validate::tool_name("name", name)?;
            }
            (None, _) => return refuse("tool_call_id", "a tool message must name its call"),
            (_, None) => return refuse("name", "a tool message must name its tool"),
        }
    } else if m.tool_call_id.is_some() || m.name.is_some() || m.is_error {
        let field = if m.tool_call_id.is_some() {
            "tool_call_id"
        } else if m.name.is_some() {
            "name"
        } else {
            "is_error"
        };
        return refuse(field, "only tool messages have this field");
    }
    Ok(())
}
