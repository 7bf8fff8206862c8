//! Chat Completions JSON ↔ Convo's types. Pure functions, no IO: every
//! mapping here is unit-tested. Errors live in `error`.
//!
//! Tolerant by design, as servers differ: unknown fields are ignored (e.g.
//! `reasoning_content`, which some servers stream as the model's thoughts and
//! which is not part of the answer), finish reasons are read as strings with a
//! catch-all, and every field may be missing or `null`.
//!
//! Tool calling's and JSON answers' shapes live in `tools`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::TokenLimitField;
use super::error;
use super::tools::{self, CallFragment, WireTool, WireToolCall};
use crate::domain::{FinishReason, Role, Usage};
use crate::llm::{LlmError, LlmRequest};

// ---- request ----

/// The `POST /chat/completions` body.
#[derive(Debug, Serialize, PartialEq)]
pub struct ChatRequest<'a> {
    /// The model, as [`LlmRequest::model`] names it.
    pub model: &'a str,
    /// The system prompt first (when there is one), then the window.
    pub messages: Vec<WireMessage<'a>>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Output cap, under [`TokenLimitField::MaxTokens`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Output cap, under [`TokenLimitField::MaxCompletionTokens`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// `minimal`, `low`, `medium` or `high`, for reasoning models (Chat
    /// Completions' `reasoning_effort`,
    /// <https://platform.openai.com/docs/api-reference/chat/create>, read
    /// 2026-11-30); absent when the agent leaves it to the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<&'static str>,
    /// Whether to answer as server-sent events.
    pub stream: bool,
    /// Set when streaming, to get usage on the last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// The functions the model may call; absent without tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<WireTool<'a>>>,
    /// Whether it must call them; only with tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// `false`: at most one call per answer; only with tools, and only
    /// when the request says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// A JSON answer, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
}

/// One message of `messages`.
#[derive(Debug, Serialize, PartialEq)]
pub struct WireMessage<'a> {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: &'static str,
    /// Its text; `null` for an assistant message that only calls tools.
    pub content: Option<&'a str>,
    /// The calls an assistant message made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<WireToolCall>>,
    /// The call a tool message answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<&'a str>,
}

/// `stream_options`.
#[derive(Debug, Serialize, PartialEq)]
pub struct StreamOptions {
    /// Asks for a last chunk, with no choices, that carries the usage.
    pub include_usage: bool,
}

/// Builds the body. An empty system prompt and empty messages are left out
/// (some servers reject empty content), except those carrying tool calls or
/// results.
pub fn build_request(
    request: &LlmRequest,
    stream: bool,
    limit: TokenLimitField,
) -> ChatRequest<'_> {
    let system = (!request.system_prompt.is_empty()).then(|| WireMessage {
        role: "system",
        content: Some(&request.system_prompt),
        tool_calls: None,
        tool_call_id: None,
    });
    let window = request
        .messages
        .iter()
        .filter(|m| !m.content.is_empty() || m.carries_tools())
        .map(|m| WireMessage {
            role: match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
                Role::Tool => "tool",
            },
            // A tool's output is its content even when empty.
            content: (!m.content.is_empty() || m.role == Role::Tool).then_some(&m.content),
            tool_calls: tools::calls_sent_back(&m.tool_calls),
            tool_call_id: m.tool_call_id.as_deref(),
        });
    let cap = request.max_output_tokens;
    ChatRequest {
        model: &request.model,
        messages: system.into_iter().chain(window).collect(),
        temperature: request.temperature,
        max_tokens: cap.filter(|_| limit == TokenLimitField::MaxTokens),
        max_completion_tokens: cap.filter(|_| limit == TokenLimitField::MaxCompletionTokens),
        reasoning_effort: request.reasoning_effort.map(|e| e.as_str()),
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
        tools: tools::tools(request),
        tool_choice: tools::tool_choice(request),
        parallel_tool_calls: request
            .parallel_tool_calls
            .filter(|_| !request.tools.is_empty()),
        response_format: tools::response_format(request),
    }
}

// ---- response ----

/// A `chat.completion`, or one `chat.completion.chunk` of a stream.
#[derive(Debug, Default, Deserialize)]
pub struct Completion {
    /// Choices; Convo asks for one. Empty on the usage-only last chunk.
    #[serde(default)]
    pub choices: Option<Vec<Choice>>,
    /// Token counts: on the whole reply, or on the stream's last chunk.
    #[serde(default)]
    pub usage: Option<WireUsage>,
    /// The concrete model that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// An error written where a completion was expected (in a 200 stream).
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// One choice.
#[derive(Debug, Default, Deserialize)]
pub struct Choice {
    /// Which choice (0 for the only one Convo asks for).
    #[serde(default)]
    pub index: Option<u32>,
    /// The whole message (a reply).
    #[serde(default)]
    pub message: Option<WireReply>,
    /// The new part of the message (a stream chunk).
    #[serde(default)]
    pub delta: Option<WireReply>,
    /// Why it stopped; `null` on all but the last chunk with choices.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// A `message` or `delta`.
#[derive(Debug, Default, Deserialize)]
pub struct WireReply {
    /// Answer text.
    #[serde(default)]
    pub content: Option<String>,
    /// The model's refusal, which OpenAI sends instead of content.
    #[serde(default)]
    pub refusal: Option<String>,
    /// The calls the model made (in a stream, fragments of them).
    #[serde(default)]
    pub tool_calls: Option<Vec<CallFragment>>,
}

/// `usage`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct WireUsage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    /// Generated tokens, reasoning tokens included.
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    /// Total billed tokens.
    #[serde(default)]
    pub total_tokens: Option<u64>,
    /// `prompt_tokens_details`.
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
    /// `completion_tokens_details`.
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionDetails>,
}

/// `prompt_tokens_details`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct PromptDetails {
    /// Prompt tokens served from cache.
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// `completion_tokens_details`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct CompletionDetails {
    /// Tokens spent reasoning (part of `completion_tokens`).
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// Convo's usage, as the provider reported it: `completion_tokens` keeps
    /// the reasoning tokens it includes, which are also `thoughts_tokens`.
    pub fn to_usage(self) -> Usage {
        let prompt = self.prompt_tokens.unwrap_or(0);
        let completion = self.completion_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: self.total_tokens.unwrap_or(prompt + completion),
            thoughts_tokens: self
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens),
            cached_tokens: self.prompt_tokens_details.and_then(|d| d.cached_tokens),
        }
    }
}

/// Chat Completions finish reasons in Convo's terms. Besides OpenAI's own,
/// the natural-end and cap names some compatible servers and gateways use
/// (TGI, Anthropic-style) are understood.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" | "eos" | "eos_token" | "stop_sequence" | "end_turn" => FinishReason::Stop,
        "length" | "max_tokens" => FinishReason::MaxTokens,
        "content_filter" => FinishReason::Safety,
        "tool_calls" => FinishReason::ToolCalls,
        _ => FinishReason::Other,
    }
}

/// What one reply (or stream chunk) says.
#[derive(Debug, Default, PartialEq)]
pub struct Part {
    /// Whether it had a choice at all (the usage-only chunk has none).
    pub has_choice: bool,
    /// Answer text in it, possibly empty.
    pub text: String,
    /// Refusal text in it, possibly empty.
    pub refusal: String,
    /// Calls in it, or fragments of calls.
    pub tool_calls: Vec<CallFragment>,
    /// The finish reason (Convo's, and the provider's word), if it ends the choice.
    pub finish: Option<(FinishReason, String)>,
    /// Usage, if reported.
    pub usage: Option<Usage>,
    /// The model, if named.
    pub model: Option<String>,
}

impl Completion {
    /// Reads one reply or chunk; an `error` in it is that error.
    pub fn into_part(self) -> Result<Part, LlmError> {
        if let Some(value) = self.error.filter(|v| !v.is_null()) {
            return Err(error::embedded(&value));
        }
        let usage = self.usage.map(WireUsage::to_usage);
        let choice = self
            .choices
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.index.unwrap_or(0) == 0);
        let Some(choice) = choice else {
            return Ok(Part {
                usage,
                model: self.model,
                ..Part::default()
            });
        };
        let body = choice.message.or(choice.delta).unwrap_or_default();
        Ok(Part {
            has_choice: true,
            text: body.content.unwrap_or_default(),
            refusal: body.refusal.unwrap_or_default(),
            tool_calls: body.tool_calls.unwrap_or_default(),
            finish: choice.finish_reason.map(|r| (finish_reason(&r), r)),
            usage,
            model: self.model,
        })
    }
}

/// A refusal: no answer (text or call), and either a safety finish or a
/// refusal message. (Text followed by a safety stop is a reply cut for safety.)
pub fn refused(
    finish: &(FinishReason, String),
    output_seen: bool,
    refusal: &str,
) -> Option<LlmError> {
    if output_seen {
        return None;
    }
    if !refusal.is_empty() {
        let refusal: String = refusal.chars().take(300).collect();
        return Some(LlmError::Blocked(format!("the model refused: {refusal}")));
    }
    (finish.0 == FinishReason::Safety)
        .then(|| LlmError::Blocked(format!("finish reason {}", finish.1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ChatMessage;
    use serde_json::json;

    fn msg(role: Role, content: &str) -> ChatMessage {
        ChatMessage::new(role, content)
    }

    fn request(system_prompt: &str) -> LlmRequest {
        LlmRequest {
            model: "gpt-4o-mini".into(),
            system_prompt: system_prompt.into(),
            messages: vec![
                msg(Role::User, "hi"),
                msg(Role::Assistant, ""),
                msg(Role::Assistant, "hello"),
                msg(Role::User, "again"),
            ],
            temperature: Some(0.5),
            max_output_tokens: Some(64),
            ..LlmRequest::default()
        }
    }

    fn part(value: serde_json::Value) -> Result<Part, LlmError> {
        serde_json::from_value::<Completion>(value)
            .expect("deserialises")
            .into_part()
    }

    #[test]
    fn the_request_puts_the_system_prompt_first_and_maps_roles_and_settings() {
        let request = request("Be brief.");
        let body = build_request(&request, false, TokenLimitField::MaxTokens);
        assert_eq!(
            serde_json::to_value(body).expect("json"),
            json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                    {"role": "user", "content": "again"}
                ],
                "temperature": 0.5,
                "max_tokens": 64,
                "stream": false
            })
        );
    }

    #[test]
    fn a_stream_request_asks_for_usage_and_the_cap_field_is_configurable() {
        let request = LlmRequest {
            temperature: None,
            ..request("")
        };
        let body = build_request(&request, true, TokenLimitField::MaxCompletionTokens);
        let value = serde_json::to_value(body).expect("json");
        assert_eq!(
            value["messages"][0],
            json!({"role": "user", "content": "hi"})
        );
        assert_eq!(value["stream"], json!(true));
        assert_eq!(value["stream_options"], json!({"include_usage": true}));
        assert_eq!(value["max_completion_tokens"], json!(64));
        assert!(value.get("max_tokens").is_none(), "{value}");
        assert!(value.get("temperature").is_none(), "{value}");
        assert!(value.get("reasoning_effort").is_none(), "{value}");
    }

    #[test]
    fn a_reply_maps_text_finish_usage_and_model_and_ignores_unknown_fields() {
        let p = part(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello", "refusal": null,
                "reasoning_content": "thinking..."}, "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 30, "total_tokens": 41,
                "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 26}},
            "system_fingerprint": "fp", "service_tier": "default"
        }))
        .expect("part");
        assert_eq!(p.text, "Hello");
        assert_eq!(p.finish, Some((FinishReason::Stop, "stop".into())));
        assert_eq!(
            p.usage,
            Some(Usage {
                prompt_tokens: 11,
                completion_tokens: 30,
                total_tokens: 41,
                thoughts_tokens: Some(26),
                cached_tokens: Some(4),
            })
        );
        assert_eq!(p.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    }

    #[test]
    fn finish_reasons_map_with_a_catch_all() {
        let cases = [
            ("stop", FinishReason::Stop),
            ("length", FinishReason::MaxTokens),
            ("content_filter", FinishReason::Safety),
            ("tool_calls", FinishReason::ToolCalls),
            ("function_call", FinishReason::Other),
            ("eos_token", FinishReason::Stop),
            ("something_new_in_2030", FinishReason::Other),
        ];
        for (openai, convo) in cases {
            assert_eq!(finish_reason(openai), convo, "{openai}");
        }
    }

    #[test]
    fn stream_chunks_read_the_delta_and_the_usage_only_last_chunk() {
        let delta = part(json!({"object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": null}], "usage": null}))
        .expect("part");
        assert_eq!(
            (delta.has_choice, delta.text.as_str(), delta.finish),
            (true, "Hel", None)
        );
        let last =
            part(json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}))
                .expect("part");
        assert!(!last.has_choice);
        let usage = last.usage.expect("usage");
        assert_eq!(
            (
                usage.total_tokens,
                usage.thoughts_tokens,
                usage.cached_tokens
            ),
            (7, None, None),
            "a missing total is prompt + completion"
        );
    }

    #[test]
    fn an_error_field_is_the_error_and_a_null_one_is_ignored() {
        let failed = part(json!({"error": {"message": "overloaded", "type": "server_error"}}));
        assert!(
            matches!(failed, Err(LlmError::Unavailable { .. })),
            "{failed:?}"
        );
        let fine =
            part(json!({"error": null, "choices": [{"delta": {"content": "x"}}]})).expect("part");
        assert_eq!(fine.text, "x");
    }

    #[test]
    fn a_refusal_or_a_safety_stop_without_text_is_blocked() {
        let safety = (FinishReason::Safety, "content_filter".to_owned());
        let stop = (FinishReason::Stop, "stop".to_owned());
        assert!(matches!(
            refused(&safety, false, ""),
            Some(LlmError::Blocked(_))
        ));
        assert!(matches!(refused(&stop, false, "I can't help with that."),
            Some(LlmError::Blocked(m)) if m.contains("can't help")));
        assert_eq!(
            refused(&safety, true, ""),
            None,
            "text then a safety stop is a cut reply"
        );
        assert_eq!(
            refused(&stop, false, ""),
            None,
            "an empty reply is not a refusal"
        );
    }
}
