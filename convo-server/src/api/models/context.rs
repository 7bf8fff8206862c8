//! The context preview: what the next turn would send.

use convo_core as core;
use poem_openapi::Object;

use super::*;

/// What the next turn in a session would send to the model.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ContextPreview {
    /// Always `chat.context`.
    pub object: String,
    /// The model that would be called.
    pub model: String,
    /// The system prompt sent first.
    pub system_prompt: String,
    /// Sampling temperature sent (`null`: the provider's default).
    #[oai(nullable)]
    pub temperature: Option<f64>,
    /// Output cap sent (`null`: the provider's default).
    #[oai(nullable)]
    pub max_output_tokens: Option<u32>,
    /// Reasoning effort sent (`null`: the model's default).
    #[oai(nullable)]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// The messages sent after the system prompt, oldest first.
    pub messages: Vec<ContextMessage>,
    /// Estimated tokens of the system prompt and the messages (about 4 characters a token
    /// plus 4 a message; the provider's own count may differ).
    pub estimated_prompt_tokens: u32,
    /// Earlier messages left out of the window (`null`: none).
    #[oai(nullable)]
    pub left_out: Option<SeqRange>,
    /// The agent's window in messages.
    pub context_messages: u32,
    /// The agent's token budget (`null`: none).
    #[oai(nullable)]
    pub context_tokens: Option<u32>,
}

/// A message in a context preview.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ContextMessage {
    /// Its seq (for the previewed message, the one it would get).
    pub seq: u64,
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// Its estimated tokens.
    pub estimated_tokens: u32,
    /// `true` for the previewed `content`, which is not stored.
    pub pending: bool,
}

/// Messages `first_seq..=last_seq`.
#[derive(Debug, Clone, Copy, Object, serde::Serialize)]
pub struct SeqRange {
    /// The first.
    pub first_seq: u64,
    /// The last.
    pub last_seq: u64,
}

impl From<core::ContextPreview> for ContextPreview {
    fn from(p: core::ContextPreview) -> Self {
        Self {
            object: "chat.context".into(),
            model: p.request.model,
            system_prompt: p.request.system_prompt,
            temperature: p.request.temperature,
            max_output_tokens: p.request.max_output_tokens,
            reasoning_effort: p.request.reasoning_effort.map(Into::into),
            messages: p
                .messages
                .into_iter()
                .map(|m| ContextMessage {
                    seq: m.seq,
                    role: m.role.into(),
                    content: m.content,
                    estimated_tokens: m.estimated_tokens,
                    pending: m.pending,
                })
                .collect(),
            estimated_prompt_tokens: p.estimated_prompt_tokens,
            left_out: p.left_out.map(|r| SeqRange {
                first_seq: r.first_seq,
                last_seq: r.last_seq,
            }),
            context_messages: p.context_messages,
            context_tokens: p.context_tokens,
        }
    }
}
