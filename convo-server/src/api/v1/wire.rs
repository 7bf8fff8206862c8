//! The JSON of OpenAI's Chat Completions and Models APIs, as far as Convo
//! speaks them, and the pure mapping to and from the engine's types.

use convo_core::{Agent, CompletionMessage, CompletionRole, FinishReason, ToolCall, Usage};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::tools::{self, AnswerCall, CallFragment, RequestCall, RequestTool};

/// `POST /v1/chat/completions`: the fields Convo honours. The others have
/// been checked by `params::check` before this is parsed.
#[derive(Debug, Deserialize)]
pub struct ChatCompletionRequest {
    /// The agent's id.
    pub model: String,
    /// The conversation.
    pub messages: Vec<RequestMessage>,
    /// Overrides the agent's temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Overrides the agent's output cap (the older name).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Overrides the agent's output cap (the newer name; wins over `max_tokens`).
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    /// Overrides the agent's reasoning effort (`minimal`, `low`, `medium`,
    /// `high`; OpenAI's other values are refused by [`reasoning_effort`]).
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// Answer as server-sent chunks.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Streaming options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// The tools the model may call (`tools::tools`).
    #[serde(default)]
    pub tools: Option<Vec<RequestTool>>,
    /// Whether it must call them (`tools::tool_choice`).
    #[serde(default)]
    pub tool_choice: Option<Value>,
    /// `false`: at most one call per answer.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// A JSON answer (`tools::response_format`).
    #[serde(default)]
    pub response_format: Option<Value>,
    /// The end user, with a project API key (`X-Convo-End-User` wins when both are sent).
    #[serde(default)]
    pub user: Option<String>,
}

/// `stream_options`.
#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` (and no choices).
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// One message of the request.
#[derive(Debug, Deserialize)]
pub struct RequestMessage {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text, or an array of parts of which only `text` parts are supported.
    #[serde(default)]
    pub content: Option<Content>,
    /// The calls an assistant message made, as an answer showed them.
    #[serde(default)]
    pub tool_calls: Option<Vec<RequestCall>>,
    /// The call a `tool` message answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

/// A message's content.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Content parts.
    Parts(Vec<ContentPart>),
}

/// One content part.
#[derive(Debug, Deserialize)]
pub struct ContentPart {
    /// `text` (others are refused).
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default)]
    pub text: Option<String>,
}

/// Why a request message cannot be used; the text is for the client.
pub type MessageError = String;

/// The engine's messages for the request's: `developer` is OpenAI's newer
/// name for `system`; text parts are joined; an assistant message may
/// carry `tool_calls` (and then no text), a `tool` message answers one by
/// `tool_call_id`; images and audio are refused.
pub fn messages(request: &[RequestMessage]) -> Result<Vec<CompletionMessage>, MessageError> {
    request
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let calls = m.tool_calls.as_deref().unwrap_or_default();
            let role = match m.role.as_str() {
                "system" | "developer" => CompletionRole::System,
                "user" => CompletionRole::User,
                "assistant" => CompletionRole::Assistant,
                "tool" => CompletionRole::Tool,
                other => {
                    return Err(format!(
                        "messages[{i}].role `{other}` is not supported (system, developer, user, assistant, tool)"
                    ))
                }
            };
            if !calls.is_empty() && role != CompletionRole::Assistant {
                return Err(format!("messages[{i}]: only assistant messages carry tool_calls"));
            }
            if let Some(call) = calls.iter().find(|c| c.kind.as_deref().is_some_and(|k| k != "function")) {
                return Err(format!("messages[{i}]: tool call `{}` is not a function call", call.id));
            }
            let content = match (&m.content, role) {
                (Some(content), _) => text_of(i, content)?,
                // A call-only assistant message, or a tool's empty output.
                (None, CompletionRole::Assistant) if !calls.is_empty() => String::new(),
                (None, _) => return Err(format!("messages[{i}] has no content")),
            };
            Ok(match role {
                CompletionRole::Tool => {
                    let Some(id) = m.tool_call_id.as_deref() else {
                        return Err(format!("messages[{i}]: a tool message needs tool_call_id"));
                    };
                    // The id as shown carries the provider's state; the
                    // model answers the call's own id.
                    CompletionMessage::tool_result(tools::decode_id(id).0, content)
                }
                _ if !calls.is_empty() => CompletionMessage::assistant_tool_calls(
                    content,
                    calls.iter().map(tools::call_from_request).collect(),
                ),
                _ => CompletionMessage::new(role, content),
            })
        })
        .collect()
}

/// The text of a message's content: text parts joined; others refused.
fn text_of(i: usize, content: &Content) -> Result<String, MessageError> {
    match content {
        Content::Text(text) => Ok(text.clone()),
        Content::Parts(parts) => {
            let mut text = String::new();
            for part in parts {
                match (part.kind.as_str(), &part.text) {
                    ("text", Some(t)) => text.push_str(t),
                    _ => {
                        return Err(format!(
                            "messages[{i}]: only text content parts are supported"
                        ))
                    }
                }
            }
            Ok(text)
        }
    }
}

/// OpenAI's name for a finish reason. A cancelled or otherwise ended reply
/// is a plain `stop`: OpenAI has no better word for either.
pub fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::MaxTokens => "length",
        FinishReason::Safety => "content_filter",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::Stop | FinishReason::Cancelled | FinishReason::Other => "stop",
    }
}

/// `usage`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct UsageOut {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
    /// Their total, as the provider bills it.
    pub total_tokens: u64,
}

impl UsageOut {
    /// The provider's counts; zeros when it reported none.
    pub fn from_usage(usage: Option<Usage>) -> Self {
        usage.map_or_else(Self::default, |u| Self {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
        })
    }
}

/// A whole answer: `chat.completion`.
#[derive(Debug, Serialize)]
pub struct ChatCompletion {
    /// `chatcmpl-…`.
    pub id: String,
    /// `chat.completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: i64,
    /// The model asked for (the agent's id).
    pub model: String,
    /// Exactly one choice.
    pub choices: Vec<Choice>,
    /// Token counts.
    pub usage: UsageOut,
}

/// The one choice of a [`ChatCompletion`].
#[derive(Debug, Serialize)]
pub struct Choice {
    /// 0.
    pub index: u32,
    /// The reply.
    pub message: AssistantMessage,
    /// `stop`, `length`, `content_filter` or `tool_calls`.
    pub finish_reason: &'static str,
    /// Always null.
    pub logprobs: Option<()>,
}

/// The reply of a [`Choice`].
#[derive(Debug, Serialize)]
pub struct AssistantMessage {
    /// `assistant`.
    pub role: &'static str,
    /// The text; null when the reply only calls tools.
    pub content: Option<String>,
    /// The calls the model made, when it made some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<AnswerCall>>,
}

/// A whole answer in one value.
pub fn completion(
    meta: &ChunkMeta,
    text: String,
    calls: &[ToolCall],
    reason: FinishReason,
    usage: Option<Usage>,
) -> ChatCompletion {
    ChatCompletion {
        id: meta.id.clone(),
        object: "chat.completion",
        created: meta.created,
        model: meta.model.clone(),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: (!text.is_empty() || calls.is_empty()).then_some(text),
                tool_calls: (!calls.is_empty())
                    .then(|| calls.iter().map(tools::answer_call).collect()),
            },
            finish_reason: finish_reason(reason),
            logprobs: None,
        }],
        usage: UsageOut::from_usage(usage),
    }
}

/// What every chunk of one answer repeats.
#[derive(Debug, Clone)]
pub struct ChunkMeta {
    /// `chatcmpl-…`.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// The model asked for.
    pub model: String,
}

/// One streamed piece: `chat.completion.chunk`.
#[derive(Debug, Serialize)]
pub struct Chunk {
    /// The answer's id.
    pub id: String,
    /// `chat.completion.chunk`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: i64,
    /// The model asked for.
    pub model: String,
    /// One choice, or none on the usage chunk.
    pub choices: Vec<ChunkChoice>,
    /// Only on the last chunk, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageOut>,
}

/// The choice of a [`Chunk`].
#[derive(Debug, Serialize)]
pub struct ChunkChoice {
    /// 0.
    pub index: u32,
    /// What is new.
    pub delta: Delta,
    /// Set on the choice's last chunk.
    pub finish_reason: Option<&'static str>,
    /// Always null.
    pub logprobs: Option<()>,
}

/// The new part of a streamed reply.
#[derive(Debug, Default, Serialize)]
pub struct Delta {
    /// `assistant`, on the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// New text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Pieces of the calls the model makes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<CallFragment>>,
}

impl ChunkMeta {
    /// A chunk with one choice.
    pub fn chunk(&self, delta: Delta, finish_reason: Option<&'static str>) -> Chunk {
        Chunk {
            id: self.id.clone(),
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                logprobs: None,
            }],
            usage: None,
        }
    }

    /// The last chunk when usage was asked for: no choices, `usage`.
    pub fn usage_chunk(&self, usage: Option<Usage>) -> Chunk {
        Chunk {
            id: self.id.clone(),
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model.clone(),
            choices: Vec::new(),
            usage: Some(UsageOut::from_usage(usage)),
        }
    }
}

/// `GET /v1/models`.
#[derive(Debug, Serialize)]
pub struct ModelList {
    /// `list`.
    pub object: &'static str,
    /// The caller's agents.
    pub data: Vec<Model>,
}

/// An agent as an OpenAI model.
#[derive(Debug, Serialize)]
pub struct Model {
    /// The agent's id.
    pub id: String,
    /// `model`.
    pub object: &'static str,
    /// The agent's creation, in Unix seconds.
    pub created: i64,
    /// The agent's project id.
    pub owned_by: String,
}

impl From<&Agent> for Model {
    fn from(agent: &Agent) -> Self {
        Self {
            id: agent.id.to_string(),
            object: "model",
            created: agent.created_at.timestamp(),
            owned_by: agent.project_id.to_string(),
        }
    }
}

/// The request's `reasoning_effort`, in the engine's terms. OpenAI also
/// knows `none` and `xhigh`; no Convo model takes them, so they are refused
/// rather than mapped to something else.
pub fn reasoning_effort(
    value: Option<&str>,
) -> Result<Option<convo_core::ReasoningEffort>, String> {
    value
        .map(|v| {
            v.parse().map_err(|_| {
                format!("unsupported value {v:?}: must be one of minimal, low, medium, high")
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_messages_map_to_the_engines_and_odd_ones_are_refused() {
        let request: ChatCompletionRequest = serde_json::from_value(serde_json::json!({
            "model": "m",
            "messages": [
                {"role": "developer", "content": "Be kind."},
                {"role": "user", "content": [{"type": "text", "text": "hel"}, {"type": "text", "text": "lo"}]},
            ],
            "unknown_field": true,
        }))
        .expect("parses");

        let mapped = messages(&request.messages).expect("maps");

        assert_eq!(
            mapped,
            [
                CompletionMessage::new(CompletionRole::System, "Be kind."),
                CompletionMessage::new(CompletionRole::User, "hello"),
            ]
        );
        for bad in [
            serde_json::json!([{"role": "tool", "content": "x"}]),
            serde_json::json!([{"role": "assistant", "content": null}]),
            serde_json::json!([{"role": "user", "content": "x", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]}]),
            serde_json::json!([{"role": "function", "content": "x"}]),
            serde_json::json!([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
        ] {
            let parsed: Vec<RequestMessage> = serde_json::from_value(bad.clone()).expect("parses");
            assert!(messages(&parsed).is_err(), "{bad}");
        }
    }

    #[test]
    fn assistant_tool_calls_and_tool_messages_map_to_the_engines() {
        let parsed: Vec<RequestMessage> = serde_json::from_value(serde_json::json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "sunny"}]},
        ]))
        .expect("parses");

        let mapped = messages(&parsed).expect("maps");

        assert_eq!(mapped[1].role, CompletionRole::Assistant);
        assert_eq!(mapped[1].content, "");
        assert_eq!(mapped[1].tool_calls[0].name, "weather");
        assert_eq!(
            mapped[1].tool_calls[0].arguments,
            serde_json::json!({"city": "Paris"})
        );
        assert_eq!(mapped[2], CompletionMessage::tool_result("call_1", "sunny"));
        assert_eq!(finish_reason(FinishReason::ToolCalls), "tool_calls");
    }

    #[test]
    fn finish_reasons_use_openais_words() {
        assert_eq!(finish_reason(FinishReason::Stop), "stop");
        assert_eq!(finish_reason(FinishReason::MaxTokens), "length");
        assert_eq!(finish_reason(FinishReason::Safety), "content_filter");
        assert_eq!(finish_reason(FinishReason::Cancelled), "stop");
    }
}
