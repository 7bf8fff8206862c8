//! The JSON of an answer: candidates and their parts, usage metadata,
//! safety ratings and the response envelope ("Generating content",
//! <https://ai.google.dev/api/generate-content>, read 2026-11-30).

use serde_json::{json, Map, Value};

use super::plan::Plan;
use super::request::Info;
use crate::knobs::Knobs;
use crate::text::{approx_tokens, pieces};

/// `usageMetadata` for an answer of `text` after `thoughts` thinking tokens.
pub(super) fn usage(info: &Info, text: &str, thoughts: u64) -> Value {
    let candidates = approx_tokens(text);
    let mut u = Map::new();
    u.insert("promptTokenCount".into(), json!(info.prompt_tokens));
    // Absent when nothing was generated, as in the real API.
    if candidates > 0 {
        u.insert("candidatesTokenCount".into(), json!(candidates));
    }
    u.insert(
        "totalTokenCount".into(),
        json!(info.prompt_tokens + candidates + thoughts),
    );
    u.insert(
        "promptTokensDetails".into(),
        json!([{"modality": "TEXT", "tokenCount": info.prompt_tokens}]),
    );
    if thoughts > 0 {
        u.insert("thoughtsTokenCount".into(), json!(thoughts));
    }
    if let Some(tier) = &info.service_tier {
        u.insert("serviceTier".into(), json!(tier));
    }
    Value::Object(u)
}

/// `text` as `n` text parts (none for an empty text).
pub(super) fn text_parts(text: &str, n: Option<u64>) -> Vec<Value> {
    if text.is_empty() {
        return Vec::new();
    }
    pieces(text, n.unwrap_or(1) as usize)
        .into_iter()
        .map(|t| json!({"text": t}))
        .collect()
}

/// A candidate: `parts` `None` = content with no parts; `content` false = none at all.
pub(super) fn candidate(
    parts: Option<Vec<Value>>,
    content: bool,
    finish: Option<&str>,
    extra: Option<(&str, Value)>,
) -> Value {
    let mut c = Map::new();
    if content {
        c.insert(
            "content".into(),
            match parts {
                Some(p) if !p.is_empty() => json!({"parts": p, "role": "model"}),
                _ => json!({"role": "model"}),
            },
        );
    }
    if let Some(f) = finish {
        c.insert("finishReason".into(), json!(f));
    }
    c.insert("index".into(), json!(0));
    if let Some((k, v)) = extra {
        c.insert(k.into(), v);
    }
    Value::Object(c)
}

/// Safety ratings, `blocked` (a category) rated HIGH and blocked.
pub(super) fn safety_ratings(blocked: Option<&str>) -> Value {
    let categories = [
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
    ];
    Value::Array(
        categories
            .iter()
            .map(|c| {
                if Some(*c) == blocked {
                    json!({"category": c, "probability": "HIGH", "blocked": true})
                } else {
                    json!({"category": c, "probability": "NEGLIGIBLE"})
                }
            })
            .collect(),
    )
}

/// What every chunk of one answer repeats.
pub(super) struct Meta {
    pub(super) model_version: String,
    pub(super) response_id: String,
}

/// A `GenerateContentResponse` of one candidate.
pub(super) fn wrap(candidate: Value, usage: Value, meta: &Meta) -> Value {
    json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": meta.model_version, "responseId": meta.response_id})
}

/// The parts of a whole (unary) answer.
pub(super) fn response_parts(p: &Plan, knobs: &Knobs) -> Vec<Value> {
    let mut parts: Vec<Value> = p
        .thought_text
        .iter()
        .map(|t| json!({"text": t, "thought": true}))
        .collect();
    if p.calls.is_some() {
        parts.extend(p.call_parts.iter().cloned());
        return parts;
    }
    let mut text = text_parts(&p.text, knobs.int("parts"));
    if let (Some(sig), Some(last)) = (&p.text_signature, text.last_mut()) {
        last["thoughtSignature"] = json!(sig);
    }
    parts.extend(text);
    parts
}

/// A response id like the real ones (base64url of 12 random bytes).
pub(super) fn response_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&uuid::Uuid::new_v4().as_bytes()[..12])
}
