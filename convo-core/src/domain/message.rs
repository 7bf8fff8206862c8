//! Messages: the persistent history of a chat session.

use serde::{Deserialize, Serialize};

use super::{MessageId, SessionId, Timestamp, ToolCall};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The human (or the calling program).
    User,
    /// The model.
    Assistant,
    /// The result of a tool call, answering one of the calls of the
    /// assistant message before it.
    Tool,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::User, Role::Assistant, Role::Tool];

    /// The wire name: `user`, `assistant` or `tool`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// Why the model stopped writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end.
    Stop,
    /// The output token cap was reached.
    MaxTokens,
    /// The provider stopped for safety reasons.
    Safety,
    /// The caller went away or asked to stop; the text is what arrived until then.
    Cancelled,
    /// The model asked for tools to be called (the message's tool calls).
    ToolCalls,
    /// Anything else the provider reported.
    Other,
}

impl FinishReason {
    /// Every finish reason.
    pub const ALL: [FinishReason; 6] = [
        FinishReason::Stop,
        FinishReason::MaxTokens,
        FinishReason::Safety,
        FinishReason::Cancelled,
        FinishReason::ToolCalls,
        FinishReason::Other,
    ];

    /// The wire name, e.g. `max_tokens`.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::MaxTokens => "max_tokens",
            FinishReason::Safety => "safety",
            FinishReason::Cancelled => "cancelled",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Other => "other",
        }
    }
}

/// A wire name that names no [`Role`] or [`FinishReason`] (what their
/// `FromStr` returns, e.g. for a store that keeps them as text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a {kind}")]
pub struct ParseNameError {
    /// What was being parsed: `role` or `finish reason`.
    pub kind: &'static str,
    /// The text given.
    pub name: String,
}

impl std::str::FromStr for Role {
    type Err = ParseNameError;

    /// Parses a wire name ([`Role::as_str`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ParseNameError {
                kind: "role",
                name: s.to_owned(),
            })
    }
}

impl std::str::FromStr for FinishReason {
    type Err = ParseNameError;

    /// Parses a wire name ([`FinishReason::as_str`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FinishReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ParseNameError {
                kind: "finish reason",
                name: s.to_owned(),
            })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for FinishReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token counts as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt (system prompt plus window).
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// What the provider bills as the total.
    pub total_tokens: u64,
    /// Tokens spent thinking, where the model reports them.
    pub thoughts_tokens: Option<u64>,
    /// Prompt tokens served from the provider's cache.
    pub cached_tokens: Option<u64>,
}

/// Which stored messages were sent to the model for a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextRef {
    /// `seq` of the first message sent.
    pub first_seq: u64,
    /// `seq` of the last message sent (the user message being answered).
    pub last_seq: u64,
    /// How many messages were sent (messages with empty content are left out).
    pub messages: u64,
}

/// What a model provider returned with a reply that it needs back,
/// unchanged, when the reply is part of a later request: Gemini 3's thought
/// signature (an encrypted trace of the model's reasoning, on the reply's
/// last part). Stored with the message, never shown through the API, and
/// not exported (a signature is only valid for the deployment that got it).
///
/// Function calling makes echoing signatures mandatory; tool calls will
/// carry their own next to them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProviderState {
    /// The provider that produced it (its [`crate::LlmProvider::name`], e.g. `gemini`).
    pub provider: String,
    /// The model it was produced for, as requested: a signature goes back
    /// only to the same model.
    pub model: String,
    /// Gemini's `thoughtSignature` of the reply's text (base64, opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Unique id.
    pub id: MessageId,
    /// The session it belongs to.
    pub session_id: SessionId,
    /// Position in the session: 1, 2, 3… with no gaps and no repeats.
    pub seq: u64,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// When it was stored.
    pub created_at: Timestamp,
    /// Model that wrote it (assistant messages).
    pub model: Option<String>,
    /// Why generation stopped (assistant messages).
    pub finish_reason: Option<FinishReason>,
    /// Token usage (assistant messages, when the provider reported it).
    pub usage: Option<Usage>,
    /// The context window the reply was generated from (assistant messages).
    pub context: Option<ContextRef>,
    /// What the provider needs back with this message in later requests
    /// (assistant messages of providers that have such state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_state: Option<ProviderState>,
    /// The tools the model asked to call (assistant messages with
    /// `finish_reason` [`FinishReason::ToolCalls`]); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a tool message answers ([`ToolCall::id`]; tool messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The tool that answered (tool messages; the API calls it `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Whether the tool failed and `content` says how (tool messages).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

/// A message before the store gives it its `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageDraft {
    /// Id chosen by the engine (so it can be announced before the message is stored).
    pub id: MessageId,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// See [`Message::model`].
    pub model: Option<String>,
    /// See [`Message::finish_reason`].
    pub finish_reason: Option<FinishReason>,
    /// See [`Message::usage`].
    pub usage: Option<Usage>,
    /// See [`Message::context`].
    pub context: Option<ContextRef>,
    /// See [`Message::provider_state`].
    pub provider_state: Option<ProviderState>,
    /// See [`Message::tool_calls`].
    pub tool_calls: Vec<ToolCall>,
    /// See [`Message::tool_call_id`].
    pub tool_call_id: Option<String>,
    /// See [`Message::tool_name`].
    pub tool_name: Option<String>,
    /// See [`Message::is_error`].
    pub is_error: bool,
}

impl MessageDraft {
    /// A user message with a fresh id, stamped now.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            id: MessageId::new(),
            role: Role::User,
            content: content.into(),
            created_at: super::now(),
            model: None,
            finish_reason: None,
            usage: None,
            context: None,
            provider_state: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
        }
    }

    /// A tool message with a fresh id, stamped now: the result (or, with
    /// `is_error`, the failure) of the call `call`.
    pub fn tool_result(call: &ToolCall, content: impl Into<String>, is_error: bool) -> Self {
        Self {
            role: Role::Tool,
            tool_call_id: Some(call.id.clone()),
            tool_name: Some(call.name.clone()),
            is_error,
            ..Self::user(content)
        }
    }

    /// Turns the draft into the stored message once its `seq` is known.
    pub fn into_message(self, session_id: SessionId, seq: u64) -> Message {
        Message {
            id: self.id,
            session_id,
            seq,
            role: self.role,
            content: self.content,
            created_at: self.created_at,
            model: self.model,
            finish_reason: self.finish_reason,
            usage: self.usage,
            context: self.context,
            provider_state: self.provider_state,
            tool_calls: self.tool_calls,
            tool_call_id: self.tool_call_id,
            tool_name: self.tool_name,
            is_error: self.is_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_finish_reasons_round_trip_through_their_wire_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
            // The wire name is the serde name too.
            assert_eq!(serde_json::to_value(role).ok(), Some(role.as_str().into()));
        }
        for reason in FinishReason::ALL {
            assert_eq!(reason.as_str().parse::<FinishReason>(), Ok(reason));
            assert_eq!(
                serde_json::to_value(reason).ok(),
                Some(reason.as_str().into())
            );
        }
        let err = "system".parse::<Role>().expect_err("not a role");
        assert_eq!(err.to_string(), "`system` is not a role");
        assert!("STOP".parse::<FinishReason>().is_err());
    }
}
