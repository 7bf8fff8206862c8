//! What a request says about tools and the answer's shape: the tools the
//! model may call ([`ToolSpec`]), whether it must ([`ToolChoice`]), and a
//! JSON answer ([`ResponseFormat`]). Plus what both wire formats need to
//! read a call: an id when the provider gives none, and arguments that
//! may not be JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(any(feature = "gemini", feature = "openai"))]
use crate::domain::FinishReason;

/// A tool the model may call, as providers declare it. The engine maps an
/// agent's tool definitions onto these; who runs the tool is not the
/// model's business, so it is not here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The tool's name (unique in the request).
    pub name: String,
    /// What it does, for the model; empty means none.
    #[serde(default)]
    pub description: String,
    /// A JSON Schema object (`"type": "object"`) of the arguments.
    pub parameters: Value,
}

/// Whether, and which, tools the model must call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides (the providers' default).
    #[default]
    Auto,
    /// No calls: the model answers in text even though tools are declared
    /// (e.g. the last round allowed).
    None,
    /// At least one call.
    Required,
    /// A call of this tool.
    Function(String),
}

/// A JSON answer instead of free text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ResponseFormat {
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema's name (OpenAI requires one).
        name: String,
        /// The JSON Schema.
        schema: Value,
        /// OpenAI's strict mode; `None` leaves it to the provider.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
}

/// A call id made by Convo, for providers that give none: `call_` and a
/// UUID v7 (time-ordered, so ids of one turn sort as they were made).
pub fn new_call_id() -> String {
    format!("call_{}", uuid::Uuid::now_v7().simple())
}

/// A call's arguments from the text the model wrote: the JSON object it
/// means; nothing (some servers send `""` for a call without arguments) is
/// an empty object; anything else is kept as the raw text, so the engine
/// can tell the model what was wrong with it.
pub fn arguments_from_text(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return Value::Object(serde_json::Map::new());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(value @ Value::Object(_)) => value,
        _ => Value::String(raw.to_owned()),
    }
}

/// The text of a call's arguments, for a wire format that sends them as
/// text: raw text kept by [`arguments_from_text`] goes back as the model
/// wrote it; any other value as JSON.
pub fn arguments_to_text(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// Why a reply with calls stopped. Gemini says `STOP` when the model
/// stopped to call functions, as do some OpenAI-compatible servers (Ollama);
/// Convo says [`FinishReason::ToolCalls`].
#[cfg(any(feature = "gemini", feature = "openai"))]
pub(crate) fn finish_with_calls(finish: FinishReason, calls_seen: bool) -> FinishReason {
    if calls_seen && finish == FinishReason::Stop {
        FinishReason::ToolCalls
    } else {
        finish
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_are_an_object_or_the_raw_text_and_round_trip() {
        let cases = [
            (r#"{"city":"Paris"}"#, json!({"city": "Paris"})),
            ("", json!({})),
            ("  ", json!({})),
            (r#"{"city": Par"#, json!(r#"{"city": Par"#)),
            ("[1,2]", json!("[1,2]")),
            ("\"Paris\"", json!("\"Paris\"")),
        ];
        for (raw, expected) in cases {
            let parsed = arguments_from_text(raw);
            assert_eq!(parsed, expected, "{raw:?}");
            if !raw.trim().is_empty() {
                assert_eq!(
                    arguments_from_text(&arguments_to_text(&parsed)),
                    parsed,
                    "{raw:?} survives a round trip"
                );
            }
        }
    }

    #[test]
    fn made_ids_are_unique_and_prefixed() {
        let (a, b) = (new_call_id(), new_call_id());
        assert!(a.starts_with("call_") && a.len() == 37, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn choices_and_formats_serialise_readably() {
        assert_eq!(
            serde_json::to_value(ToolChoice::Function("f".into())).expect("json"),
            json!({"function": "f"})
        );
        assert_eq!(
            serde_json::to_value(ToolChoice::Required).expect("json"),
            json!("required")
        );
        assert_eq!(
            serde_json::to_value(ResponseFormat::JsonObject).expect("json"),
            json!({"type": "json_object"})
        );
    }
}
