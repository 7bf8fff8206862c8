//! What the events of a Chat Completions stream mean.
//!
//! Each `data:` is a `chat.completion.chunk` whose `delta` carries new text;
//! one chunk carries the `finish_reason`; with `include_usage`, a last chunk
//! with no choices carries the usage; `data: [DONE]` ends the stream. So the
//! finish item is sent at `[DONE]`, when the usage is known. Tool calls
//! arrive in fragments; each is an item once the answer is over (a call's
//! arguments are whole only then), in order, before the finish.

use std::ops::ControlFlow;

use super::{error, tools, wire};
use crate::domain::{FinishReason, Usage};
use crate::llm::http::{Decoder, Out, SseItem};
use crate::llm::{finish_with_calls, LlmChunk, LlmError};

/// Reads a Chat Completions stream.
#[derive(Debug, Default)]
pub(super) struct OpenAiDecoder {
    finish: Option<(FinishReason, String)>,
    usage: Option<Usage>,
    model: Option<String>,
    text_seen: bool,
    refusal: String,
    calls: tools::CallAssembler,
}

impl Decoder for OpenAiDecoder {
    fn item(&mut self, item: SseItem, out: &mut Out) -> ControlFlow<()> {
        let data = match item {
            SseItem::Data(data) => data,
            // An `error: {...}` line (llama.cpp's server) or bare JSON; other
            // raw lines are noise.
            SseItem::Raw(raw) => {
                let json = raw.strip_prefix("error:").unwrap_or(&raw);
                return match raw_error(json) {
                    Some(err) => fail(out, err),
                    None => ControlFlow::Continue(()),
                };
            }
        };
        if data.trim() == "[DONE]" {
            return self.finish(out);
        }
        let part = match serde_json::from_str::<wire::Completion>(&data) {
            Ok(completion) => completion.into_part(),
            Err(e) => Err(LlmError::Provider(format!(
                "the model API sent a chunk that is not the expected JSON: {e}"
            ))),
        };
        let part = match part {
            Ok(part) => part,
            Err(err) => return fail(out, err),
        };
        if part.usage.is_some() {
            self.usage = part.usage;
        }
        if part.model.is_some() {
            self.model = part.model;
        }
        self.refusal.push_str(&part.refusal);
        if part.finish.is_some() {
            self.finish = part.finish;
        }
        if !part.text.is_empty() {
            self.text_seen = true;
            out.push_back(Ok(LlmChunk::Text(part.text)));
        }
        self.calls.push(part.tool_calls);
        ControlFlow::Continue(())
    }

    fn end(&mut self, out: &mut Out) {
        if self.finish.is_some() {
            // The answer was complete; only `[DONE]` (and maybe the usage) is
            // missing, as with servers that leave it out.
            let _ = self.finish(out);
        } else {
            out.push_back(Err(LlmError::Provider(
                "the model API's stream ended before [DONE]".into(),
            )));
        }
    }
}

impl OpenAiDecoder {
    /// The end of the stream: the finish item, or the refusal it turns out to be.
    fn finish(&mut self, out: &mut Out) -> ControlFlow<()> {
        // `[DONE]` without a finish reason: the protocol ended, the server did
        // not say why.
        let finish = self
            .finish
            .take()
            .unwrap_or((FinishReason::Other, String::new()));
        let calls = std::mem::take(&mut self.calls);
        let calls_seen = !calls.is_empty();
        if let Some(err) = wire::refused(&finish, self.text_seen || calls_seen, &self.refusal) {
            return fail(out, err);
        }
        out.extend(
            calls
                .finish()
                .into_iter()
                .map(|c| Ok(LlmChunk::ToolCall(c))),
        );
        out.push_back(Ok(LlmChunk::Finish {
            finish_reason: finish_with_calls(finish.0, calls_seen),
            usage: self.usage,
            model: self.model.take(),
            provider_state: None,
        }));
        ControlFlow::Break(())
    }
}

fn fail(out: &mut Out, err: LlmError) -> ControlFlow<()> {
    out.push_back(Err(err));
    ControlFlow::Break(())
}

/// The error in raw lines: `{"error": {...}}`, or a bare error object.
fn raw_error(text: &str) -> Option<LlmError> {
    let value: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    match value.get("error") {
        Some(inner) if !inner.is_null() => Some(error::embedded(inner)),
        Some(_) => None,
        None => value
            .get("message")
            .is_some()
            .then(|| error::embedded(&value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(items: Vec<SseItem>, ended: bool) -> Vec<Result<LlmChunk, LlmError>> {
        let mut decoder = OpenAiDecoder::default();
        let mut out = Out::new();
        for item in items {
            if decoder.item(item, &mut out).is_break() {
                return out.into();
            }
        }
        if ended {
            decoder.end(&mut out);
        }
        out.into()
    }

    fn data(text: &str) -> SseItem {
        SseItem::Data(text.into())
    }

    #[test]
    fn the_finish_waits_for_done_and_carries_the_usage_of_the_last_chunk() {
        let items = vec![
            data(
                r#"{"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            ),
            data(
                r#"{"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"length"}]}"#,
            ),
            data(
                r#"{"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#,
            ),
            data("[DONE]"),
            data(r#"{"choices":[{"delta":{"content":"never read"}}]}"#),
        ];

        let out = decode(items, true);

        let Some(Ok(LlmChunk::Finish {
            finish_reason,
            usage,
            model,
            ..
        })) = out.get(1)
        else {
            panic!("{out:?}")
        };
        assert_eq!(out[0], Ok(LlmChunk::Text("Hi".into())));
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(*finish_reason, FinishReason::MaxTokens);
        assert_eq!(usage.map(|u| u.total_tokens), Some(4));
        assert_eq!(model.as_deref(), Some("m"));
    }

    #[test]
    fn a_clean_end_after_the_finish_reason_but_before_done_still_finishes() {
        let items = vec![data(
            r#"{"choices":[{"delta":{"content":"ok"},"finish_reason":"stop"}]}"#,
        )];

        let out = decode(items, true);

        assert!(
            matches!(
                out.last(),
                Some(Ok(LlmChunk::Finish {
                    finish_reason: FinishReason::Stop,
                    usage: None,
                    ..
                }))
            ),
            "{out:?}"
        );
    }

    #[test]
    fn a_refusal_streamed_without_text_is_blocked() {
        let items = vec![
            data(r#"{"choices":[{"delta":{"refusal":"I can't "}}]}"#),
            data(r#"{"choices":[{"delta":{"refusal":"help."},"finish_reason":"stop"}]}"#),
            data("[DONE]"),
        ];

        let out = decode(items, true);

        assert!(
            matches!(&out[..], [Err(LlmError::Blocked(m))] if m.contains("I can't help.")),
            "{out:?}"
        );
    }

    #[test]
    fn raw_error_lines_are_errors_and_other_raw_lines_are_noise() {
        let cases = [
            (
                r#"error: {"code":500,"message":"slot unavailable","type":"server_error"}"#,
                true,
            ),
            (
                r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
                true,
            ),
            ("some proxy banner", false),
            (r#"{"hello":"world"}"#, false),
        ];
        for (raw, is_error) in cases {
            let out = decode(vec![SseItem::Raw(raw.into())], false);
            assert_eq!(
                matches!(out.first(), Some(Err(LlmError::Unavailable { .. }))),
                is_error,
                "{raw}: {out:?}"
            );
        }
    }

    #[test]
    fn streamed_call_fragments_become_whole_calls_before_the_finish() {
        let items = vec![
            data(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}"#),
            data(
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"weather","arguments":""}}]}}]}"#,
            ),
            data(
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}"#,
            ),
            data(
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}"#,
            ),
            data(r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#),
            data("[DONE]"),
        ];

        let out = decode(items, true);

        assert_eq!(out.len(), 2, "{out:?}");
        let Some(Ok(LlmChunk::ToolCall(call))) = out.first() else {
            panic!("{out:?}")
        };
        assert_eq!(
            (call.id.as_str(), call.name.as_str(), &call.arguments),
            ("call_a", "weather", &serde_json::json!({"city": "Paris"}))
        );
        assert!(
            matches!(
                out[1],
                Ok(LlmChunk::Finish {
                    finish_reason: FinishReason::ToolCalls,
                    ..
                })
            ),
            "{out:?}"
        );
    }
}
