//! A chat completion request as it arrives: the bearer key, the JSON body
//! and the checks the real API makes first (messages, model, roles).

use serde_json::{json, Value};

use super::errors::error;
use crate::http::Reply;
use crate::log::Record;
use crate::server::{App, Inbound};

/// The roles a message may have.
const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// A request that passed the checks.
pub(super) struct Chat {
    /// The whole body.
    pub(super) body: Value,
    /// The model asked for (any id is answered).
    pub(super) model: String,
    /// `stream: true`.
    pub(super) stream: bool,
}

impl Chat {
    /// The messages (checked: at least one, each with a known role).
    pub(super) fn messages(&self) -> &[Value] {
        self.body["messages"].as_array().map_or(&[], Vec::as_slice)
    }

    /// The text of the newest user message (it may hold a directive).
    pub(super) fn last_user_text(&self) -> String {
        self.messages()
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .map(content_text)
            .unwrap_or_default()
    }
}

/// The text of a message's `content` (a string or a list of text parts).
pub(super) fn content_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

/// Checks the key and the body, recording what came; `Err` is the
/// refusal (boxed: a reply is large, a refusal rare).
pub(super) fn admit(app: &App, req: &Inbound, record: &Record) -> Result<Chat, Box<Reply>> {
    let key = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    record.set("key", key.map_or(Value::Null, |k| json!(k)));
    record.set("key_source", json!(key.map(|_| "header")));
    let Some(key) = key else {
        record.set("outcome", json!("no_key"));
        return Err(Box::new(error(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "invalid_request_error", None)));
    };
    if app.api_key.as_deref().is_some_and(|k| k != key) {
        record.set("outcome", json!("bad_key"));
        return Err(Box::new(error(
            401,
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        )));
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => {
            record.set("outcome", json!("bad_json"));
            return Err(Box::new(error(
                400,
                &format!("We could not parse the JSON body of your request. ({e})"),
                "invalid_request_error",
                None,
            )));
        }
    };
    record.set("body", body.clone());
    let model = body["model"].as_str().unwrap_or("").to_owned();
    record.set("model", json!(model));
    let stream = body["stream"] == true;
    record.set("stream", json!(stream));
    let Some(messages) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        record.set("outcome", json!("invalid"));
        return Err(Box::new(error(
            400,
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            Some("missing_required_parameter"),
        )));
    };
    if model.is_empty() {
        record.set("outcome", json!("invalid"));
        return Err(Box::new(error(
            400,
            "Missing required parameter: 'model'.",
            "invalid_request_error",
            Some("missing_required_parameter"),
        )));
    }
    let bad_role = messages
        .iter()
        .position(|m| !m["role"].as_str().is_some_and(|r| ROLES.contains(&r)));
    if let Some(i) = bad_role {
        record.set("outcome", json!("invalid"));
        let message = format!("Invalid value: '{}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", messages[i]["role"].as_str().unwrap_or(""));
        return Err(Box::new(error(
            400,
            &message,
            "invalid_request_error",
            Some("invalid_value"),
        )));
    }
    record.set("messages", json!(messages));
    Ok(Chat {
        body,
        model,
        stream,
    })
}
