//! What the model "generates" for one request: thinking (level, tokens,
//! summary), then scripted function calls or the echo, cut by stop
//! sequences and `maxOutputTokens`, and the signatures Gemini 3 adds.

use serde_json::{json, Value};

use super::request::{declarations, Info};
use super::validate;
use crate::knobs::{self, Knobs};
use crate::log::Record;
use crate::models::{self, Spec};
use crate::server::App;
use crate::text::approx_tokens;

/// What the model "generates" for one request.
pub(super) struct Plan {
    /// The thinking level (Gemini 3).
    pub(super) level: Option<String>,
    /// The thought summary, when asked for and thought.
    pub(super) thought_text: Option<String>,
    /// Thinking tokens.
    pub(super) thoughts: u64,
    /// The answer's text (empty for function calls).
    pub(super) text: String,
    /// The function calls, when the answer is calls.
    pub(super) calls: Option<Vec<Value>>,
    /// The calls as parts, the first signed when it must be.
    pub(super) call_parts: Vec<Value>,
    /// What the candidates' token count is taken from.
    pub(super) out_text: String,
    pub(super) finish_reason: String,
    /// The signature of a text answer's last part (Gemini 3).
    pub(super) text_signature: Option<String>,
}

impl Plan {
    /// Records the answer as delivered whole.
    pub(super) fn delivered(&self, record: &Record) {
        record.set("outcome", json!("ok"));
        record.set("reply", json!(self.text));
        if let Some(calls) = &self.calls {
            record.set("function_calls", json!(calls));
        }
    }
}

/// The answer's text: the `reply` knob, the function results, or the echo
/// (padded to `pad_to`).
fn reply_text(info: &Info, knobs: &Knobs) -> String {
    let tail = format!(
        "[contents={}; system={}]",
        info.contents_count,
        if info.has_system { "yes" } else { "no" }
    );
    let mut text = if let Some(reply) = knobs.text("reply") {
        reply.to_owned()
    } else if !info.function_responses.is_empty() {
        let results: Vec<String> = info
            .function_responses
            .iter()
            .map(|fr| {
                let response = match &fr["response"] {
                    Value::Null => json!({}),
                    other => other.clone(),
                };
                format!("{}={}", fr["name"].as_str().unwrap_or(""), response)
            })
            .collect();
        format!("function results: {} {tail}", results.join("; "))
    } else {
        format!(
            "echo: {} {tail}",
            knobs::strip_directive(&info.last_user_text).trim()
        )
    };
    if let Some(pad) = knobs.int("pad_to").map(|n| n as usize) {
        const WORDS: &str = " lorem ipsum dolor sit amet consectetur adipiscing elit";
        if text.chars().count() < pad {
            while text.chars().count() < pad {
                text.push_str(WORDS);
            }
            text = text.chars().take(pad).collect();
        }
    }
    text
}

/// The thought summary `includeThoughts` asks for.
fn thought_summary(info: &Info) -> String {
    let said = knobs::strip_directive(&info.turn_text).trim().to_owned();
    let short = if said.chars().count() > 60 {
        format!("{}...", said.chars().take(60).collect::<String>())
    } else {
        said
    };
    format!("**Considering the request**\n\nThe user wrote \"{short}\". I will answer by echoing it back.")
}

/// Plans the answer to `body`.
pub(super) fn plan(app: &App, info: &Info, knobs: &Knobs, body: &Value, spec: &Spec) -> Plan {
    let config = validate::field(body, "generationConfig")
        .cloned()
        .unwrap_or(json!({}));
    let thinking = validate::field(&config, "thinkingConfig")
        .cloned()
        .unwrap_or(json!({}));
    let budget = validate::field(&thinking, "thinkingBudget").and_then(Value::as_i64);
    let include =
        validate::field(&thinking, "includeThoughts").and_then(Value::as_bool) == Some(true);
    let off = budget == Some(0) && !spec.pro;
    let (level, thoughts, thought_text) = if spec.gemini3 {
        // "Gemini thinking", https://ai.google.dev/gemini-api/docs/thinking
        // (read 2026-11-30): Gemini 3 thinks by default at its default level.
        let level = validate::field(&thinking, "thinkingLevel")
            .and_then(Value::as_str)
            .map(str::to_uppercase)
            .filter(|l| l != "THINKING_LEVEL_UNSPECIFIED")
            .unwrap_or_else(|| spec.default_level.to_owned());
        let mut thoughts = knobs
            .int("thoughts_tokens")
            .unwrap_or_else(|| models::level_thoughts(&level));
        if off {
            thoughts = 0;
        } else if let Some(b) = budget.filter(|b| *b > 0) {
            thoughts = thoughts.min(b as u64);
        }
        let text = (include && thoughts > 0).then(|| thought_summary(info));
        (Some(level), thoughts, text)
    } else {
        let text = (include && !off).then(|| thought_summary(info));
        let mut thoughts = if off {
            0
        } else {
            knobs
                .int("thoughts_tokens")
                .filter(|n| *n > 0)
                .unwrap_or_else(|| text.as_deref().map_or(0, approx_tokens))
        };
        if let Some(b) = budget.filter(|b| *b > 0) {
            thoughts = thoughts.min(b as u64);
        }
        (None, thoughts, text)
    };
    // Thinking tokens are billed against maxOutputTokens.
    let cap = validate::field(&config, "maxOutputTokens")
        .and_then(Value::as_i64)
        .filter(|n| *n >= 1);
    let left = cap.map(|c| c - thoughts as i64);

    if let Some(calls) = planned_calls(info, knobs, body) {
        let truncated = left.is_some_and(|l| l <= 0);
        let signed = spec.gemini3 || thoughts > 0;
        let call_parts = if truncated {
            Vec::new()
        } else {
            calls
                .iter()
                .enumerate()
                .map(|(i, fc)| {
                    if i == 0 && signed {
                        json!({"functionCall": fc, "thoughtSignature": app.signer.issue()})
                    } else {
                        json!({"functionCall": fc})
                    }
                })
                .collect()
        };
        let finish = knobs
            .text("finish_reason")
            .map(str::to_owned)
            .unwrap_or_else(|| if truncated { "MAX_TOKENS" } else { "STOP" }.to_owned());
        let out_text = if truncated {
            String::new()
        } else {
            Value::Array(calls.clone()).to_string()
        };
        return Plan {
            level,
            thought_text,
            thoughts,
            text: String::new(),
            calls: (!truncated).then_some(calls),
            call_parts,
            out_text,
            finish_reason: finish,
            text_signature: None,
        };
    }

    let mut text = reply_text(info, knobs);
    if let Some(stops) = validate::field(&config, "stopSequences").and_then(Value::as_array) {
        let cut = stops
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s))
            .min();
        if let Some(at) = cut {
            text.truncate(at);
        }
    }
    let mut truncated = false;
    if let Some(left) = left {
        if left <= 0 {
            truncated = true;
            text.clear();
        } else if approx_tokens(&text) > left as u64 {
            truncated = true;
            text = text.chars().take(left as usize * 4).collect();
        }
    }
    let finish = knobs
        .text("finish_reason")
        .map(str::to_owned)
        .unwrap_or_else(|| if truncated { "MAX_TOKENS" } else { "STOP" }.to_owned());
    // "Thought Signatures" (read 2026-11-30): Gemini 3 signs every answer;
    // a text answer on its last part.
    let text_signature = (spec.gemini3 && !text.is_empty()).then(|| app.signer.issue());
    Plan {
        level,
        thought_text,
        thoughts,
        out_text: text.clone(),
        text,
        calls: None,
        call_parts: Vec::new(),
        finish_reason: finish,
        text_signature,
    }
}

/// The calls of this answer, or `None` for text: they need declared
/// functions and a mode other than NONE; mode ANY always calls.
fn planned_calls(info: &Info, knobs: &Knobs, body: &Value) -> Option<Vec<Value>> {
    let decls = declarations(body);
    let fcc = validate::field(body, "toolConfig")
        .and_then(|t| validate::field(t, "functionCallingConfig"))
        .cloned()
        .unwrap_or(json!({}));
    let mode = fcc["mode"]
        .as_str()
        .filter(|m| *m != "MODE_UNSPECIFIED")
        .unwrap_or("AUTO");
    if decls.is_empty() || mode == "NONE" {
        return None;
    }
    if let Some(step) = knobs
        .function_calls()
        .and_then(|steps| steps.get(info.steps))
    {
        return step.as_array().cloned();
    }
    if mode == "ANY" {
        let allowed = validate::field(&fcc, "allowedFunctionNames")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_owned);
        let name = allowed
            .or_else(|| {
                decls
                    .first()
                    .and_then(|d| d["name"].as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        return Some(vec![json!({"name": name, "args": {}})]);
    }
    None
}
