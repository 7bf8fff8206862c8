//! What the events of Gemini's `alt=sse` stream mean: each is a whole
//! `GenerateContentResponse` carrying a slice of the answer; the one with a
//! finish reason ends it. Usage may come on every chunk (cumulative) or only
//! on the last. Function calls come whole, each in one part, so each is an
//! item as soon as it is read.

use std::ops::ControlFlow;

use super::{refused, wire};
use crate::domain::Usage;
use crate::llm::http::{Decoder, Out, SseItem};
use crate::llm::{finish_with_calls, LlmChunk, LlmError};

/// Reads Gemini's stream events.
#[derive(Debug, Default)]
pub(super) struct GeminiDecoder {
    /// The model asked for (for errors and the provider state).
    requested: String,
    usage: Option<Usage>,
    model: Option<String>,
    signature: Option<String>,
    text_seen: bool,
    calls_seen: bool,
}

impl GeminiDecoder {
    /// A decoder for a stream of `requested`.
    pub(super) fn new(requested: &str) -> Self {
        Self {
            requested: requested.to_owned(),
            ..Self::default()
        }
    }
}

impl Decoder for GeminiDecoder {
    fn item(&mut self, item: SseItem, out: &mut Out) -> ControlFlow<()> {
        let text = match item {
            SseItem::Data(text) => text,
            // A bare error object; anything else raw is noise.
            SseItem::Raw(text) => {
                return match embedded_error(&text, &self.requested) {
                    Some(err) => fail(out, err),
                    None => ControlFlow::Continue(()),
                }
            }
        };
        let value: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                return fail(
                    out,
                    LlmError::Provider(format!("Gemini sent a chunk that is not JSON: {e}")),
                )
            }
        };
        if let Some(err) = embedded_error(&text, &self.requested) {
            return fail(out, err);
        }
        let chunk = match serde_json::from_value::<wire::GenerateResponse>(value)
            .map(wire::GenerateResponse::into_chunk)
        {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(err)) => return fail(out, err),
            Err(e) => {
                return fail(
                    out,
                    LlmError::Provider(format!("Gemini sent an unexpected chunk: {e}")),
                )
            }
        };
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        if chunk.model.is_some() {
            self.model = chunk.model;
        }
        if chunk.signature.is_some() {
            self.signature = chunk.signature;
        }
        if !chunk.text.is_empty() {
            self.text_seen = true;
            out.push_back(Ok(LlmChunk::Text(chunk.text)));
        }
        for (call, signature) in chunk.calls {
            self.calls_seen = true;
            let call = super::tool_call(&self.requested, call, signature);
            out.push_back(Ok(LlmChunk::ToolCall(call)));
        }
        let Some(finish) = chunk.finish else {
            return ControlFlow::Continue(());
        };
        if let Some(err) = refused(&finish, self.text_seen || self.calls_seen) {
            return fail(out, err);
        }
        out.push_back(Ok(LlmChunk::Finish {
            finish_reason: finish_with_calls(finish.0, self.calls_seen),
            usage: self.usage,
            model: self.model.take(),
            provider_state: super::provider_state(&self.requested, self.signature.take()),
        }));
        ControlFlow::Break(())
    }

    // A clean end without a finish reason pushes nothing: the engine reports
    // a cut stream.
}

fn fail(out: &mut Out, err: LlmError) -> ControlFlow<()> {
    out.push_back(Err(err));
    ControlFlow::Break(())
}

/// The error inside `{"error": {...}}`, if `text` is one.
fn embedded_error(text: &str, model: &str) -> Option<LlmError> {
    let envelope: wire::ErrorEnvelope = serde_json::from_str(text).ok()?;
    let body = envelope.error?;
    Some(wire::error_from_body(
        body.code.unwrap_or(500),
        &body,
        model,
    ))
}
