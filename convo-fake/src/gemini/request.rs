//! What a (validated) `GenerateContentRequest` says, read once for the
//! answer: the turn's texts, the function responses, the prompt's tokens.

use serde_json::Value;

use super::validate;
use crate::models::Spec;
use crate::server::Inbound;
use crate::text::approx_tokens;

/// The JSON body (an empty body is `{}`, as the real API takes it).
pub(super) fn json_body(req: &Inbound) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(if req.body.is_empty() {
        b"{}"
    } else {
        &req.body
    })
}

/// The text of a content's parts.
pub(super) fn parts_text(content: &Value) -> String {
    content["parts"]
        .as_array()
        .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
        .unwrap_or_default()
}

/// What a content costs: its text, function calls and responses as JSON.
pub(super) fn count_text(content: &Value) -> String {
    content["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .map(|p| {
                    if let Some(t) = p["text"].as_str() {
                        t.to_owned()
                    } else if let Some(fc) =
                        validate::field(p, "functionCall").filter(|v| v.is_object())
                    {
                        fc.to_string()
                    } else if let Some(fr) =
                        validate::field(p, "functionResponse").filter(|v| v.is_object())
                    {
                        fr.to_string()
                    } else {
                        String::new()
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The function declarations of every tool.
pub(super) fn declarations(body: &Value) -> Vec<Value> {
    validate::field(body, "tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| {
                    validate::field(t, "functionDeclarations").and_then(Value::as_array)
                })
                .flatten()
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Prompt tokens of a request: contents, system instruction, declarations.
pub(super) fn prompt_tokens(body: &Value) -> u64 {
    let contents = validate::field(body, "contents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut text = contents
        .iter()
        .map(count_text)
        .collect::<Vec<_>>()
        .join("\n");
    if let Some(system) = validate::field(body, "systemInstruction") {
        text.push_str(&parts_text(system));
    }
    let decls = declarations(body);
    if !decls.is_empty() {
        text.push_str(&Value::Array(decls).to_string());
    }
    approx_tokens(&text).max(1)
}

/// A user content: the role `user`, or none.
fn is_user(content: &Value) -> bool {
    matches!(content["role"].as_str(), None | Some("") | Some("user"))
}

/// How many function calls a content holds.
fn function_calls_of(content: &Value) -> usize {
    content["parts"].as_array().map_or(0, |p| {
        p.iter()
            .filter(|p| validate::field(p, "functionCall").is_some_and(Value::is_object))
            .count()
    })
}

/// What the request says, as generation needs it.
pub(super) struct Info {
    /// The text of the newest user content (the echo's source).
    pub(super) last_user_text: String,
    /// The text of the user content that started the turn (its directive
    /// holds for the whole turn).
    pub(super) turn_text: String,
    /// The function responses of the newest user content.
    pub(super) function_responses: Vec<Value>,
    /// The model steps with function calls since the turn started.
    pub(super) steps: usize,
    pub(super) has_system: bool,
    pub(super) contents_count: usize,
    pub(super) prompt_tokens: u64,
    /// The usage's `serviceTier` (Gemini 3 only).
    pub(super) service_tier: Option<String>,
}

/// Reads what generation needs from a validated request.
pub(super) fn analyse(body: &Value, spec: &Spec) -> Info {
    let contents = validate::field(body, "contents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let last = contents.iter().rev().find(|c| is_user(c));
    let start = validate::turn_start(&contents);
    let steps = start.map_or(0, |s| {
        contents[s + 1..]
            .iter()
            .filter(|c| c["role"] == "model" && function_calls_of(c) > 0)
            .count()
    });
    let function_responses = last
        .and_then(|c| c["parts"].as_array())
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| validate::field(p, "functionResponse"))
                .filter(|v| v.is_object())
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let tier = validate::field(body, "serviceTier")
        .and_then(Value::as_str)
        .filter(|t| *t != "unspecified")
        .unwrap_or("standard");
    Info {
        last_user_text: last.map(parts_text).unwrap_or_default(),
        turn_text: start.map(|s| parts_text(&contents[s])).unwrap_or_default(),
        function_responses,
        steps,
        has_system: validate::field(body, "systemInstruction").is_some(),
        contents_count: contents.len(),
        prompt_tokens: prompt_tokens(body),
        service_tier: spec.gemini3.then(|| tier.to_owned()),
    }
}
