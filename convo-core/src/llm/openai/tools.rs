//! Tool calling and JSON answers on the Chat Completions wire.
//!
//! From "Create chat completion",
//! <https://platform.openai.com/docs/api-reference/chat/create>, and "The
//! chat completion chunk object",
//! <https://platform.openai.com/docs/api-reference/chat-streaming> (read
//! 2026-12-01):
//! - `tools: [{type: "function", function: {name, description, parameters}}]`;
//!   `tool_choice`: `"auto"`, `"none"`, `"required"` or
//!   `{type: "function", function: {name}}`, and only with `tools`;
//! - `response_format`: `{type: "json_object"}` or
//!   `{type: "json_schema", json_schema: {name, schema, strict}}`;
//! - an assistant message's `tool_calls: [{id, type: "function", function:
//!   {name, arguments}}]`, `arguments` being JSON *text*; a result is a
//!   `{role: "tool", tool_call_id, content}` message;
//! - a stream sends each call as `delta.tool_calls[{index, id, type,
//!   function: {name, arguments}}]` fragments: `id` and `name` in the first
//!   of an `index`, `arguments` in pieces to concatenate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::domain::ToolCall;
use crate::llm::{
    arguments_from_text, arguments_to_text, new_call_id, LlmRequest, ResponseFormat, ToolChoice,
};

/// One entry of `tools`.
#[derive(Debug, Serialize, PartialEq)]
pub struct WireTool<'a> {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The function.
    pub function: WireFunction<'a>,
}

/// A tool's function.
#[derive(Debug, Serialize, PartialEq)]
pub struct WireFunction<'a> {
    /// The tool's name.
    pub name: &'a str,
    /// What it does; absent when empty.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub description: &'a str,
    /// The arguments' JSON Schema.
    pub parameters: &'a Value,
}

/// A call in an assistant message sent back.
#[derive(Debug, Serialize, PartialEq)]
pub struct WireToolCall {
    /// The call's id, which the tool message answers.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What was called, with what.
    pub function: WireCalled,
}

/// The function of a call sent back.
#[derive(Debug, Serialize, PartialEq)]
pub struct WireCalled {
    /// The function's name.
    pub name: String,
    /// The arguments as JSON text.
    pub arguments: String,
}

/// The `tools` of a request; absent without tools.
pub fn tools(request: &LlmRequest) -> Option<Vec<WireTool<'_>>> {
    (!request.tools.is_empty()).then(|| {
        request
            .tools
            .iter()
            .map(|t| WireTool {
                kind: "function",
                function: WireFunction {
                    name: &t.name,
                    description: &t.description,
                    parameters: &t.parameters,
                },
            })
            .collect()
    })
}

/// The `tool_choice` of a request: only with tools (the API refuses it
/// alone), and always then, so that the request says what it means.
pub fn tool_choice(request: &LlmRequest) -> Option<Value> {
    if request.tools.is_empty() {
        return None;
    }
    Some(match &request.tool_choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Function(name) => json!({"type": "function", "function": {"name": name}}),
    })
}

/// The `response_format` of a request.
pub fn response_format(request: &LlmRequest) -> Option<Value> {
    request.response_format.as_ref().map(|format| match format {
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let mut spec = json!({"name": name, "schema": schema});
            if let Some(strict) = strict {
                spec["strict"] = json!(strict);
            }
            json!({"type": "json_schema", "json_schema": spec})
        }
    })
}

/// Calls as an assistant message carries them back.
pub fn calls_sent_back(calls: &[ToolCall]) -> Option<Vec<WireToolCall>> {
    (!calls.is_empty()).then(|| {
        calls
            .iter()
            .map(|c| WireToolCall {
                id: c.id.clone(),
                kind: "function",
                function: WireCalled {
                    name: c.name.clone(),
                    arguments: arguments_to_text(&c.arguments),
                },
            })
            .collect()
    })
}

/// A call in a reply, or a fragment of one in a stream.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
pub struct CallFragment {
    /// Which call of the message (streams); absent from some servers.
    #[serde(default)]
    pub index: Option<u32>,
    /// The call's id (in a stream, on its first fragment).
    #[serde(default)]
    pub id: Option<String>,
    /// The function (name and arguments, or pieces of them).
    #[serde(default)]
    pub function: Option<FunctionFragment>,
}

/// A call's function, or a fragment of it.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
pub struct FunctionFragment {
    /// The name (in a stream, on the first fragment).
    #[serde(default)]
    pub name: Option<String>,
    /// The arguments' JSON text, or a piece of it.
    #[serde(default)]
    pub arguments: Option<String>,
}

/// Puts calls together from their fragments, in the order of their
/// `index`. A reply's calls are each one whole fragment.
#[derive(Debug, Default)]
pub struct CallAssembler {
    calls: BTreeMap<u32, Partial>,
    /// The slot of the last fragment, for servers that leave `index` out.
    last: Option<u32>,
}

#[derive(Debug, Default)]
struct Partial {
    id: String,
    name: String,
    arguments: String,
}

impl CallAssembler {
    /// Adds the fragments of one message or delta.
    pub fn push(&mut self, fragments: Vec<CallFragment>) {
        for (position, fragment) in fragments.into_iter().enumerate() {
            let slot = self.slot(&fragment, position as u32);
            self.last = Some(slot);
            let call = self.calls.entry(slot).or_default();
            if let Some(id) = fragment.id.filter(|id| !id.is_empty()) {
                call.id = id;
            }
            if let Some(function) = fragment.function {
                if let Some(name) = function.name.filter(|n| !n.is_empty()) {
                    call.name = name;
                }
                call.arguments
                    .push_str(function.arguments.as_deref().unwrap_or(""));
            }
        }
    }

    /// Where a fragment goes: its `index`; without one, a new call when it
    /// brings a new id, else the call of the fragment before.
    fn slot(&self, fragment: &CallFragment, position: u32) -> u32 {
        if let Some(index) = fragment.index {
            return index;
        }
        let next = self.calls.keys().next_back().map_or(position, |k| k + 1);
        match (self.last, fragment.id.as_deref()) {
            (Some(last), Some(id)) if !id.is_empty() && self.calls[&last].id != id => next,
            (Some(last), _) => last,
            (None, _) => position,
        }
    }

    /// Whether any call was seen.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The whole calls, in order; a call without an id gets one.
    pub fn finish(self) -> Vec<ToolCall> {
        self.calls
            .into_values()
            .map(|c| ToolCall {
                id: if c.id.is_empty() { new_call_id() } else { c.id },
                name: c.name,
                arguments: arguments_from_text(&c.arguments),
                provider_state: None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment(
        index: Option<u32>,
        id: Option<&str>,
        name: Option<&str>,
        args: &str,
    ) -> CallFragment {
        CallFragment {
            index,
            id: id.map(str::to_owned),
            function: Some(FunctionFragment {
                name: name.map(str::to_owned),
                arguments: Some(args.to_owned()),
            }),
        }
    }

    #[test]
    fn fragments_assemble_by_index_whatever_their_order() {
        let mut calls = CallAssembler::default();
        calls.push(vec![fragment(Some(0), Some("a"), Some("weather"), "")]);
        calls.push(vec![fragment(Some(0), None, None, "{\"city\":")]);
        calls.push(vec![fragment(Some(1), Some("b"), Some("time"), "{}")]);
        calls.push(vec![fragment(Some(0), None, None, "\"Paris\"}")]);

        let calls = calls.finish();

        assert_eq!(calls.len(), 2);
        assert_eq!(
            (
                calls[0].id.as_str(),
                calls[0].name.as_str(),
                &calls[0].arguments
            ),
            ("a", "weather", &json!({"city": "Paris"}))
        );
        assert_eq!(
            (
                calls[1].id.as_str(),
                calls[1].name.as_str(),
                &calls[1].arguments
            ),
            ("b", "time", &json!({}))
        );
    }

    #[test]
    fn without_an_index_a_new_id_starts_a_new_call_and_a_missing_id_is_made() {
        let mut calls = CallAssembler::default();
        calls.push(vec![fragment(None, Some("a"), Some("weather"), "{\"ci")]);
        calls.push(vec![fragment(None, None, None, "ty\":1}")]);
        calls.push(vec![fragment(None, Some("b"), Some("time"), "{}")]);
        calls.push(vec![fragment(Some(7), None, Some("anon"), "")]);

        let calls = calls.finish();

        let names: Vec<_> = calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["weather", "time", "anon"]);
        assert_eq!(calls[0].arguments, json!({"city": 1}));
        assert!(calls[2].id.starts_with("call_"), "{}", calls[2].id);
    }

    #[test]
    fn parallel_tool_calls_is_sent_only_with_tools_and_only_when_set() {
        use crate::llm::openai::wire::build_request;
        use crate::llm::openai::TokenLimitField;
        use crate::llm::ToolSpec;
        let tool = ToolSpec {
            name: "weather".into(),
            description: String::new(),
            parameters: json!({"type": "object"}),
        };
        let cases = [
            (vec![tool.clone()], Some(false), Some(json!(false))),
            (vec![tool.clone()], Some(true), Some(json!(true))),
            (vec![tool], None, None),
            (Vec::new(), Some(false), None),
        ];
        for (tools, parallel, sent) in cases {
            let request = LlmRequest {
                model: "m".into(),
                tools,
                parallel_tool_calls: parallel,
                ..LlmRequest::default()
            };
            let body =
                serde_json::to_value(build_request(&request, false, TokenLimitField::MaxTokens))
                    .expect("json");
            assert_eq!(
                body.get("parallel_tool_calls").cloned(),
                sent,
                "{parallel:?}"
            );
        }
    }
}
