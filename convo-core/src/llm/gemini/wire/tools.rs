//! Function calling on Gemini's wire: declarations, the calling mode, the
//! calls a model makes and the responses sent back.
//!
//! From "Function calling with the Gemini API",
//! <https://ai.google.dev/gemini-api/docs/function-calling>, the
//! `generateContent` reference, <https://ai.google.dev/api/generate-content>,
//! and "Thought signatures",
//! <https://ai.google.dev/gemini-api/docs/thought-signatures> (read
//! 2026-12-01):
//! - `tools[].functionDeclarations[]` take the arguments' schema as
//!   `parametersJsonSchema` (JSON Schema as written, which is what an agent
//!   declares) or as `parameters` (an OpenAPI subset); the two exclude each
//!   other, and Convo sends the first.
//! - `toolConfig.functionCallingConfig.mode` is `AUTO` (the default),
//!   `ANY` (some call is required, limited to `allowedFunctionNames` when
//!   set), `NONE` or `VALIDATED`; Convo leaves `AUTO` implicit.
//! - A call is a `functionCall {id?, name, args}` part; its result goes back
//!   as a `functionResponse {id?, name, response}` part in a `user` content,
//!   the results of one step together.
//! - Gemini 3 signs each step's reasoning on the step's first `functionCall`
//!   part (parallel calls: only the first is signed); that signature must go
//!   back on that part or the API answers 400.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::llm::{ChatMessage, LlmRequest, ToolChoice};

/// One entry of `tools`: Convo's tools, all as function declarations.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// The functions the model may call.
    pub function_declarations: Vec<FunctionDeclaration>,
}

/// A `FunctionDeclaration`.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    /// The tool's name.
    pub name: String,
    /// What it does; absent when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The arguments' JSON Schema, as the agent declared it.
    pub parameters_json_schema: Value,
}

/// `toolConfig`.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// How the model may call functions.
    pub function_calling_config: FunctionCallingConfig,
}

/// `toolConfig.functionCallingConfig`.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    /// `ANY` or `NONE` (`AUTO` is left implicit).
    pub mode: &'static str,
    /// With `ANY`: the only functions the model may call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_function_names: Vec<String>,
}

/// A `functionCall`, read from a reply and sent back in the history.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The call's id, when Gemini gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function's name.
    #[serde(default)]
    pub name: String,
    /// The arguments (a JSON object; absent for a call without any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

/// A `functionResponse`.
#[derive(Debug, Serialize, PartialEq)]
pub struct FunctionResponse {
    /// The id of the call it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function's name.
    pub name: String,
    /// The result: a JSON object.
    pub response: Value,
}

/// The `tools` of a request: one tool holding every declaration, or none.
pub fn tools(request: &LlmRequest) -> Option<Vec<Tool>> {
    if request.tools.is_empty() {
        return None;
    }
    let function_declarations = request
        .tools
        .iter()
        .map(|t| FunctionDeclaration {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters_json_schema: t.parameters.clone(),
        })
        .collect();
    Some(vec![Tool {
        function_declarations,
    }])
}

/// The `toolConfig` of a request: absent without tools and for `Auto`.
pub fn tool_config(request: &LlmRequest) -> Option<ToolConfig> {
    if request.tools.is_empty() {
        return None;
    }
    let (mode, allowed_function_names) = match &request.tool_choice {
        ToolChoice::Auto => return None,
        ToolChoice::None => ("NONE", Vec::new()),
        ToolChoice::Required => ("ANY", Vec::new()),
        ToolChoice::Function(name) => ("ANY", vec![name.clone()]),
    };
    Some(ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode,
            allowed_function_names,
        },
    })
}

/// A tool message as a `functionResponse`. `response` must be an object:
/// an output that is one goes as it is, any other output under `result`,
/// and a failure under `error` (the key the function-calling guide uses
/// for errors).
pub fn function_response(message: &ChatMessage) -> FunctionResponse {
    let output = serde_json::from_str::<Value>(&message.content)
        .unwrap_or_else(|_| Value::String(message.content.clone()));
    let response = match output {
        output if message.is_error => json!({ "error": output }),
        Value::Object(object) => Value::Object(object),
        output => json!({ "result": output }),
    };
    FunctionResponse {
        id: message.tool_call_id.clone(),
        name: message.tool_name.clone().unwrap_or_default(),
        response,
    }
}
