//! Gemini's JSON (Generative Language API `v1beta`) ↔ Convo's types.
//! Pure functions, no IO: every mapping here is unit-tested.
//!
//! Tolerant by design: unknown fields are ignored, enums are read as strings
//! (an unknown value maps to a catch-all), and every field may be missing.
//!
//! Function calling's shapes live in `tools`.

mod tools;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::{FinishReason, ProviderState, ReasoningEffort, Role, Usage};
use crate::llm::{LlmError, LlmRequest, ResponseFormat};

pub use tools::{FunctionCall, Tool, ToolConfig};

// ---- request ----

/// `generateContent` request body.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenerateRequest {
    /// The conversation.
    pub contents: Vec<Content>,
    /// The agent's system prompt; absent when empty (empty parts are rejected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// Sampling settings; absent when none are set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
    /// The functions the model may call; absent without tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// How it may call them; absent for the default (`AUTO`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
}

/// One turn of the conversation.
#[derive(Debug, Serialize, PartialEq)]
pub struct Content {
    /// `user` or `model`; absent for the system instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// Its parts.
    pub parts: Vec<RequestPart>,
}

/// A part of a request's content: text, a function call (in a `model`
/// content) or a function response (in a `user` content).
#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequestPart {
    /// The text (never empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A call the model made earlier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// The result of a call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_response: Option<tools::FunctionResponse>,
    /// The thought signature Gemini returned with this part, sent back
    /// unchanged ("Thought signatures",
    /// <https://ai.google.dev/gemini-api/docs/thought-signatures>, read
    /// 2026-11-30: Gemini 3 signs every answer, on its last part; a text
    /// answer's signature is recommended back, a function call's required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

impl RequestPart {
    fn plain(text: &str) -> Self {
        Self {
            text: Some(text.to_owned()),
            ..Self::default()
        }
    }
}

/// `generationConfig`.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Output cap (thinking tokens count against it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// How hard the model thinks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
    /// `application/json` for a JSON answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<&'static str>,
    /// The JSON Schema the answer must match (JSON Schema as written, as
    /// `parametersJsonSchema` is for functions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<serde_json::Value>,
}

/// `generationConfig.thinkingConfig`: Gemini 3 takes a `thinkingLevel`
/// (`MINIMAL`, `LOW`, `MEDIUM`, `HIGH`: the `ThinkingLevel` enum of the
/// API reference, <https://ai.google.dev/api/generate-content#ThinkingConfig>).
/// Thought summaries (`includeThoughts`) are never asked for: they are not
/// part of the answer.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    /// The level, in the API's enum spelling.
    pub thinking_level: &'static str,
}

/// The API's spelling of a reasoning effort.
pub fn thinking_level(effort: ReasoningEffort) -> &'static str {
    match effort {
        ReasoningEffort::Minimal => "MINIMAL",
        ReasoningEffort::Low => "LOW",
        ReasoningEffort::Medium => "MEDIUM",
        ReasoningEffort::High => "HIGH",
    }
}

/// The name Gemini's provider state is kept under ([`ProviderState::provider`]).
pub const PROVIDER: &str = "gemini";

/// The signature to send back with a stored message: only Gemini's own,
/// and only to the model that produced it (another model may refuse it as
/// corrupted; a text answer's signature is optional, so leaving it out is
/// always safe).
fn signature_for<'a>(state: Option<&'a ProviderState>, model: &str) -> Option<&'a str> {
    let state = state?;
    (state.provider == PROVIDER && state.model == model)
        .then_some(state.thought_signature.as_deref())
        .flatten()
}

/// The conversation as Gemini's contents: `assistant` becomes `model`, an
/// assistant message's text comes before its calls, the results of one
/// round (consecutive tool messages) are one `user` content, empty messages
/// are left out, and thought signatures go back on the part they came with.
fn contents(request: &LlmRequest) -> Vec<Content> {
    let signature = |state| signature_for(state, &request.model).map(str::to_owned);
    let mut contents: Vec<Content> = Vec::new();
    let mut in_results = false;
    for m in &request.messages {
        if m.role == Role::Tool {
            let part = RequestPart {
                function_response: Some(tools::function_response(m)),
                ..RequestPart::default()
            };
            match contents.last_mut() {
                Some(results) if in_results => results.parts.push(part),
                _ => contents.push(Content {
                    role: Some("user"),
                    parts: vec![part],
                }),
            }
            in_results = true;
            continue;
        }
        in_results = false;
        let text = (!m.content.is_empty()).then(|| RequestPart {
            text: Some(m.content.clone()),
            thought_signature: signature(m.provider_state.as_ref()),
            ..RequestPart::default()
        });
        let calls = m.tool_calls.iter().map(|c| RequestPart {
            function_call: Some(FunctionCall {
                id: Some(c.id.clone()),
                name: c.name.clone(),
                args: Some(c.arguments.clone()),
            }),
            thought_signature: signature(c.provider_state.as_ref()),
            ..RequestPart::default()
        });
        let parts: Vec<RequestPart> = text.into_iter().chain(calls).collect();
        if parts.is_empty() {
            continue;
        }
        contents.push(Content {
            role: Some(if m.role == Role::User {
                "user"
            } else {
                "model"
            }),
            parts,
        });
    }
    contents
}

/// Builds the request body: the contents, the system instruction, the
/// settings and the tools.
pub fn build_request(request: &LlmRequest) -> GenerateRequest {
    let system_instruction = (!request.system_prompt.is_empty()).then(|| Content {
        role: None,
        parts: vec![RequestPart::plain(&request.system_prompt)],
    });
    let thinking_config = request.reasoning_effort.map(|e| ThinkingConfig {
        thinking_level: thinking_level(e),
    });
    let (response_mime_type, response_json_schema) = match &request.response_format {
        None => (None, None),
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            (Some("application/json"), Some(schema.clone()))
        }
    };
    let generation_config = (request.temperature.is_some()
        || request.max_output_tokens.is_some()
        || thinking_config.is_some()
        || response_mime_type.is_some())
    .then_some(GenerationConfig {
        temperature: request.temperature,
        max_output_tokens: request.max_output_tokens,
        thinking_config,
        response_mime_type,
        response_json_schema,
    });
    GenerateRequest {
        contents: contents(request),
        system_instruction,
        generation_config,
        tools: tools::tools(request),
        tool_config: tools::tool_config(request),
    }
}

// ---- response ----

/// A `GenerateContentResponse` (or one streamed chunk of it).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateResponse {
    /// Candidates; Convo asks for one.
    #[serde(default)]
    pub candidates: Option<Vec<Candidate>>,
    /// Set when the prompt itself was blocked.
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    /// Token counts (on every stream chunk, cumulative, or only on the last).
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    /// The concrete model that answered.
    #[serde(default)]
    pub model_version: Option<String>,
}

/// One candidate answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// Its content (absent when blocked or out of tokens).
    #[serde(default)]
    pub content: Option<CandidateContent>,
    /// Why it stopped; absent on all but the last stream chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// A candidate's content.
#[derive(Debug, Default, Deserialize)]
pub struct CandidateContent {
    /// Parts: text, thoughts, or kinds Convo ignores.
    #[serde(default)]
    pub parts: Option<Vec<Part>>,
}

/// One part of a candidate.
#[derive(Debug, Default, Deserialize)]
pub struct Part {
    /// Text, if it is a text part.
    #[serde(default)]
    pub text: Option<String>,
    /// `true` for a thought summary, which is not part of the answer.
    #[serde(default)]
    pub thought: Option<bool>,
    /// Gemini 3's signature of its reasoning, on the answer's last part
    /// (in a stream, often on the final chunk's empty text part), or on
    /// the first function call of a step.
    #[serde(default, rename = "thoughtSignature", alias = "thought_signature")]
    pub thought_signature: Option<String>,
    /// A call of a declared function.
    #[serde(default, rename = "functionCall", alias = "function_call")]
    pub function_call: Option<FunctionCall>,
}

/// `promptFeedback`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    /// Why the prompt was blocked.
    #[serde(default)]
    pub block_reason: Option<String>,
}

/// `usageMetadata`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_token_count: Option<u64>,
    /// Answer tokens (absent when nothing was generated).
    #[serde(default)]
    pub candidates_token_count: Option<u64>,
    /// Total billed tokens.
    #[serde(default)]
    pub total_token_count: Option<u64>,
    /// Thinking tokens.
    #[serde(default)]
    pub thoughts_token_count: Option<u64>,
    /// Prompt tokens served from cache.
    #[serde(default)]
    pub cached_content_token_count: Option<u64>,
}

impl UsageMetadata {
    /// Convo's usage.
    pub fn to_usage(self) -> Usage {
        let prompt = self.prompt_token_count.unwrap_or(0);
        let completion = self.candidates_token_count.unwrap_or(0);
        let thoughts = self.thoughts_token_count;
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: self
                .total_token_count
                .unwrap_or(prompt + completion + thoughts.unwrap_or(0)),
            thoughts_tokens: thoughts,
            cached_tokens: self.cached_content_token_count,
        }
    }
}

/// Gemini's finish reasons in Convo's terms.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::MaxTokens,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => {
            FinishReason::Safety
        }
        _ => FinishReason::Other,
    }
}

/// What one response (or stream chunk) says.
#[derive(Debug, Default, PartialEq)]
pub struct Chunk {
    /// Answer text in it (thoughts left out), possibly empty.
    pub text: String,
    /// The finish reason, if this is the last chunk.
    pub finish: Option<(FinishReason, String)>,
    /// Usage, if reported.
    pub usage: Option<Usage>,
    /// The model, if named.
    pub model: Option<String>,
    /// The last thought signature in it outside function calls, if any.
    pub signature: Option<String>,
    /// The function calls in it, each with its own signature.
    pub calls: Vec<(FunctionCall, Option<String>)>,
}

impl GenerateResponse {
    /// Reads one response or chunk. A blocked prompt, or a response with no
    /// candidate at all, is [`LlmError::Blocked`].
    pub fn into_chunk(self) -> Result<Chunk, LlmError> {
        if let Some(reason) = self.prompt_feedback.and_then(|f| f.block_reason) {
            return Err(LlmError::Blocked(format!("prompt blocked: {reason}")));
        }
        let usage = self.usage_metadata.map(UsageMetadata::to_usage);
        let candidate = match self.candidates.and_then(|c| c.into_iter().next()) {
            Some(c) => c,
            // A usage-only chunk is fine mid-stream; the caller decides at the end.
            None if usage.is_some() => {
                return Ok(Chunk {
                    usage,
                    model: self.model_version,
                    ..Chunk::default()
                })
            }
            None => return Err(LlmError::Blocked("the model returned no candidates".into())),
        };
        let mut text = String::new();
        let mut signature = None;
        let mut calls = Vec::new();
        for part in candidate.content.and_then(|c| c.parts).unwrap_or_default() {
            if let Some(call) = part.function_call {
                // A call's signature belongs to the call: it goes back on it.
                calls.push((call, part.thought_signature));
                continue;
            }
            if part.thought_signature.is_some() {
                signature = part.thought_signature;
            }
            if part.thought != Some(true) {
                text.push_str(part.text.as_deref().unwrap_or(""));
            }
        }
        let finish = candidate.finish_reason.map(|r| (finish_reason(&r), r));
        Ok(Chunk {
            text,
            finish,
            usage,
            model: self.model_version,
            signature,
            calls,
        })
    }
}

// ---- errors ----

/// Gemini's error body: `{"error": {code, message, status, details}}`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorEnvelope {
    /// The error.
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

/// The `error` object.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    /// HTTP status.
    #[serde(default)]
    pub code: Option<u16>,
    /// Message.
    #[serde(default)]
    pub message: Option<String>,
    /// gRPC status name, e.g. `RESOURCE_EXHAUSTED`.
    #[serde(default)]
    pub status: Option<String>,
    /// Typed details; `google.rpc.RetryInfo` carries `retryDelay`.
    #[serde(default)]
    pub details: Option<Vec<serde_json::Value>>,
}

impl ErrorBody {
    /// `retryDelay` of a `google.rpc.RetryInfo` detail.
    pub fn retry_delay(&self) -> Option<Duration> {
        self.details.as_ref()?.iter().find_map(|d| {
            let kind = d.get("@type")?.as_str()?;
            if !kind.ends_with("google.rpc.RetryInfo") {
                return None;
            }
            parse_duration(d.get("retryDelay")?.as_str()?)
        })
    }
}

/// Parses a protobuf JSON `Duration` such as `"37s"` or `"1.5s"`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// The error for an HTTP error status with (maybe) Gemini's error body.
///
/// Messages help an operator (bad key, unknown model) and never contain the key.
pub fn error_for_status(status: u16, body: &[u8], model: &str) -> LlmError {
    let parsed = serde_json::from_slice::<ErrorEnvelope>(body)
        .ok()
        .and_then(|e| e.error)
        .unwrap_or_default();
    error_from_body(status, &parsed, model)
}

/// The error for Gemini's error object (also used for errors inside a 200
/// stream); `model` is the model that was asked for.
pub fn error_from_body(status: u16, body: &ErrorBody, model: &str) -> LlmError {
    let grpc = body.status.as_deref().unwrap_or("");
    let message = body
        .message
        .as_deref()
        .map(|m| m.chars().take(300).collect::<String>())
        .unwrap_or_default();
    let detail = if grpc.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} {grpc}")
    };
    let text = if message.is_empty() {
        detail
    } else {
        format!("{detail}: {message}")
    };
    match status {
        429 => LlmError::Unavailable {
            message: format!("Gemini rate limit or quota ({text})"),
            retry_after: body.retry_delay(),
        },
        504 => LlmError::Timeout,
        500..=599 => LlmError::Unavailable {
            message: format!("Gemini is unavailable ({text})"),
            retry_after: body.retry_delay(),
        },
        400 if message.contains("API key") || grpc == "API_KEY_INVALID" => {
            LlmError::Provider(format!("Gemini rejected the API key ({text})"))
        }
        401 | 403 => LlmError::Provider(format!(
            "Gemini refused the credentials: check GEMINI_API_KEY ({text})"
        )),
        // A retired or misspelt model: the API answers 404 NOT_FOUND ("This
        // model models/gemini-2.0-flash is no longer available…", or "…is
        // not found for API version v1beta…"), per "Gemini deprecations",
        // https://ai.google.dev/gemini-api/docs/deprecations (read 2026-11-30).
        404 => LlmError::Provider(format!(
            "Gemini does not serve the model `{model}` ({text}); change the agent's `model`, \
             or the server's default model (GEMINI_MODEL) for new agents"
        )),
        _ => LlmError::Provider(format!("Gemini rejected the request ({text})")),
    }
}

#[cfg(test)]
mod tests;
