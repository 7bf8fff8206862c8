//! Client tools' outputs: what a caller posts to resume a paused turn, and
//! what it gets back.

use convo_core as core;
use poem_openapi::Object;
use serde_json::Value;

use super::{Message, ToolCall};

/// The outputs of the client tool calls a paused turn waits for.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ToolOutputsRequest {
    /// One output per pending call (the session's `pending_tool_calls`), each exactly once,
    /// all in this one request.
    #[oai(validator(max_items = 1024))]
    pub outputs: Vec<ToolOutputItem>,
}

/// The output of one client tool call.
#[derive(Debug, Clone, Object)]
pub struct ToolOutputItem {
    /// The `id` of the pending call it answers.
    pub tool_call_id: String,
    /// What the tool produced: any JSON value. A string reaches the model as it is; any
    /// other value as its JSON text.
    pub output: Value,
    /// Whether the tool failed (then `output` says how, for the model). Default `false`.
    #[oai(default)]
    pub is_error: bool,
}

impl From<ToolOutputItem> for core::ToolOutput {
    fn from(o: ToolOutputItem) -> Self {
        Self {
            tool_call_id: o.tool_call_id,
            output: o.output,
            is_error: o.is_error,
        }
    }
}

/// What a resumed turn stored.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct ToolOutputsResponse {
    /// The model's last reply: the answer, or an assistant message asking for more client
    /// tools (`finish_reason: "tool_calls"`) when the turn paused again. The last assistant
    /// message of `messages`.
    pub assistant_message: Message,
    /// Everything this request stored, in `seq` order: the tool messages of the posted
    /// outputs, then any further tool rounds, then the reply.
    pub messages: Vec<Message>,
    /// The client tool calls the turn waits for now (`[]` when it is complete).
    pub pending_tool_calls: Vec<ToolCall>,
}

impl From<core::Turn> for ToolOutputsResponse {
    fn from(turn: core::Turn) -> Self {
        Self {
            assistant_message: turn.assistant_message.into(),
            messages: turn.messages.into_iter().map(Into::into).collect(),
            pending_tool_calls: turn
                .pending_tool_calls
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}
