//! `tools` and `toolConfig`: known fields, valid function names, known
//! function calling modes.

use serde_json::Value;

use super::{field, unknown};

/// The fields of a `Tool`.
const TOOL: &[&str] = &[
    "functionDeclarations",
    "googleSearchRetrieval",
    "codeExecution",
    "googleSearch",
    "computerUse",
    "urlContext",
    "fileSearch",
    "googleMaps",
    "mcpServers",
];

/// The fields of a `FunctionDeclaration`.
const DECLARATION: &[&str] = &[
    "name",
    "description",
    "parameters",
    "parametersJsonSchema",
    "response",
    "responseJsonSchema",
    "behavior",
];

/// The fields of a `ToolConfig`.
const TOOL_CONFIG: &[&str] = &[
    "functionCallingConfig",
    "retrievalConfig",
    "includeServerSideToolInvocations",
];

/// The fields of a `FunctionCallingConfig`.
const CALLING_CONFIG: &[&str] = &["mode", "allowedFunctionNames"];

/// `FunctionCallingConfig.Mode`.
const CALLING_MODES: &[&str] = &["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"];

/// A function name as the API takes it: `[A-Za-z_][A-Za-z0-9_.:-]{0,63}`.
pub(super) fn valid_function_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
}

/// Checks `tools`.
pub(super) fn tools(tools: &Value) -> Result<(), String> {
    let Some(tools) = tools.as_array() else {
        return Err(format!("Invalid value at 'tools' (type.googleapis.com/google.ai.generativelanguage.v1beta.Tool), {tools}"));
    };
    for (i, tool) in tools.iter().enumerate() {
        let Some(object) = tool.as_object() else {
            return Err(format!("Invalid value at 'tools[{i}]' (type.googleapis.com/google.ai.generativelanguage.v1beta.Tool), {tool}"));
        };
        unknown(object, TOOL, &format!("tools[{i}]"))?;
        let declarations = field(tool, "functionDeclarations").and_then(Value::as_array);
        for (j, declaration) in declarations.into_iter().flatten().enumerate() {
            let at = format!("tools[{i}].function_declarations[{j}]");
            let Some(object) = declaration.as_object() else {
                return Err(format!("Invalid value at '{at}' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionDeclaration), {declaration}"));
            };
            unknown(object, DECLARATION, &at)?;
            if !declaration["name"]
                .as_str()
                .is_some_and(valid_function_name)
            {
                return Err(format!("* GenerateContentRequest.{at}.name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.\n"));
            }
        }
    }
    Ok(())
}

/// Checks `toolConfig`.
pub(super) fn tool_config(config: &Value) -> Result<(), String> {
    let Some(object) = config.as_object() else {
        return Err(format!("Invalid value at 'tool_config' (type.googleapis.com/google.ai.generativelanguage.v1beta.ToolConfig), {config}"));
    };
    unknown(object, TOOL_CONFIG, "tool_config")?;
    let Some(calling) = field(config, "functionCallingConfig") else {
        return Ok(());
    };
    let Some(object) = calling.as_object() else {
        return Err(format!(
            "Invalid value at 'tool_config.function_calling_config', {calling}"
        ));
    };
    unknown(
        object,
        CALLING_CONFIG,
        "tool_config.function_calling_config",
    )?;
    match calling.get("mode") {
        None => Ok(()),
        Some(Value::String(mode)) if CALLING_MODES.contains(&mode.as_str()) => Ok(()),
        Some(other) => Err(format!("Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), {other}")),
    }
}
