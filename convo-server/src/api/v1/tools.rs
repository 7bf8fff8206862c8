//! Tools and JSON answers on `/v1/chat/completions`, in OpenAI's shapes
//! ("Create chat completion",
//! <https://platform.openai.com/docs/api-reference/chat/create>, and "The
//! chat completion chunk object",
//! <https://platform.openai.com/docs/api-reference/chat-streaming>, read
//! 2026-12-01):
//! - `tools: [{type: "function", function: {name, description?, parameters?, strict?}}]`;
//! - `tool_choice`: `"none"`, `"auto"`, `"required"` or
//!   `{type: "function", function: {name}}`;
//! - `parallel_tool_calls`: `false` for at most one call per answer;
//! - `response_format`: `{type: "text"}` (the default), `{type:
//!   "json_object"}` or `{type: "json_schema", json_schema: {name, schema, strict?}}`;
//! - calls as `tool_calls: [{id, type: "function", function: {name,
//!   arguments}}]`, `arguments` being JSON *text*; streamed as
//!   `delta.tool_calls[{index, id?, type?, function: {name?, arguments}}]`
//!   fragments.
//!
//! A call id carries what the provider needs back with the call (Gemini 3's
//! thought signature, without which Gemini refuses the call when it comes
//! back): `/v1` is stateless, so the caller keeps it, inside the id it
//! echoes in the assistant message and the tool message anyway.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use convo_core::llm::{
    arguments_from_text, arguments_to_text, ResponseFormat, ToolChoice, ToolSpec,
};
use convo_core::{ProviderState, ToolCall};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Why a request's tools cannot be used: the field and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolsError {
    /// A value Convo does not implement (`400 unsupported_parameter`).
    Unsupported(String, String),
    /// A malformed value (`400 invalid_request`).
    Invalid(String, String),
}

/// One entry of `tools`.
#[derive(Debug, Deserialize)]
pub struct RequestTool {
    /// `function` (the only kind Convo declares to models).
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    #[serde(default)]
    pub function: Option<RequestFunction>,
}

/// A tool's function.
#[derive(Debug, Deserialize)]
pub struct RequestFunction {
    /// Its name.
    pub name: String,
    /// What it does, for the model.
    #[serde(default)]
    pub description: Option<String>,
    /// The arguments' JSON Schema; absent means no arguments.
    #[serde(default)]
    pub parameters: Option<Value>,
    /// OpenAI's strict schema adherence: not something Gemini offers, so
    /// only `false` (or absent) is accepted.
    #[serde(default)]
    pub strict: Option<bool>,
}

/// The engine's tools for the request's.
pub fn tools(request: &[RequestTool]) -> Result<Vec<ToolSpec>, ToolsError> {
    request
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let function = match (tool.kind.as_str(), &tool.function) {
                ("function", Some(function)) => function,
                ("function", None) => {
                    return Err(ToolsError::Invalid(
                        format!("tools[{i}].function"),
                        format!("tools[{i}].function is missing"),
                    ))
                }
                (other, _) => {
                    return Err(ToolsError::Unsupported(
                        format!("tools[{i}].type"),
                        format!("Unsupported parameter: tools[{i}].type `{other}` is not supported by this server; only `function` tools are."),
                    ))
                }
            };
            if function.strict == Some(true) {
                return Err(ToolsError::Unsupported(
                    format!("tools[{i}].function.strict"),
                    format!("Unsupported parameter: 'tools[{i}].function.strict' is not supported by this server; leave it out or send false."),
                ));
            }
            Ok(ToolSpec {
                name: function.name.clone(),
                description: function.description.clone().unwrap_or_default(),
                parameters: function
                    .parameters
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            })
        })
        .collect()
}

/// The engine's tool choice for the request's `tool_choice` (absent: `auto`).
pub fn tool_choice(value: Option<&Value>) -> Result<ToolChoice, ToolsError> {
    let unsupported = |v: &Value| {
        ToolsError::Unsupported(
            "tool_choice".into(),
            format!("Unsupported parameter: 'tool_choice' {v} is not supported by this server; send \"none\", \"auto\", \"required\" or {{\"type\": \"function\", \"function\": {{\"name\": …}}}}."),
        )
    };
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(ToolChoice::Auto);
    };
    match value {
        Value::String(mode) => match mode.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            _ => Err(unsupported(value)),
        },
        Value::Object(o) if o.get("type") == Some(&json!("function")) => {
            match value["function"]["name"].as_str() {
                Some(name) => Ok(ToolChoice::Function(name.to_owned())),
                None => Err(ToolsError::Invalid(
                    "tool_choice".into(),
                    "tool_choice.function.name is missing".into(),
                )),
            }
        }
        _ => Err(unsupported(value)),
    }
}

/// The engine's answer format for `response_format` (absent or `text`: none).
pub fn response_format(value: Option<&Value>) -> Result<Option<ResponseFormat>, ToolsError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let invalid = |message: &str| {
        ToolsError::Invalid(
            "response_format".into(),
            format!("response_format: {message}"),
        )
    };
    match value["type"].as_str() {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(ResponseFormat::JsonObject)),
        Some("json_schema") => {
            let spec = &value["json_schema"];
            let name = spec["name"]
                .as_str()
                .ok_or_else(|| invalid("json_schema.name is missing"))?;
            let schema = spec
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| invalid("json_schema.schema must be a JSON Schema object"))?;
            Ok(Some(ResponseFormat::JsonSchema {
                name: name.to_owned(),
                schema: schema.clone(),
                strict: spec["strict"].as_bool(),
            }))
        }
        Some(other) => Err(ToolsError::Unsupported(
            "response_format".into(),
            format!("Unsupported parameter: response_format type `{other}` is not supported by this server; send text, json_object or json_schema."),
        )),
        None => Err(invalid("`type` is missing")),
    }
}

/// A call as the request sends it back in an assistant message.
#[derive(Debug, Deserialize)]
pub struct RequestCall {
    /// The id the answer gave it.
    pub id: String,
    /// `function`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// What was called, with what.
    pub function: CalledFunction,
}

/// The function of a call, both ways.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CalledFunction {
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON text.
    #[serde(default)]
    pub arguments: String,
}

/// The engine's call for one sent back: its id and provider state decoded.
pub fn call_from_request(call: &RequestCall) -> ToolCall {
    let (id, provider_state) = decode_id(&call.id);
    ToolCall {
        id,
        name: call.function.name.clone(),
        arguments: arguments_from_text(&call.function.arguments),
        provider_state,
    }
}

/// A call in an answer's `message.tool_calls`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AnswerCall {
    /// The id the tool message answers (see [`encode_id`]).
    pub id: String,
    /// `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What was called, with what.
    pub function: CalledFunction,
}

/// An engine call as the answer shows it.
pub fn answer_call(call: &ToolCall) -> AnswerCall {
    AnswerCall {
        id: encode_id(call),
        kind: "function",
        function: CalledFunction {
            name: call.name.clone(),
            arguments: arguments_to_text(&call.arguments),
        },
    }
}

/// One fragment of a streamed call (`delta.tool_calls[…]`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CallFragment {
    /// Which call of the answer it belongs to.
    pub index: usize,
    /// The call's id, on its first fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function`, on its first fragment.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The name (first fragment) and a piece of the arguments.
    pub function: FragmentFunction,
}

/// The function part of a [`CallFragment`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FragmentFunction {
    /// The tool's name, on the call's first fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the arguments' text, to append to the earlier ones.
    pub arguments: String,
}

/// A whole call as OpenAI streams one: a first fragment with the id, the
/// type, the name and no arguments, then one with the arguments.
pub fn fragments(index: usize, call: &ToolCall) -> [CallFragment; 2] {
    let whole = answer_call(call);
    [
        CallFragment {
            index,
            id: Some(whole.id),
            kind: Some("function"),
            function: FragmentFunction {
                name: Some(whole.function.name),
                arguments: String::new(),
            },
        },
        CallFragment {
            index,
            id: None,
            kind: None,
            function: FragmentFunction {
                name: None,
                arguments: whole.function.arguments,
            },
        },
    ]
}

/// What separates a call's own id from the provider state it carries.
const STATE_MARK: &str = ".cs1.";

/// The id shown for a call: its own, followed, when the provider needs
/// something back with it, by [`STATE_MARK`] and that state (JSON, base64url).
pub fn encode_id(call: &ToolCall) -> String {
    match call
        .provider_state
        .as_ref()
        .and_then(|s| serde_json::to_vec(s).ok())
    {
        Some(state) => format!("{}{STATE_MARK}{}", call.id, URL_SAFE_NO_PAD.encode(state)),
        None => call.id.clone(),
    }
}

/// A call's own id and the provider state its shown id carries. An id
/// Convo did not make (or that was altered) is taken whole, with no state:
/// the provider then decides whether the call is acceptable without it.
pub fn decode_id(shown: &str) -> (String, Option<ProviderState>) {
    shown
        .split_once(STATE_MARK)
        .and_then(|(id, state)| {
            let bytes = URL_SAFE_NO_PAD.decode(state).ok()?;
            let state: ProviderState = serde_json::from_slice(&bytes).ok()?;
            Some((id.to_owned(), Some(state)))
        })
        .unwrap_or_else(|| (shown.to_owned(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).expect("parses")
    }

    #[test]
    fn function_tools_map_and_other_kinds_and_strict_mode_are_refused_by_name() {
        let ok: Vec<RequestTool> = parsed(json!([
            {"type": "function", "function": {"name": "weather", "description": "W.", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "now", "strict": false}},
        ]));
        let specs = tools(&ok).expect("maps");
        assert_eq!(specs[0].description, "W.");
        assert_eq!(
            specs[1].parameters,
            json!({"type": "object", "properties": {}})
        );

        let cases = [
            (
                json!([{"type": "custom", "custom": {"name": "x"}}]),
                "tools[0].type",
            ),
            (
                json!([{"type": "function", "function": {"name": "x", "strict": true}}]),
                "tools[0].function.strict",
            ),
            (json!([{"type": "function"}]), "tools[0].function"),
        ];
        for (body, param) in cases {
            let err = tools(&parsed::<Vec<RequestTool>>(body.clone())).expect_err("refused");
            let (ToolsError::Unsupported(p, m) | ToolsError::Invalid(p, m)) = err;
            assert_eq!(p, param, "{body}");
            assert!(m.contains(param), "{body}: {m}");
        }
    }

    #[test]
    fn tool_choices_and_response_formats_map_to_the_engines() {
        let choices = [
            (json!(null), ToolChoice::Auto),
            (json!("none"), ToolChoice::None),
            (json!("required"), ToolChoice::Required),
            (
                json!({"type": "function", "function": {"name": "f"}}),
                ToolChoice::Function("f".into()),
            ),
        ];
        for (value, expected) in choices {
            assert_eq!(tool_choice(Some(&value)), Ok(expected), "{value}");
        }
        for refused in [
            json!("any"),
            json!({"type": "allowed_tools", "allowed_tools": {}}),
        ] {
            assert!(
                matches!(
                    tool_choice(Some(&refused)),
                    Err(ToolsError::Unsupported(..))
                ),
                "{refused}"
            );
        }
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
        assert_eq!(response_format(Some(&json!({"type": "text"}))), Ok(None));
        assert_eq!(
            response_format(Some(&json!({"type": "json_object"}))),
            Ok(Some(ResponseFormat::JsonObject))
        );
        assert_eq!(
            response_format(Some(
                &json!({"type": "json_schema", "json_schema": {"name": "n", "schema": schema, "strict": true}})
            )),
            Ok(Some(ResponseFormat::JsonSchema {
                name: "n".into(),
                schema,
                strict: Some(true)
            }))
        );
        assert!(matches!(
            response_format(Some(
                &json!({"type": "json_schema", "json_schema": {"name": "n"}})
            )),
            Err(ToolsError::Invalid(..))
        ));
        assert!(matches!(
            response_format(Some(&json!({"type": "grammar"}))),
            Err(ToolsError::Unsupported(..))
        ));
    }

    #[test]
    fn a_calls_provider_state_survives_the_round_trip_through_its_id() {
        let signed = ToolCall {
            id: "call_1".into(),
            name: "weather".into(),
            arguments: json!({"city": "Paris"}),
            provider_state: Some(ProviderState {
                provider: "gemini".into(),
                model: "gemini-3.8-flash".into(),
                thought_signature: Some("c2lnbmF0dXJl+/==".into()),
            }),
        };
        let plain = ToolCall {
            provider_state: None,
            ..signed.clone()
        };

        let shown = answer_call(&signed);
        let back = call_from_request(&parsed(
            json!({"id": shown.id, "type": "function", "function": shown.function}),
        ));

        assert_eq!(back, signed);
        assert_eq!(
            encode_id(&plain),
            "call_1",
            "nothing to carry: the id as it is"
        );
        assert_eq!(
            decode_id("call_9.cs1.!!"),
            ("call_9.cs1.!!".to_owned(), None),
            "not ours: whole"
        );
        let [first, rest] = fragments(2, &signed);
        assert_eq!((first.index, first.function.arguments.as_str()), (2, ""));
        assert_eq!(rest.function.arguments, r#"{"city":"Paris"}"#);
    }
}
