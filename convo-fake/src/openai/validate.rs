//! The tool checks Chat Completions makes before answering: well-formed
//! `tools`, a `tool_choice` only with tools and naming one of them, and a
//! history where every `tool` message answers a call of the assistant
//! message before it and every call is answered.
//!
//! Messages as the real API words them where known ("Function calling",
//! <https://platform.openai.com/docs/guides/function-calling>, and the
//! 400s it answers, read 2026-12-01); the rest are the fake's own wording.

use serde_json::Value;

/// A refused request: the 400's message and the `param` it names.
pub(super) type Refusal = (String, &'static str);

/// A function name as the API takes it: `^[a-zA-Z0-9_-]{1,64}$`.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// The names of the declared functions, or why `tools` is refused.
fn declared(body: &Value) -> Result<Vec<&str>, Refusal> {
    let Some(tools) = body.get("tools").filter(|t| !t.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(tools) = tools.as_array() else {
        return Err((
            "Invalid type for 'tools': expected an array.".into(),
            "tools",
        ));
    };
    let mut names = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        if tool["type"] != "function" {
            return Err((
                format!("Invalid value for 'tools[{i}].type': expected 'function'."),
                "tools",
            ));
        }
        let name = tool["function"]["name"].as_str().unwrap_or("");
        if !valid_name(name) {
            return Err((format!("Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."), "tools"));
        }
        names.push(name);
    }
    Ok(names)
}

/// Checks `tools` and `tool_choice`.
pub(super) fn tools(body: &Value) -> Result<(), Refusal> {
    let names = declared(body)?;
    let choice = &body["tool_choice"];
    if choice.is_null() {
        return Ok(());
    }
    if names.is_empty() {
        return Err((
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.".into(),
            "tool_choice",
        ));
    }
    match choice {
        Value::String(mode) if matches!(mode.as_str(), "auto" | "none" | "required") => Ok(()),
        Value::Object(_) if choice["type"] == "function" => {
            let name = choice["function"]["name"].as_str().unwrap_or("");
            if names.contains(&name) {
                Ok(())
            } else {
                Err((
                    format!("Invalid value for 'tool_choice': function '{name}' is not one of the declared tools."),
                    "tool_choice",
                ))
            }
        }
        other => Err((
            format!("Invalid value for 'tool_choice': {other}."),
            "tool_choice",
        )),
    }
}

/// The ids of an assistant message's calls.
fn call_ids(message: &Value) -> Vec<&str> {
    message["tool_calls"]
        .as_array()
        .map(|calls| calls.iter().filter_map(|c| c["id"].as_str()).collect())
        .unwrap_or_default()
}

/// Checks that calls and results pair up: the `tool` messages after an
/// assistant message with `tool_calls` answer exactly its calls.
pub(super) fn history(messages: &[Value]) -> Result<(), Refusal> {
    let mut open: Vec<&str> = Vec::new();
    let mut after_calls = false;
    for message in messages {
        if message["role"] == "tool" {
            let Some(id) = message["tool_call_id"].as_str() else {
                return Err((
                    "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.".into(),
                    "messages",
                ));
            };
            if !after_calls {
                return Err((
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.".into(),
                    "messages",
                ));
            }
            let Some(at) = open.iter().position(|o| *o == id) else {
                return Err((
                    format!("Invalid parameter: 'tool_call_id' of '{id}' not found in 'tool_calls' of previous message."),
                    "messages",
                ));
            };
            open.remove(at);
            continue;
        }
        unanswered(&open)?;
        open = if message["role"] == "assistant" {
            call_ids(message)
        } else {
            Vec::new()
        };
        after_calls = !open.is_empty();
    }
    unanswered(&open)
}

fn unanswered(open: &[&str]) -> Result<(), Refusal> {
    if open.is_empty() {
        return Ok(());
    }
    Err((
        format!("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}", open.join(", ")),
        "messages",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn calls(ids: &[&str]) -> Value {
        let calls: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}}))
            .collect();
        json!({"role": "assistant", "content": null, "tool_calls": calls})
    }

    fn result(id: &str) -> Value {
        json!({"role": "tool", "tool_call_id": id, "content": "ok"})
    }

    #[test]
    fn tool_messages_must_answer_the_calls_just_before_them_all_of_them() {
        let user = json!({"role": "user", "content": "hi"});
        let cases = [
            (
                "answered",
                vec![user.clone(), calls(&["a", "b"]), result("b"), result("a")],
                None,
            ),
            (
                "a result with no call",
                vec![user.clone(), result("a")],
                Some("preceeding message with 'tool_calls'"),
            ),
            (
                "an unknown id",
                vec![user.clone(), calls(&["a"]), result("z")],
                Some("'z' not found"),
            ),
            (
                "a call left unanswered",
                vec![user.clone(), calls(&["a", "b"]), result("a"), user.clone()],
                Some("did not have response messages: b"),
            ),
            (
                "unanswered at the end",
                vec![user.clone(), calls(&["a"])],
                Some("did not have response messages: a"),
            ),
            (
                "answered twice",
                vec![user.clone(), calls(&["a"]), result("a"), result("a")],
                Some("'a' not found"),
            ),
            (
                "no id",
                vec![
                    user.clone(),
                    calls(&["a"]),
                    json!({"role": "tool", "content": "x"}),
                ],
                Some("must have a 'tool_call_id'"),
            ),
        ];
        for (case, messages, error) in cases {
            let result = history(&messages);
            match error {
                None => assert!(result.is_ok(), "{case}: {result:?}"),
                Some(text) => assert!(
                    result.as_ref().is_err_and(|(e, _)| e.contains(text)),
                    "{case}: {result:?}"
                ),
            }
        }
    }

    #[test]
    fn tools_and_the_choice_are_checked() {
        let tool = |name: &str| json!({"type": "function", "function": {"name": name, "parameters": {"type": "object"}}});
        let cases = [
            (
                json!({"tools": [tool("get_weather")], "tool_choice": "required"}),
                true,
            ),
            (
                json!({"tools": [tool("get_weather")], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
                true,
            ),
            (
                json!({"tools": [tool("get_weather")], "tool_choice": {"type": "function", "function": {"name": "other"}}}),
                false,
            ),
            (json!({"tool_choice": "auto"}), false),
            (json!({"tools": [tool("has space")]}), false),
            (json!({"tools": [{"type": "retrieval"}]}), false),
            (
                json!({"tools": [tool("get_weather")], "tool_choice": "sometimes"}),
                false,
            ),
        ];
        for (body, valid) in cases {
            assert_eq!(tools(&body).is_ok(), valid, "{body}");
        }
    }
}
