//! Chat sessions, forks, messages and turns.

use chrono::{DateTime, Utc};
use convo_core as core;
use poem_openapi::{Enum, Object};

use super::ToolCall;
use crate::http::pattern::{ContentRule, Matching};
use crate::http::text::Text;

/// A conversation with an agent.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct ChatSession {
    /// Unique id.
    pub id: String,
    /// The agent that answers.
    pub agent_id: String,
    /// The agent's project.
    pub project_id: String,
    /// Optional title.
    #[oai(nullable)]
    pub title: Option<String>,
    /// How many messages it holds.
    pub message_count: u64,
    /// When it was created.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When it was last changed (a new message counts).
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// Where a fork came from (`null` for a session started afresh).
    #[oai(nullable)]
    pub forked_from: Option<ForkOrigin>,
    /// The client-tool calls a paused turn waits for (`[]` when none): post their outputs
    /// to continue it.
    pub pending_tool_calls: Vec<ToolCall>,
    /// The end user a project API key started it for (`null`: started by the owner, or by an
    /// admin key naming no end user).
    #[oai(nullable)]
    pub end_user: Option<String>,
}

/// The session and message a fork was copied from.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ForkOrigin {
    /// The session it was copied from.
    pub session_id: String,
    /// The last message copied: the fork began with messages 1..=`seq`.
    pub seq: u64,
}

/// A fork of a chat session.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ForkChat {
    /// Copy messages 1..=`up_to_seq` (0 for none; at most the session's `message_count`).
    /// To edit message N, fork at N-1 and send the new text to the fork.
    // At most i64's range, which every store keeps: a schema-valid number
    // always parses (a larger one is past any session's end anyway).
    #[oai(validator(minimum(value = "0"), maximum(value = "9223372036854775807")))]
    pub up_to_seq: u64,
    /// Title of the fork (at most 200 characters); the source's title when absent.
    #[oai(nullable)]
    #[oai(validator(max_length = 200))]
    pub title: Option<Text>,
}

impl From<core::ChatSession> for ChatSession {
    fn from(s: core::ChatSession) -> Self {
        Self {
            id: s.id.to_string(),
            agent_id: s.agent_id.to_string(),
            project_id: s.project_id.to_string(),
            title: s.title,
            message_count: s.message_count,
            created_at: s.created_at,
            updated_at: s.updated_at,
            forked_from: s.forked_from.map(|f| ForkOrigin {
                session_id: f.session_id.to_string(),
                seq: f.seq,
            }),
            pending_tool_calls: s.pending_tool_calls.into_iter().map(Into::into).collect(),
            end_user: s.end_user.map(String::from),
        }
    }
}

/// Options for a new chat session.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct StartChat {
    /// Optional title (at most 200 characters).
    #[oai(nullable)]
    #[oai(validator(max_length = 200))]
    pub title: Option<Text>,
}

/// Changes to a chat session.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct UpdateChat {
    /// New title; null or blank clears it.
    #[oai(nullable)]
    #[oai(validator(max_length = 200))]
    pub title: Option<Text>,
}

/// A message to send.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct SendMessageRequest {
    /// The text; stored exactly as sent (not blank; at most the server's size limit).
    #[oai(validator(min_length = 1))]
    pub content: Matching<ContentRule>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person (or program) chatting.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call.
    Tool,
}

impl From<core::Role> for Role {
    fn from(role: core::Role) -> Self {
        match role {
            core::Role::User => Role::User,
            core::Role::Assistant => Role::Assistant,
            core::Role::Tool => Role::Tool,
        }
    }
}

/// Why the model stopped writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end.
    Stop,
    /// The output cap was reached.
    MaxTokens,
    /// Stopped for safety reasons.
    Safety,
    /// The client went away or asked to stop; the text is what arrived until then.
    Cancelled,
    /// The model asked for tools to be called (the message's `tool_calls`).
    ToolCalls,
    /// Anything else the provider reported.
    Other,
}

/// Token counts as the provider reported them.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Usage {
    /// Tokens in the prompt (system prompt plus context).
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Total billed tokens.
    pub total_tokens: u64,
    /// Tokens spent thinking, when reported.
    #[oai(nullable)]
    pub thoughts_tokens: Option<u64>,
    /// Prompt tokens served from cache, when reported.
    #[oai(nullable)]
    pub cached_tokens: Option<u64>,
}

/// Which stored messages were sent to the model with a turn.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct MessageContext {
    /// `seq` of the first message sent.
    pub first_seq: u64,
    /// `seq` of the last message sent (the one answered).
    pub last_seq: u64,
    /// How many messages were sent.
    pub messages: u64,
}

/// A stored message.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct Message {
    /// Unique id.
    pub id: String,
    /// Its chat session.
    pub session_id: String,
    /// Position in the session: 1, 2, 3… with no gaps.
    pub seq: u64,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// When it was stored.
    #[serde(serialize_with = "crate::http::json::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// Model that wrote it (assistant messages).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why generation stopped (assistant messages).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Token usage (assistant messages, when reported).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The context window of the reply (assistant messages).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<MessageContext>,
    /// The tools the model asked to call (assistant messages with `finish_reason`
    /// `tool_calls`; absent otherwise).
    #[oai(skip_serializing_if_is_empty)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call this tool message answers (tool messages).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The tool that answered (tool messages).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the tool failed and `content` says how (tool messages).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}

impl From<core::Message> for Message {
    fn from(m: core::Message) -> Self {
        Self {
            id: m.id.to_string(),
            session_id: m.session_id.to_string(),
            seq: m.seq,
            role: m.role.into(),
            content: m.content,
            created_at: m.created_at,
            model: m.model,
            finish_reason: m.finish_reason.map(|f| match f {
                core::FinishReason::Stop => FinishReason::Stop,
                core::FinishReason::MaxTokens => FinishReason::MaxTokens,
                core::FinishReason::Safety => FinishReason::Safety,
                core::FinishReason::Cancelled => FinishReason::Cancelled,
                core::FinishReason::ToolCalls => FinishReason::ToolCalls,
                core::FinishReason::Other => FinishReason::Other,
            }),
            usage: m.usage.map(|u| Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                total_tokens: u.total_tokens,
                thoughts_tokens: u.thoughts_tokens,
                cached_tokens: u.cached_tokens,
            }),
            context: m.context.map(|c| MessageContext {
                first_seq: c.first_seq,
                last_seq: c.last_seq,
                messages: c.messages,
            }),
            tool_calls: m.tool_calls.into_iter().map(Into::into).collect(),
            tool_call_id: m.tool_call_id,
            name: m.tool_name,
            is_error: (m.role == core::Role::Tool).then_some(m.is_error),
        }
    }
}

/// What a turn stored.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(example)]
pub struct TurnResponse {
    /// The stored user message.
    pub user_message: Message,
    /// The model's last reply: the answer, or, when the turn paused for client tools, the
    /// assistant message asking for them (`finish_reason: "tool_calls"`). The last assistant
    /// message of `messages`.
    pub assistant_message: Message,
    /// Everything the turn stored after the user message, in `seq` order: assistant messages
    /// asking for tools, tool messages, the reply. Just the reply for a turn without tools.
    pub messages: Vec<Message>,
    /// The client tool calls the paused turn waits for (`[]` when it is complete): post
    /// their outputs to `POST /api/chat/{id}/tool_outputs`.
    pub pending_tool_calls: Vec<ToolCall>,
}

impl From<core::Turn> for TurnResponse {
    fn from(turn: core::Turn) -> Self {
        Self {
            user_message: turn.user_message.into(),
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
