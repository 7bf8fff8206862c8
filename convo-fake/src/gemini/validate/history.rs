//! The rules across turns ("Thought Signatures",
//! <https://ai.google.dev/gemini-api/docs/thought-signatures>, read
//! 2026-11-30): every signature is one this server issued, a Gemini 3 call
//! of the current turn carries one, calls are answered by as many
//! responses, each response answers a call of the model turn just before
//! it, and (strict models) the history ends with the user.

use serde_json::Value;

use super::content::{
    function_call_parts, function_response_count, function_responses, turn_start,
};
use super::field;
use crate::models::Spec;
use crate::signature::Signer;

/// Checks the history of `contents` for `spec`'s model.
pub(super) fn history(contents: &[Value], spec: &Spec, signer: &Signer) -> Result<(), String> {
    // Every signature must be bytes (proto JSON `bytes` are base64), and
    // one this server issued.
    for (i, content) in contents.iter().enumerate() {
        for (j, part) in content["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(sig) = field(part, "thoughtSignature")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                if !Signer::is_bytes(sig) {
                    return Err(format!("Invalid value at 'contents[{i}].parts[{j}].thought_signature' (TYPE_BYTES), {}", Value::from(sig)));
                }
                if !signer.valid(sig) {
                    return Err("Corrupted thought signature.".into());
                }
            }
        }
    }
    // Gemini 3: the first functionCall part of each model step of the
    // current turn must carry its signature.
    if spec.gemini3 {
        let from = turn_start(contents).map_or(0, |s| s + 1);
        for (i, content) in contents.iter().enumerate().skip(from) {
            if content["role"] != "model" {
                continue;
            }
            if let Some(first) = function_call_parts(content).first() {
                let signed = field(first, "thoughtSignature")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty());
                if !signed {
                    let name = field(first, "functionCall")
                        .and_then(|fc| fc["name"].as_str())
                        .unwrap_or("");
                    return Err(format!("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", i + 1));
                }
            }
        }
    }
    // A function call turn must be answered by as many function responses.
    for pair in contents.windows(2) {
        let calls = if pair[0]["role"] == "model" {
            function_call_parts(&pair[0]).len()
        } else {
            0
        };
        if calls > 0 && function_response_count(&pair[1]) != calls {
            return Err("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.".into());
        }
    }
    answered_calls(contents)?;
    if spec.strict && contents.last().is_some_and(|c| c["role"] == "model") {
        return Err("Requests ending with a model turn are not supported.".into());
    }
    Ok(())
}

/// Every function response answers a call of the model turn just before
/// it: the same name, and the same id when both have one. (The first
/// message is the real API's; the second's wording is the fake's own.)
fn answered_calls(contents: &[Value]) -> Result<(), String> {
    for (i, content) in contents.iter().enumerate() {
        let responses = function_responses(content);
        if responses.is_empty() {
            continue;
        }
        let calls: Vec<&Value> = match i.checked_sub(1).map(|p| &contents[p]) {
            Some(before) if before["role"] == "model" => function_call_parts(before)
                .into_iter()
                .filter_map(|p| field(p, "functionCall"))
                .collect(),
            _ => Vec::new(),
        };
        if calls.is_empty() {
            return Err("Please ensure that function response turn comes immediately after a function call turn.".into());
        }
        for response in responses {
            let (name, id) = (&response["name"], response.get("id"));
            let answers = |call: &&Value| {
                call["name"] == *name
                    && match (id, call.get("id")) {
                        (Some(a), Some(b)) => a == b,
                        _ => true,
                    }
            };
            if !calls.iter().any(answers) {
                return Err(format!(
                    "The function response for `{}` (id {}) at contents[{i}] does not answer any function call of the previous turn.",
                    name.as_str().unwrap_or(""),
                    id.map_or_else(|| "none".to_owned(), Value::to_string)
                ));
            }
        }
    }
    Ok(())
}
