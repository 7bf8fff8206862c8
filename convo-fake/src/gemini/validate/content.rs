//! Contents and their parts: a role, parts that are not empty, each with
//! its data; and where the current turn starts.

use serde_json::Value;

use super::{field, unknown};

/// The part fields that carry data (one is required).
const PART_DATA: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "toolCall",
    "toolResponse",
];

/// The part fields that carry no data.
const PART_OTHER: &[&str] = &[
    "thought",
    "thoughtSignature",
    "videoMetadata",
    "partMetadata",
    "mediaResolution",
];

/// Whether a part carries data (a part with only a signature, as a
/// Gemini 3 stream ends with, is taken).
fn has_data(part: &Value) -> bool {
    PART_DATA.iter().any(|f| match field(part, f) {
        Some(Value::String(t)) if *f == "text" => !t.is_empty(),
        Some(v) if *f != "text" => v.is_object(),
        _ => false,
    }) || field(part, "thoughtSignature")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// Checks a content at `at` (`contents[i]` or `system_instruction`).
pub(super) fn check_content(content: &Value, at: &str, lenient: bool) -> Result<(), String> {
    let Some(object) = content.as_object() else {
        return Err(format!("Invalid value at '{at}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content), {content}"));
    };
    if !lenient {
        unknown(object, &["role", "parts"], at)?;
    }
    let parts = field(content, "parts")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty());
    let Some(parts) = parts else {
        return Err(format!(
            "* GenerateContentRequest.{at}.parts: contents.parts must not be empty.\n"
        ));
    };
    for (j, part) in parts.iter().enumerate() {
        if lenient {
            continue;
        }
        if let Some(o) = part.as_object() {
            let allowed: Vec<&str> = PART_DATA.iter().chain(PART_OTHER).copied().collect();
            unknown(o, &allowed, &format!("{at}.parts[{j}]"))?;
        }
        if !has_data(part) {
            return Err(format!("* GenerateContentRequest.{at}.parts[{j}].data: required oneof field 'data' must have one initialized field\n"));
        }
    }
    Ok(())
}

/// The index of the content that starts the current turn: the newest user
/// content with standard content (not only function responses).
pub fn turn_start(contents: &[Value]) -> Option<usize> {
    contents.iter().rposition(|c| {
        matches!(c["role"].as_str(), None | Some("") | Some("user"))
            && c["parts"].as_array().is_some_and(|parts| {
                parts.iter().any(|p| {
                    PART_DATA
                        .iter()
                        .filter(|f| **f != "functionResponse")
                        .any(|f| match field(p, f) {
                            Some(Value::String(t)) if *f == "text" => !t.is_empty(),
                            Some(v) if *f != "text" => v.is_object(),
                            _ => false,
                        })
                })
            })
    })
}

/// The parts of `content` that are function calls.
pub(super) fn function_call_parts(content: &Value) -> Vec<&Value> {
    content["parts"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter(|p| field(p, "functionCall").is_some_and(Value::is_object))
                .collect()
        })
        .unwrap_or_default()
}

/// The function responses of `content` (the `functionResponse` objects).
pub(super) fn function_responses(content: &Value) -> Vec<&Value> {
    content["parts"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|p| field(p, "functionResponse").filter(|v| v.is_object()))
                .collect()
        })
        .unwrap_or_default()
}

/// How many parts of `content` are function responses.
pub(super) fn function_response_count(content: &Value) -> usize {
    function_responses(content).len()
}
