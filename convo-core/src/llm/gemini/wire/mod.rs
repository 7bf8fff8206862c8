//! Gemini's JSON (Generative Language API `v1beta`) ↔ Convo's types.
//! Pure functions, no IO: every mapping here is unit-tested.
//!
//! Tolerant by design: unknown fields are ignored, enums are read as strings
//! (an unknown value maps to a catch-all), and every field may be missing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::{FinishReason, ProviderState, ReasoningEffort, Role, Usage};
use crate::llm::{LlmError, LlmRequest};

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
}

/// One turn of the conversation.
#[derive(Debug, Serialize, PartialEq)]
pub struct Content {
    /// `user` or `model`; absent for the system instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// Its text parts.
    pub parts: Vec<TextPart>,
}

/// A text part.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TextPart {
    /// The text (never empty).
    pub text: String,
    /// The thought signature Gemini returned with this text, sent back
    /// unchanged ("Thought signatures",
    /// <https://ai.google.dev/gemini-api/docs/thought-signatures>, read
    /// 2026-11-30: Gemini 3 signs every answer, on its last part; a text
    /// answer's signature is recommended back, a function call's required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

impl TextPart {
    fn plain(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            thought_signature: None,
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

/// Builds the request body: `assistant` becomes `model`, empty messages are
/// left out, and thought signatures go back on the text they came with.
pub fn build_request(request: &LlmRequest) -> GenerateRequest {
    let contents = request
        .messages
        .iter()
        .filter(|m| !m.content.is_empty())
        .map(|m| Content {
            role: Some(match m.role {
                Role::User => "user",
                Role::Assistant => "model",
            }),
            parts: vec![TextPart {
                text: m.content.clone(),
                thought_signature: signature_for(m.provider_state.as_ref(), &request.model)
                    .map(str::to_owned),
            }],
        })
        .collect();
    let system_instruction = (!request.system_prompt.is_empty()).then(|| Content {
        role: None,
        parts: vec![TextPart::plain(&request.system_prompt)],
    });
    let thinking_config = request.reasoning_effort.map(|e| ThinkingConfig {
        thinking_level: thinking_level(e),
    });
    let generation_config = (request.temperature.is_some()
        || request.max_output_tokens.is_some()
        || thinking_config.is_some())
    .then_some(GenerationConfig {
        temperature: request.temperature,
        max_output_tokens: request.max_output_tokens,
        thinking_config,
    });
    GenerateRequest {
        contents,
        system_instruction,
        generation_config,
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
    /// (in a stream, often on the final chunk's empty text part).
    #[serde(default, rename = "thoughtSignature", alias = "thought_signature")]
    pub thought_signature: Option<String>,
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
    /// The last thought signature in it, if any.
    pub signature: Option<String>,
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
        for part in candidate.content.and_then(|c| c.parts).unwrap_or_default() {
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
